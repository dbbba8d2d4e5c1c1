package queue

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broker := func(name, url, passwordFile string) string {
		return "- name: " + name + "\n  managementURL: " + url + "\n  credentials: {username: u, passwordFile: " + passwordFile + "}\n"
	}
	tests := []struct {
		name      string
		file      string // written to dir/brokers.yaml unless empty
		wantNames []string
		wantErr   []string // with an error, what its text must contain
		wantIs    []error
	}{
		{name: "every configured broker has a reader",
			file:      "brokers:\n" + broker("main", "http://127.0.0.1:1", pw) + broker("backup", "http://127.0.0.1:2", pw),
			wantNames: []string{"backup", "main"}},
		{name: "missing file",
			wantErr: []string{"brokers.yaml"}, wantIs: []error{ErrInvalidConfig, fs.ErrNotExist}},
		{name: "invalid field names the path and the field",
			file:    "brokers:\n" + broker("main", "http://127.0.0.1:1", pw) + broker("backup", "ftp://rabbit", pw),
			wantErr: []string{"brokers.yaml: ", "brokers[1].managementURL", `"ftp://rabbit"`}, wantIs: []error{ErrInvalidConfig}},
		{name: "unreadable credentials name the path and the field",
			file:    "brokers:\n" + broker("main", "http://127.0.0.1:1", filepath.Join(dir, "absent")),
			wantErr: []string{"brokers.yaml: ", `broker "main"`, "credentials.passwordFile"}, wantIs: []error{ErrInvalidConfig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "brokers.yaml")
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			b, err := OpenFile(path, nil)
			if tt.wantErr != nil {
				if err == nil {
					_ = b.Close()
					t.Fatalf("OpenFile succeeded, want an error containing %q", tt.wantErr)
				}
				for _, want := range append(tt.wantErr, path) {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				for _, target := range tt.wantIs {
					if !errors.Is(err, target) {
						t.Errorf("error %q is not %v", err, target)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = b.Close() }()
			readers := b.Readers()
			if diff := cmp.Diff(tt.wantNames, slices.Sorted(maps.Keys(readers))); diff != "" {
				t.Errorf("Readers() names (-want +got):\n%s", diff)
			}
			for name, r := range readers {
				if want, _ := b.Reader(name); r != want || r.Latest() != nil {
					t.Errorf("Readers()[%q] = %p, want Reader(%q) = %p with no snapshot yet", name, r, name, want)
				}
			}
			// The map is the caller's: changing it changes no broker.
			delete(readers, "main")
			if diff := cmp.Diff(tt.wantNames, b.Names()); diff != "" {
				t.Errorf("Names() after editing the Readers() map (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOpenFreshSource: a broker with an amqpURL beside its management or
// Prometheus source gets a fresh source on that one AMQP connection; a
// broker read by AMQP, or without an amqpURL, has none.
func TestOpenFreshSource(t *testing.T) {
	t.Setenv("RABBITSCALE_TEST_PASSWORD", testPassword)
	creds := Credentials{Username: "scaler", PasswordEnv: "RABBITSCALE_TEST_PASSWORD"}
	b, err := Open(&Config{Brokers: []BrokerConfig{
		{Name: "stats", ManagementURL: "http://127.0.0.1:1", Credentials: creds},
		{Name: "wake", ManagementURL: "http://127.0.0.1:1", AMQPURL: "amqp://127.0.0.1:1/jobs", Credentials: creds},
		{Name: "prom", PrometheusURLs: []string{"http://127.0.0.1:1"}, AMQPURL: "amqp://127.0.0.1:1/", Credentials: creds},
		{Name: "amqp", AMQPURL: "amqp://127.0.0.1:1/", Credentials: creds},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	for name, wantVhost := range map[string]string{"stats": "", "wake": "jobs", "prom": "/", "amqp": ""} {
		r, err := b.Reader(name)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if a, ok := r.fresh.(*AMQPSource); ok {
			got = a.vhost
		} else if r.fresh != nil {
			t.Errorf("broker %s: fresh source %T, want an *AMQPSource", name, r.fresh)
		}
		if got != wantVhost {
			t.Errorf("broker %s: fresh source's vhost %q, want %q (empty: no fresh source)", name, got, wantVhost)
		}
		if wantVhost == "" {
			if _, err := r.Fresh(context.Background(), Scope{}); !errors.Is(err, ErrFreshUnsupported) {
				t.Errorf("broker %s: Fresh error %v, want ErrFreshUnsupported", name, err)
			}
		}
	}
}

// fixedSource answers every read with the same snapshot.
type fixedSource struct {
	snap   *Snapshot
	scope  Scope
	closed bool
}

func (f *fixedSource) Snapshot(_ context.Context, scope Scope) (*Snapshot, error) {
	f.scope = scope
	return f.snap, nil
}

func (f *fixedSource) Close() error { f.closed = true; return nil }

func TestReaderFresh(t *testing.T) {
	main := NewSnapshot("b", SourceManagement, t0, Coverage{Listed: true})
	main.Set(QueueKey{"/", "q"}, QueueStats{Ready: 0, SampleTime: t0})
	now := NewSnapshot("b", SourceAMQP, t0, Coverage{})
	now.Set(QueueKey{"/", "q"}, QueueStats{Ready: 50, SampleTime: t0})
	src, fresh := &fixedSource{snap: main}, &fixedSource{snap: now}
	r := NewReader(src, ReaderOptions{Fresh: fresh})
	if _, err := r.Snapshot(context.Background(), Scope{}); err != nil {
		t.Fatal(err)
	}
	scope := Scope{Queues: []QueueKey{{"/", "q"}}}
	got, err := r.Fresh(context.Background(), scope)
	if err != nil || got != now {
		t.Fatalf("Fresh = %p, %v; want the fresh source's snapshot", got, err)
	}
	if diff := cmp.Diff(scope, fresh.scope); diff != "" {
		t.Errorf("fresh scope diff (-want +got):\n%s", diff)
	}
	if r.Latest() != main {
		t.Errorf("Latest is not the last Snapshot: a fresh read must not replace it")
	}
	if err := r.Close(); err != nil || !src.closed || !fresh.closed {
		t.Errorf("Close = %v, closed source %v, fresh %v; want both closed", err, src.closed, fresh.closed)
	}
}
