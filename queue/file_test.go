package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func TestFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brokers.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n")
	f, err := OpenFileWatched(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ctx := context.Background()
	before := f.Brokers()

	if changed, err := f.Reload(ctx); changed || err != nil {
		t.Errorf("reload of an unchanged file: %v, %v; want nothing to do", changed, err)
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n- {name: b, prometheusURLs: [\"http://127.0.0.1:2\"], allow: {namespaces: [shop]}}\n")
	if changed, err := f.Reload(ctx); !changed || err != nil {
		t.Fatalf("reload after adding broker b: %v, %v", changed, err)
	}
	after := f.Brokers()
	if got := after.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("brokers after the reload: %v, want [a b]", got)
	}
	ra, _ := after.Reader("a")
	if rb, _ := before.Reader("a"); ra != rb {
		t.Error("broker a is configured as before, but its reader was replaced")
	}
	if err := after.Allowed("b", Namespace{Name: "mail"}, "/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("broker b's allow list does not apply after the reload: %v", err)
	}

	for _, bad := range []struct{ content, field string }{
		{"brokers:\n- {name: a, prometheusURLs: []}\n", "brokers[0].source"},
		{"brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"], allow: {namespaceSelector: {matchLabels: {\"te am\": x}}}}\n", `brokers[0].allow.namespaceSelector.matchLabels["te am"]`},
	} {
		write(bad.content)
		_, err = f.Reload(ctx)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("reload of an invalid file: %v, want ErrInvalidConfig naming the file and %s", err, bad.field)
		}
		if got := f.Brokers(); got != after {
			t.Errorf("brokers after a failed reload: %v, want the previous [a b] kept", got.Names())
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(ctx); err == nil || f.Brokers() != after {
		t.Errorf("reload of a missing file: %v; want an error and the brokers kept", err)
	}
}

// Watch reloads on its clock's ticks, and a bad file in between changes
// nothing.
func TestFileWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brokers.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n")
	clk := testingclock.NewFakeClock(time.Unix(1_700_000_000, 0))
	f, err := OpenFileWatched(path, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Watch(ctx, time.Second) }()
	defer func() { cancel(); <-done }()

	waitFor := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Equal(f.Brokers().Names(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("brokers %v, want %v", f.Brokers().Names(), want)
			}
			for !clk.HasWaiters() {
				time.Sleep(time.Millisecond)
			}
			clk.Step(time.Second)
			time.Sleep(5 * time.Millisecond)
		}
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"]}\n- {name: c, prometheusURLs: [\"http://127.0.0.1:3\"]}\n")
	waitFor([]string{"a", "c"})
	write("brokers: []\n")
	for range 3 {
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clk.Step(time.Second)
	}
	waitFor([]string{"a", "c"})
	write("brokers:\n- {name: d, prometheusURLs: [\"http://127.0.0.1:1\"]}\n")
	waitFor([]string{"d"})
}
