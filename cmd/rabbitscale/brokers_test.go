package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBrokerFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brokers.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names := func(f *brokerFile) []string {
		rs, _ := f.Current()
		return slices.Sorted(maps.Keys(rs))
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n")
	f, err := openBrokerFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	ctx := context.Background()
	before, _ := f.Current()

	if changed, err := f.reload(ctx); changed || err != nil {
		t.Errorf("reload of an unchanged file: %v, %v; want nothing to do", changed, err)
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n- {name: b, prometheusURLs: [\"http://127.0.0.1:2\"], allow: {namespaces: [shop]}}\n")
	if changed, err := f.reload(ctx); !changed || err != nil {
		t.Fatalf("reload after adding broker b: %v, %v", changed, err)
	}
	after, allowed := f.Current()
	if got := names(f); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("brokers after the reload: %v, want [a b]", got)
	}
	if after["a"] != before["a"] {
		t.Error("broker a is configured as before, but its reader was replaced")
	}
	if err := allowed("b", "mail", "/"); err == nil {
		t.Error("broker b's allow list does not apply after the reload")
	}

	write("brokers:\n- {name: a, prometheusURLs: []}\n")
	_, err = f.reload(ctx)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "prometheusURLs") {
		t.Errorf("reload of an invalid file: %v, want an error naming the file and the field", err)
	}
	if got := names(f); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("brokers after a failed reload: %v, want the previous [a b] kept", got)
	}
}
