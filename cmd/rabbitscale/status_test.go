package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	restclient "k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/autoscaler"
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
			policy.DecisionAnnotation: decision, policy.StateAnnotation: state}, Written: now.Add(-40 * time.Second)},
		// The leader's live decision wins over the annotation's older one.
		{Namespace: "shop", Workload: "deployment/refunds", Replicas: 7, Annotations: map[string]string{
			policy.KeyQueue: "refunds", policy.KeyTargetDepthPerPod: "100",
			policy.DecisionAnnotation: decision, policy.StateAnnotation: state}, Written: now.Add(-40 * time.Second),
			Live: &policy.Decision{Current: 7, Desired: 7, Reason: "depth 0: hold 7 within the scale-down window",
				Signals: policy.Signals{Depth: policy.Signal{Enabled: true, Available: true, Value: 0, Target: 100}}}},
		{Namespace: "shop", Workload: "deployment/mail", Replicas: 1, Annotations: map[string]string{
			policy.KeyQueuePattern: "mail-.*", policy.KeyTargetDepthPerPod: "x"}},
	}
	var out bytes.Buffer
	printStatus(&out, rows, now)
	want := `NAMESPACE   WORKLOAD             QUEUE      DEPTH   CURRENT   DESIRED   LAST CHANGE   DECIDED   REASON
shop        deployment/orders    orders     700     7         7         90s ago       40s ago   depth 700 > 2 pods x 100 wants 7; scale 2 -> 7
shop        deployment/refunds   refunds    0       7         7         90s ago       live      depth 0: hold 7 within the scale-down window
shop        deployment/mail      ~mail-.*   -       1         -         -             -         invalid annotations: rabbitscale.io/target-depth-per-pod: "x" is not an integer
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

// proxied answers a pod proxy request with body, or fails with err.
type proxied struct {
	body []byte
	err  error
}

func (p proxied) DoRaw(context.Context) ([]byte, error) { return p.body, p.err }
func (p proxied) Stream(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(p.body)), p.err
}

func TestStatusAsksTheLeaderForLiveDecisions(t *testing.T) {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "rabbitscale", Name: "rabbitscale-controller"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("rabbitscale-7d9-abcde")}}
	body, err := json.Marshal(autoscaler.LiveDecisions{Identity: "rabbitscale-7d9-abcde", Leading: true, Decisions: []autoscaler.LiveDecision{
		{Kind: autoscaler.KindDeployment, Namespace: "shop", Name: "orders", Decision: policy.Decision{Desired: 3, Reason: "live reason"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		answer  proxied
		lease   bool
		want    *policy.Decision
		wantErr string
	}{
		{"the leader answers", proxied{body: body}, true, &policy.Decision{Desired: 3, Reason: "live reason"}, ""},
		{"no lease", proxied{body: body}, false, nil, "reading the leader's Lease"},
		{"the proxy fails", proxied{err: errors.New("pods/proxy is forbidden")}, true, nil, "asking the leader rabbitscale-7d9-abcde: pods/proxy is forbidden"},
		{"a standby answers", proxied{body: []byte(`{"identity":"x","leading":false}`)}, true, nil, "rabbitscale-7d9-abcde no longer leads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			if tt.lease {
				objs = append(objs, lease)
			}
			kube := fake.NewClientset(objs...)
			var asked string
			kube.PrependProxyReactor("pods", func(a k8stesting.Action) (bool, restclient.ResponseWrapper, error) {
				p := a.(k8stesting.ProxyGetAction)
				asked = p.GetNamespace() + "/" + p.GetName() + ":" + p.GetPort() + p.GetPath()
				return true, tt.answer, nil
			})
			rows := []statusRow{{Namespace: "shop", Workload: "deployment/orders"}, {Namespace: "shop", Workload: "deployment/mail"}}
			err := NewStatusOptions().addLive(context.Background(), kube, rows)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("addLive = %v, want an error saying %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, rows[0].Live); diff != "" {
				t.Errorf("orders' live decision (-want +got):\n%s", diff)
			}
			if rows[1].Live != nil {
				t.Errorf("mail got a live decision %+v, but the leader has none for it", rows[1].Live)
			}
			if tt.lease && asked != "rabbitscale/rabbitscale-7d9-abcde:8081/decisions" {
				t.Errorf("asked %q, want the lease holder's /decisions on the health port", asked)
			}
		})
	}
}
