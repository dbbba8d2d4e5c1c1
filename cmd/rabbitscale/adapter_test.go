package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestAdapterOptionsValidate(t *testing.T) {
	testValidate(t, NewAdapterOptions, []validateCase[*AdapterOptions]{
		{name: "defaults are valid", modify: func(*AdapterOptions) {}},
		{name: "no broker configuration", modify: func(o *AdapterOptions) { o.BrokerConfig = "" },
			want: []string{"--config: must name the broker configuration file"}},
		{name: "interval too short", modify: func(o *AdapterOptions) { o.Interval = 10 * time.Millisecond },
			want: []string{"--interval: 10ms is shorter than 100ms"}},
		{name: "max age shorter than two reads", modify: func(o *AdapterOptions) { o.MaxAge = 8 * time.Second },
			want: []string{"--max-age: 8s is shorter than two intervals (10s)"}},
		{name: "server options are checked too", modify: func(o *AdapterOptions) { o.Server.SecureServing.BindPort = 70000 },
			want: []string{"server options: --secure-port 70000 must be between 1 and 65535"}},
	})
}

func TestAdapterFlagsReachTheOptions(t *testing.T) {
	o := NewAdapterOptions()
	fs := pflag.NewFlagSet("adapter", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{"--kubeconfig=/tmp/kc", "--config=/tmp/b.yaml", "--interval=2s", "--max-age=30s",
		"--bind-address=127.0.100.10", "--secure-port=9443"})
	if err != nil {
		t.Fatal(err)
	}
	o.complete()
	type view struct {
		Kubeconfig, BrokerConfig, Bind, AuthnKubeconfig, AuthzKubeconfig string
		Interval, MaxAge                                                 time.Duration
		Port                                                             int
	}
	got := view{o.Kubeconfig, o.BrokerConfig, o.Server.SecureServing.BindAddress.String(),
		o.Server.Authentication.RemoteKubeConfigFile, o.Server.Authorization.RemoteKubeConfigFile,
		o.Interval, o.MaxAge, o.Server.SecureServing.BindPort}
	want := view{"/tmp/kc", "/tmp/b.yaml", "127.0.100.10", "/tmp/kc", "/tmp/kc", 2 * time.Second, 30 * time.Second, 9443}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

func TestRootCommandHasAdapter(t *testing.T) {
	cmd, _, err := newRootCommand().Find([]string{"adapter"})
	if err != nil || cmd.Name() != "adapter" {
		t.Fatalf("rabbitscale adapter: %v", err)
	}
}
