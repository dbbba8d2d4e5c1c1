package queue

import (
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
