package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/rabbitscale/rabbitscale/policy"
)

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	d := policy.Decision{Current: 2, Desired: 7, Apply: true, Reason: "depth 700 > 2 pods x 100 wants 7; scale 2 -> 7",
		Signals: policy.Signals{Depth: policy.Signal{Enabled: true, Available: true, Value: 700, Target: 100, Recommendation: 7}}}
	decision, err := policy.EncodeDecision(d)
	if err != nil {
		t.Fatal(err)
	}
	state, err := policy.EncodeState(policy.State{LastScaleUp: now.Add(-90 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	rows := []statusRow{
		{Namespace: "shop", Workload: "deployment/orders", Replicas: 7, Annotations: map[string]string{
			policy.KeyQueue: "orders", policy.KeyTargetDepthPerPod: "100",
			policy.DecisionAnnotation: decision, policy.StateAnnotation: state}},
		{Namespace: "shop", Workload: "deployment/mail", Replicas: 1, Annotations: map[string]string{
			policy.KeyQueuePattern: "mail-.*", policy.KeyTargetDepthPerPod: "x"}},
	}
	var out bytes.Buffer
	printStatus(&out, rows, now)
	want := `NAMESPACE   WORKLOAD            QUEUE      DEPTH   CURRENT   DESIRED   LAST CHANGE   REASON
shop        deployment/orders   orders     700     7         7         90s ago       depth 700 > 2 pods x 100 wants 7; scale 2 -> 7
shop        deployment/mail     ~mail-.*   -       1         -         -             invalid annotations: rabbitscale.io/target-depth-per-pod: "x" is not an integer
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status table diff (-want +got):\n%s", diff)
	}
}

// writeKubeconfig writes a kubeconfig with two contexts, "shop" (the
// current one, namespace shop) and "mail" (namespace mail), and returns its
// path.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	cfg := `apiVersion: v1
kind: Config
current-context: shop
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: "secret-token"}
contexts:
- name: shop
  context: {cluster: c, user: u, namespace: shop}
- name: mail
  context: {cluster: c, user: u, namespace: mail}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStatusFindsTheClusterAndNamespaceAsKubectlDoes(t *testing.T) {
	path := writeKubeconfig(t)
	tests := []struct {
		name  string
		env   string // $KUBECONFIG
		args  []string
		want  string
		wantH string
	}{
		{"$KUBECONFIG and the context's namespace", path, nil, "shop", "https://127.0.0.1:6443"},
		{"--kubeconfig", "", []string{"--kubeconfig", path}, "shop", "https://127.0.0.1:6443"},
		{"--context picks its namespace", path, []string{"--context", "mail"}, "mail", "https://127.0.0.1:6443"},
		{"--namespace wins", path, []string{"-n", "orders"}, "orders", "https://127.0.0.1:6443"},
		{"--all-namespaces", path, []string{"-A"}, "", "https://127.0.0.1:6443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tt.env)
			t.Setenv("HOME", t.TempDir()) // no ~/.kube/config to fall back on
			o := NewStatusOptions()
			fs := pflag.NewFlagSet("status", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			cc := o.clientConfig()
			cfg, err := cc.ClientConfig()
			if err != nil {
				t.Fatalf("client configuration: %v", err)
			}
			ns, err := o.namespace(cc)
			if err != nil {
				t.Fatal(err)
			}
			if ns != tt.want || cfg.Host != tt.wantH {
				t.Errorf("namespace %q and host %q, want %q and %q", ns, cfg.Host, tt.want, tt.wantH)
			}
		})
	}
}

func TestStatusOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    StatusOptions
		want []string
	}{
		{"defaults", *NewStatusOptions(), nil},
		{"one namespace", StatusOptions{Namespace: "shop"}, nil},
		{"all", StatusOptions{AllNamespaces: true}, nil},
		{"both", StatusOptions{Namespace: "shop", AllNamespaces: true},
			[]string{`--namespace: "shop" is set together with --all-namespaces; use one`}},
	}
	for _, tt := range tests {
		var got []string
		for _, err := range tt.o.Validate() {
			got = append(got, err.Error())
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Validate() diff (-want +got):\n%s", tt.name, diff)
		}
	}
}
