package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rabbitscale/rabbitscale/queue"
)

// The controller's broker set follows the file's reloads (queue.File,
// tested in package queue): each Current gives the brokers in use.
func TestBrokerSetFollowsReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brokers.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n")
	f, err := queue.OpenFileWatched(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	set := brokerSet{f}
	before, _ := set.Current()
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n- {name: b, prometheusURLs: [\"http://127.0.0.1:2\"], allow: {namespaces: [shop]}}\n")
	if _, err := f.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, allowed := set.Current()
	if got := slices.Sorted(maps.Keys(after)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("brokers after the reload: %v, want [a b]", got)
	}
	if after["a"] != before["a"] {
		t.Error("broker a is configured as before, but its reader was replaced")
	}
	if err := allowed("b", queue.Namespace{Name: "mail"}, "/"); err == nil {
		t.Error("broker b's allow list does not apply after the reload")
	}
}
