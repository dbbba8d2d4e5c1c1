package deploy_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/rabbitscale/rabbitscale/deploy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// The chart's copies of the dashboard and alert rules are byte-for-byte the
// originals; `go generate ./deploy` refreshes them.
func TestChartFilesMatchTheirSources(t *testing.T) {
	for cp, orig := range deploy.ChartCopies {
		got, err := os.ReadFile(filepath.Join(deploy.Dir(), cp))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(deploy.Dir(), orig))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/%s differs from deploy/%s: run `go generate ./deploy` and commit the copy", cp, orig)
		}
	}
}

// valueSets are the configurations the lint and render tests share.
var valueSets = map[string]map[string]any{
	"defaults": {},
	"everything": {
		"adapter":        map[string]any{"enabled": true},
		"networkPolicy":  map[string]any{"enabled": true},
		"monitoring":     map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true}, "dashboard": map[string]any{"enabled": true}},
		"leaderElection": map[string]any{"leaseDuration": "30s", "renewDeadline": "20s", "retryPeriod": "4s"},
		"extraArgs":      []any{"--interval=10s"},
	},
	"namespaced":    {"watch": map[string]any{"namespaces": []any{"shop"}}},
	"two-teams":     {"watch": map[string]any{"namespaces": []any{"shop", "billing"}}},
	"no-pod-writes": {"idleFirst": map[string]any{"enabled": false}},
	"adapter-tls":   {"adapter": map[string]any{"enabled": true, "tls": map[string]any{"certManager": true}}},
	"digest":        {"image": map[string]any{"repository": "registry.example/rs", "tag": "9.9.9", "digest": "sha256:" + strings.Repeat("ab", 32)}},
	"single":        {"replicas": 1, "leaderElection": map[string]any{"enabled": false}},
	"selector": {
		"adapter": map[string]any{"enabled": true},
		"brokers": []any{map[string]any{"name": "default", "managementURL": "http://rabbitmq.rabbitmq.svc:15672",
			"allow": map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": "shop"}}}}},
	},
}

func TestChartLints(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			vf, err := deploy.WriteValues(home, values)
			if err != nil {
				t.Fatal(err)
			}
			out, err := deploy.RunHelm(home, "lint", "--strict", filepath.Join(deploy.Dir(), deploy.ChartDir), "--values", vf)
			if err != nil {
				t.Errorf("%v\n%s", err, out)
			}
		})
	}
}

func objectList(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName()))
	}
	slices.Sort(out)
	return out
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	v := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, v); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return v
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %v", kind, name, objectList(objs))
	return nil
}

// TestChartRenders renders the chart as release "shop" in namespace "ops"
// for each value set and checks what a user would see installed.
func TestChartRenders(t *testing.T) {
	controllerObjects := []string{
		"ConfigMap ops/shop-rabbitscale-brokers",
		"Deployment ops/shop-rabbitscale",
		"Service ops/shop-rabbitscale",
		"ServiceAccount ops/shop-rabbitscale",
	}
	leaderElection := []string{
		"Role ops/shop-rabbitscale-leader-election",
		"RoleBinding ops/shop-rabbitscale-leader-election",
	}
	clusterScope := []string{"ClusterRole /shop-rabbitscale", "ClusterRoleBinding /shop-rabbitscale"}
	pdb := []string{"PodDisruptionBudget ops/shop-rabbitscale"}
	adapter := []string{
		"APIService /v1beta1.external.metrics.k8s.io",
		"ClusterRole /shop-rabbitscale-external-metrics-reader",
		"ClusterRoleBinding /shop-rabbitscale-adapter:system:auth-delegator",
		"ClusterRoleBinding /shop-rabbitscale-external-metrics-reader:horizontal-pod-autoscaler",
		"Deployment ops/shop-rabbitscale-adapter",
		"PodDisruptionBudget ops/shop-rabbitscale-adapter",
		"RoleBinding kube-system/shop-rabbitscale-adapter-auth-reader",
		"Service ops/shop-rabbitscale-adapter",
		"ServiceAccount ops/shop-rabbitscale-adapter",
	}
	// Reading namespaces' labels, for a broker's allow.namespaceSelector.
	adapterNamespaces := []string{"ClusterRole /shop-rabbitscale-adapter", "ClusterRoleBinding /shop-rabbitscale-adapter"}
	monitoring := []string{
		"ConfigMap ops/shop-rabbitscale-dashboard",
		"NetworkPolicy ops/shop-rabbitscale",
		"NetworkPolicy ops/shop-rabbitscale-adapter",
		"PrometheusRule ops/shop-rabbitscale",
		"ServiceMonitor ops/shop-rabbitscale",
	}
	leArgs := []string{"--leader-election-namespace=$(POD_NAMESPACE)", "--leader-election-identity=$(POD_NAME)"}
	join := func(lists ...[]string) []string {
		out := slices.Concat(lists...)
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name    string
		objects []string
		image   string
		args    []string
	}{{
		name:    "defaults",
		objects: join(controllerObjects, leaderElection, clusterScope, pdb),
		image:   "ghcr.io/rabbitscale/rabbitscale:0.1.0",
		args:    slices.Concat([]string{"run", "--config=/etc/rabbitscale/config/brokers.yaml"}, leArgs, []string{"--health-addr=:8081", "--leader-election-id=shop-rabbitscale-controller"}),
	}, {
		name:    "everything",
		objects: join(controllerObjects, leaderElection, clusterScope, pdb, adapter, monitoring),
		image:   "ghcr.io/rabbitscale/rabbitscale:0.1.0",
		args: slices.Concat([]string{"run", "--config=/etc/rabbitscale/config/brokers.yaml"}, leArgs, []string{"--health-addr=:8081", "--leader-election-id=shop-rabbitscale-controller",
			"--leader-election-lease-duration=30s", "--leader-election-renew-deadline=20s", "--leader-election-retry-period=4s", "--interval=10s"}),
	}, {
		name: "namespaced",
		// The workload rules are a Role in the watched namespace: nothing
		// cluster-wide.
		objects: join(controllerObjects, leaderElection, pdb, []string{"Role shop/shop-rabbitscale", "RoleBinding shop/shop-rabbitscale"}),
		image:   "ghcr.io/rabbitscale/rabbitscale:0.1.0",
		args:    slices.Concat([]string{"run", "--config=/etc/rabbitscale/config/brokers.yaml"}, leArgs, []string{"--health-addr=:8081", "--leader-election-id=shop-rabbitscale-controller", "--namespaces=shop"}),
	}, {
		name: "two-teams",
		// A Role in each watched namespace, still nothing cluster-wide.
		objects: join(controllerObjects, leaderElection, pdb, []string{"Role shop/shop-rabbitscale", "RoleBinding shop/shop-rabbitscale",
			"Role billing/shop-rabbitscale", "RoleBinding billing/shop-rabbitscale"}),
		image: "ghcr.io/rabbitscale/rabbitscale:0.1.0",
		args:  slices.Concat([]string{"run", "--config=/etc/rabbitscale/config/brokers.yaml"}, leArgs, []string{"--health-addr=:8081", "--leader-election-id=shop-rabbitscale-controller", "--namespaces=shop,billing"}),
	}, {
		name:    "no-pod-writes",
		objects: join(controllerObjects, leaderElection, clusterScope, pdb),
		image:   "ghcr.io/rabbitscale/rabbitscale:0.1.0",
		args:    slices.Concat([]string{"run", "--config=/etc/rabbitscale/config/brokers.yaml"}, leArgs, []string{"--health-addr=:8081", "--leader-election-id=shop-rabbitscale-controller", "--idle-first=false"}),
	}, {
		name:    "digest",
		objects: join(controllerObjects, leaderElection, clusterScope, pdb),
		image:   "registry.example/rs@sha256:" + strings.Repeat("ab", 32),
		args:    slices.Concat([]string{"run", "--config=/etc/rabbitscale/config/brokers.yaml"}, leArgs, []string{"--health-addr=:8081", "--leader-election-id=shop-rabbitscale-controller"}),
	}, {
		name:    "selector",
		objects: join(controllerObjects, leaderElection, clusterScope, pdb, adapter, adapterNamespaces),
		image:   "ghcr.io/rabbitscale/rabbitscale:0.1.0",
		args:    slices.Concat([]string{"run", "--config=/etc/rabbitscale/config/brokers.yaml"}, leArgs, []string{"--health-addr=:8081", "--leader-election-id=shop-rabbitscale-controller"}),
	}, {
		name: "single",
		// One replica without leader election: no Lease Role, no PDB
		// (minAvailable 1 of 1 would block every drain).
		objects: join(controllerObjects, clusterScope),
		image:   "ghcr.io/rabbitscale/rabbitscale:0.1.0",
		args:    []string{"run", "--config=/etc/rabbitscale/config/brokers.yaml", "--health-addr=:8081", "--leader-elect=false"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := deploy.RenderChart(t.TempDir(), "shop", "ops", valueSets[tt.name])
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.objects, objectList(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			d := convert[appsv1.Deployment](t, find(t, objs, "Deployment", "shop-rabbitscale"))
			c := d.Spec.Template.Spec.Containers[0]
			if c.Image != tt.image {
				t.Errorf("controller image %q, want %q", c.Image, tt.image)
			}
			if diff := cmp.Diff(tt.args, c.Args); diff != "" {
				t.Errorf("controller args (-want +got):\n%s", diff)
			}
			for _, o := range objs {
				if o.GetKind() != "Deployment" {
					continue
				}
				pod := convert[appsv1.Deployment](t, o).Spec.Template.Spec
				if got := pod.Containers[0].Image; got != tt.image {
					t.Errorf("%s image %q, want %q", o.GetName(), got, tt.image)
				}
				if got := pod.Volumes[1].Secret.SecretName; got != "rabbitscale-broker" {
					t.Errorf("%s mounts credentials from Secret %q, want credentials.existingSecret rabbitscale-broker", o.GetName(), got)
				}
			}
			if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "shop-rabbitscale" {
				t.Errorf("controller runs as ServiceAccount %q, want shop-rabbitscale", sa)
			}
			for _, o := range objs {
				if o.GetKind() == "RoleBinding" || o.GetKind() == "ClusterRoleBinding" {
					b := convert[rbacv1.RoleBinding](t, o)
					if strings.Contains(b.Name, "adapter") || strings.Contains(b.Name, "external-metrics") {
						continue
					}
					want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "shop-rabbitscale", Namespace: "ops"}}
					if diff := cmp.Diff(want, b.Subjects); diff != "" {
						t.Errorf("%s %s subjects (-want +got):\n%s", o.GetKind(), o.GetName(), diff)
					}
				}
			}
		})
	}
}

// The controller and the adapter may read Namespace objects only when a
// broker allows namespaces by label: without any allow.namespaceSelector
// they never read one (package nslabels), and least privilege leaves the
// rule out.
func TestChartReadsNamespacesOnlyForSelectors(t *testing.T) {
	for name, want := range map[string][]string{
		"everything": nil, // cluster scope and the adapter, no selector
		"namespaced": nil,
		"selector":   {"ClusterRole shop-rabbitscale", "ClusterRole shop-rabbitscale-adapter"},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := deploy.RenderChart(t.TempDir(), "shop", "ops", valueSets[name])
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
					continue
				}
				for _, r := range convert[rbacv1.ClusterRole](t, o).Rules {
					if !slices.Contains(r.Resources, "namespaces") {
						continue
					}
					got = append(got, o.GetKind()+" "+o.GetName())
					if diff := cmp.Diff([]string{"list", "watch"}, r.Verbs); diff != "" {
						t.Errorf("%s %s verbs on namespaces (-want +got):\n%s", o.GetKind(), o.GetName(), diff)
					}
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("roles that may read namespaces (-want +got):\n%s", diff)
			}
		})
	}
}

// Pods are patched only for idle-first scale-down: with it off, the
// controller's role may read pods but not write them.
func TestChartPodPatchOnlyForIdleFirst(t *testing.T) {
	for name, want := range map[string][]string{
		"defaults":      {"get", "list", "watch", "patch"},
		"no-pod-writes": {"get", "list", "watch"},
	} {
		objs, err := deploy.RenderChart(t.TempDir(), "shop", "ops", valueSets[name])
		if err != nil {
			t.Fatal(err)
		}
		role := convert[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "shop-rabbitscale"))
		var got []string
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "pods") {
				got = append(got, r.Verbs...)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: verbs on pods (-want +got):\n%s", name, diff)
		}
	}
}

// The aggregator checks the adapter's certificate against the APIService's
// caBundle: from cert-manager's CA injector, or given; only without either
// does the APIService skip verification.
func TestChartAdapterTLS(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name        string
		tls         map[string]any
		insecure    bool
		caBundle    string
		injectFrom  string
		secret      string
		certManager bool
	}{
		{"self-signed", map[string]any{}, true, "", "", "", false},
		{"cert-manager", map[string]any{"certManager": true}, false, "", "ops/shop-rabbitscale-adapter", "shop-rabbitscale-adapter-tls", true},
		{"own certificate", map[string]any{"secretName": "adapter-tls", "caBundle": ca}, false, ca, "", "adapter-tls", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := deploy.RenderChart(t.TempDir(), "shop", "ops", map[string]any{"adapter": map[string]any{"enabled": true, "tls": tt.tls}})
			if err != nil {
				t.Fatal(err)
			}
			// No kube-aggregator types here: read the APIService's fields.
			svc := find(t, objs, "APIService", "v1beta1.external.metrics.k8s.io")
			insecure, _, _ := unstructured.NestedBool(svc.Object, "spec", "insecureSkipTLSVerify")
			b64, _, _ := unstructured.NestedString(svc.Object, "spec", "caBundle")
			bundle, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatalf("caBundle %q: %v", b64, err)
			}
			inject := svc.GetAnnotations()["cert-manager.io/inject-ca-from"]
			if insecure != tt.insecure || string(bundle) != tt.caBundle || inject != tt.injectFrom {
				t.Errorf("APIService: insecure %v, caBundle %q, inject-ca-from %q; want %v, %q, %q",
					insecure, bundle, inject, tt.insecure, tt.caBundle, tt.injectFrom)
			}
			pod := convert[appsv1.Deployment](t, find(t, objs, "Deployment", "shop-rabbitscale-adapter")).Spec.Template.Spec
			var mounted string
			for _, v := range pod.Volumes {
				if v.Name == "tls" {
					mounted = v.Secret.SecretName
				}
			}
			hasFlags := slices.Contains(pod.Containers[0].Args, "--tls-cert-file=/etc/rabbitscale/tls/tls.crt")
			if mounted != tt.secret || hasFlags != (tt.secret != "") {
				t.Errorf("adapter mounts TLS Secret %q (flags %v), want %q", mounted, hasFlags, tt.secret)
			}
			hasCert := false
			for _, o := range objs {
				hasCert = hasCert || o.GetKind() == "Certificate"
			}
			if hasCert != tt.certManager {
				t.Errorf("a cert-manager Certificate rendered: %v, want %v", hasCert, tt.certManager)
			}
		})
	}
	for _, bad := range []map[string]any{{"secretName": "adapter-tls"}, {"certManager": true, "caBundle": ca}} {
		_, err := deploy.RenderChart(t.TempDir(), "shop", "ops", map[string]any{"adapter": map[string]any{"enabled": true, "tls": bad}})
		if err == nil || !strings.Contains(err.Error(), "adapter.tls") {
			t.Errorf("tls %v: %v, want an error naming adapter.tls", bad, err)
		}
	}
}

func TestChartRefusesWhatTheControllerCannotDo(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"replicas without leader election", map[string]any{"leaderElection": map[string]any{"enabled": false}},
			"replicas: 2 controllers without leaderElection.enabled"},
		{"credentials in a URL", map[string]any{"brokers": []any{map[string]any{"name": "default", "managementURL": "http://guest:guest@rabbit:15672"}}},
			`broker "default" has credentials in a URL`},
		{"no brokers", map[string]any{"brokers": []any{}}, "brokers: list at least one broker"},
		{"namespace selector in the namespaced install", map[string]any{
			"watch": map[string]any{"namespaces": []any{"shop"}},
			"brokers": []any{map[string]any{"name": "default", "managementURL": "http://rabbit:15672",
				"allow": map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": "shop"}}}}}},
			`broker "default": allow.namespaceSelector cannot be used with watch.namespaces`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := deploy.RenderChart(t.TempDir(), "shop", "ops", tt.values)
			if err == nil {
				t.Fatalf("rendered %v, want an error saying %q", objectList(objs), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// The broker list is the brokers.yaml `rabbitscale run --config` reads,
// and the dashboard and alert rules are the originals.
func TestChartCarriesTheConfiguration(t *testing.T) {
	brokers := []any{
		map[string]any{"name": "default", "managementURL": "https://rabbit.example:15671", "timeout": "3s",
			"credentials": map[string]any{"usernameFile": "/etc/rabbitscale/credentials/username", "passwordFile": "/etc/rabbitscale/credentials/password"}},
		map[string]any{"name": "edge", "source": "amqp", "amqpURL": "amqps://edge.example:5671/orders",
			"credentials": map[string]any{"username": "scaler", "passwordFile": "/etc/rabbitscale/credentials/edge-password"}},
	}
	values := valueSets["everything"]
	values = map[string]any{"brokers": brokers, "monitoring": values["monitoring"]}
	objs, err := deploy.RenderChart(t.TempDir(), "shop", "ops", values)
	if err != nil {
		t.Fatal(err)
	}
	cm := convert[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "shop-rabbitscale-brokers"))
	cfg, err := queue.ParseConfig([]byte(cm.Data["brokers.yaml"]))
	if err != nil {
		t.Fatalf("brokers.yaml does not load: %v\n%s", err, cm.Data["brokers.yaml"])
	}
	var names, urls []string
	for _, b := range cfg.Brokers {
		names = append(names, b.Name)
		urls = append(urls, b.ManagementURL+b.AMQPURL)
	}
	if diff := cmp.Diff([]string{"default", "edge"}, names); diff != "" {
		t.Errorf("brokers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"https://rabbit.example:15671", "amqps://edge.example:5671/orders"}, urls); diff != "" {
		t.Errorf("broker URLs (-want +got):\n%s", diff)
	}

	dash := convert[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "shop-rabbitscale-dashboard"))
	want, err := os.ReadFile(filepath.Join(deploy.Dir(), deploy.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := dash.Data["rabbitscale.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("dashboard ConfigMap differs from %s", deploy.DashboardFile)
	}
	if dash.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v, want grafana_dashboard: \"1\" for the sidecar", dash.Labels)
	}

	rulesYAML, err := os.ReadFile(filepath.Join(deploy.Dir(), "prometheus", "rabbitscale-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules map[string]any
	if err := yaml.Unmarshal(rulesYAML, &rules); err != nil {
		t.Fatal(err)
	}
	pr := find(t, objs, "PrometheusRule", "shop-rabbitscale")
	if diff := cmp.Diff(rules["groups"], pr.Object["spec"].(map[string]any)["groups"]); diff != "" {
		t.Errorf("PrometheusRule groups differ from deploy/prometheus/rabbitscale-rules.yaml (-file +chart):\n%s", diff)
	}
	// Whatever the release is called, the scrape job is "rabbitscale", the
	// job the alert rules and dashboard query.
	sm := find(t, objs, "ServiceMonitor", "shop-rabbitscale")
	svc := find(t, objs, "Service", "shop-rabbitscale")
	jobLabel, _, _ := unstructured.NestedString(sm.Object, "spec", "jobLabel")
	if job := svc.GetLabels()[jobLabel]; job != "rabbitscale" {
		t.Errorf("ServiceMonitor jobLabel %q gives job %q, want rabbitscale", jobLabel, job)
	}
}

// TestChartMatchesKustomizeBase: with default values the chart grants the
// controller the same permissions and runs the same pod as deploy/base;
// only names, labels and the image tag differ.
func TestChartMatchesKustomizeBase(t *testing.T) {
	base, err := deploy.Build("base")
	if err != nil {
		t.Fatal(err)
	}
	// The base grants reading namespaces for a hand-written
	// allow.namespaceSelector; the chart only when its brokers have one.
	chart, err := deploy.RenderChart(t.TempDir(), "rabbitscale", "rabbitscale", map[string]any{"brokers": valueSets["selector"]["brokers"]})
	if err != nil {
		t.Fatal(err)
	}
	rules := func(objs []*unstructured.Unstructured, kind string) [][]rbacv1.PolicyRule {
		var out [][]rbacv1.PolicyRule
		for _, o := range objs {
			if o.GetKind() == kind {
				out = append(out, convert[rbacv1.ClusterRole](t, o).Rules)
			}
		}
		return out
	}
	for _, kind := range []string{"ClusterRole", "Role"} {
		if diff := cmp.Diff(rules(base, kind), rules(chart, kind)); diff != "" {
			t.Errorf("%s rules (-kustomize +chart):\n%s", kind, diff)
		}
	}

	pod := func(objs []*unstructured.Unstructured) corev1.PodSpec {
		for _, o := range objs {
			if o.GetKind() == "Deployment" {
				d := convert[appsv1.Deployment](t, o)
				if ptr.Deref(d.Spec.Replicas, 0) != 2 {
					t.Errorf("%s runs %d replicas, want 2", o.GetName(), ptr.Deref(d.Spec.Replicas, 0))
				}
				return d.Spec.Template.Spec
			}
		}
		t.Fatal("no Deployment")
		return corev1.PodSpec{}
	}
	type container struct {
		Args                      []string
		Env                       []corev1.EnvVar
		Ports                     []corev1.ContainerPort
		Liveness, Readiness       *corev1.Probe
		Resources                 corev1.ResourceRequirements
		SecurityContext           *corev1.SecurityContext
		VolumeMounts              []corev1.VolumeMount
		PodSecurityContext        *corev1.PodSecurityContext
		ServiceAccount, Secret    string
		AntiAffinityOnHostname    bool
		ContainerName, ConfigFrom string
	}
	shape := func(p corev1.PodSpec, configMapName string) container {
		c := p.Containers[0]
		out := container{
			Args: c.Args, Env: c.Env, Ports: c.Ports, Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe,
			Resources: c.Resources, SecurityContext: c.SecurityContext, VolumeMounts: c.VolumeMounts,
			PodSecurityContext: p.SecurityContext, ServiceAccount: p.ServiceAccountName, ContainerName: c.Name,
			AntiAffinityOnHostname: p.Affinity != nil && p.Affinity.PodAntiAffinity != nil &&
				p.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey == "kubernetes.io/hostname",
		}
		for _, v := range p.Volumes {
			switch {
			case v.Secret != nil:
				out.Secret = v.Name + ":" + v.Secret.SecretName
			case v.ConfigMap != nil && v.ConfigMap.Name == configMapName:
				out.ConfigFrom = v.Name + ":the brokers ConfigMap"
			}
		}
		return out
	}
	want := shape(pod(base), "rabbitscale-brokers")
	// The chart names the Lease after the release, so that two releases in
	// one namespace never share one; for release "rabbitscale" that is the
	// binary's own default.
	want.Args = append(want.Args, "--leader-election-id=rabbitscale-controller")
	got := shape(pod(chart), "rabbitscale-brokers")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("controller pod (-kustomize +chart):\n%s", diff)
	}
}
