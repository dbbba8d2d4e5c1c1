package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionCommandPrintsTheBuildVersion(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"

	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"version"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("rabbitscale version: %v", err)
	}
	if got, want := strings.TrimSpace(out.String()), "rabbitscale v1.2.3"; got != want {
		t.Errorf("rabbitscale version printed %q, want %q", got, want)
	}
}
