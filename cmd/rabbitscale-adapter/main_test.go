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
		t.Fatalf("rabbitscale-adapter version: %v", err)
	}
	if got, want := strings.TrimSpace(out.String()), "rabbitscale-adapter v1.2.3"; got != want {
		t.Errorf("rabbitscale-adapter version printed %q, want %q", got, want)
	}
}

func TestRootCommandRefusesBadFlagsBeforeServing(t *testing.T) {
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--config=", "--interval=10ms"})
	err := cmd.Execute()
	if err == nil {
		t.Fatal("rabbitscale-adapter --config= --interval=10ms succeeded, want the Validate errors")
	}
	for _, want := range []string{"--config: must name the broker configuration file", "--interval: 10ms is shorter than 100ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
