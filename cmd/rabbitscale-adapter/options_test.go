package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rabbitscale/rabbitscale/deploy"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		want   []string // the errors in order, each matched by its beginning
	}{
		{name: "defaults are valid", modify: func(*Options) {}},
		{name: "no broker configuration", modify: func(o *Options) { o.Config = "" },
			want: []string{"--config: must name the broker configuration file"}},
		{name: "interval too short", modify: func(o *Options) { o.Interval = 10 * time.Millisecond },
			want: []string{"--interval: 10ms is shorter than 100ms"}},
		{name: "max age shorter than two reads", modify: func(o *Options) { o.MaxAge = 8 * time.Second },
			want: []string{"--max-age: 8s is shorter than two intervals (10s)"}},
		{name: "server options are checked too", modify: func(o *Options) { o.Server.SecureServing.BindPort = 70000 },
			want: []string{"server options: --secure-port 70000 must be between 1 and 65535"}},
		{name: "every problem at once", modify: func(o *Options) { o.Config, o.Interval, o.MaxAge = "", 0, 0 },
			want: []string{"--config: must name", "--interval: 0s is shorter than 100ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			tt.modify(o)
			var got []string
			for i, err := range o.Validate() {
				if i < len(tt.want) && strings.HasPrefix(err.Error(), tt.want[i]) {
					got = append(got, tt.want[i])
					continue
				}
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlagsReachTheOptions(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("rabbitscale-adapter", pflag.ContinueOnError)
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
	got := view{o.Kubeconfig, o.Config, o.Server.SecureServing.BindAddress.String(),
		o.Server.Authentication.RemoteKubeConfigFile, o.Server.Authorization.RemoteKubeConfigFile,
		o.Interval, o.MaxAge, o.Server.SecureServing.BindPort}
	want := view{"/tmp/kc", "/tmp/b.yaml", "127.0.100.10", "/tmp/kc", "/tmp/kc", 2 * time.Second, 30 * time.Second, 9443}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// TestManifestFlagsAreTheBinarys parses the container args of
// deploy/adapter with the binary's own flags: a renamed or removed flag
// would crash-loop the Deployment.
func TestManifestFlagsAreTheBinarys(t *testing.T) {
	objs, err := deploy.Build("adapter")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, obj := range objs {
		if obj.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
		for _, a := range containers[0].(map[string]any)["args"].([]any) {
			args = append(args, a.(string))
		}
	}
	if len(args) == 0 {
		t.Fatal("no container args in deploy/adapter's Deployment")
	}
	o := NewOptions()
	fs := pflag.NewFlagSet("rabbitscale-adapter", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("rabbitscale-adapter %s: %v", strings.Join(args, " "), err)
	}
	if fs.NArg() != 0 {
		t.Errorf("rabbitscale-adapter takes no arguments, the manifest passes %q", fs.Args())
	}
	if errs := o.Validate(); len(errs) > 0 {
		t.Errorf("the manifest's flags do not validate: %v", errs)
	}
}
