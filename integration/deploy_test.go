//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/deploy"
)

// The controller's identity once deploy/base is applied.
const (
	controllerSA     = "system:serviceaccount:rabbitscale:rabbitscale"
	controllerNS     = "rabbitscale"
	fieldManagerName = "rabbitscale-tests"
)

var controllerGroups = []string{"system:serviceaccounts", "system:serviceaccounts:rabbitscale", "system:authenticated"}

// applyAll server-side applies objs, as `kubectl apply --server-side`
// does, and reads each one back.
func applyAll(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	dc := discovery.NewDiscoveryClientForConfigOrDie(cp.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", gvk, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if o.GetNamespace() != "" {
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		body, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: fieldManagerName, Force: ptr.To(true)}); err != nil {
			t.Fatalf("applying %s %s/%s: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
		got, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("reading back %s %s/%s: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
		if got.GetUID() == "" {
			t.Errorf("%s %s/%s read back without a UID", gvk.Kind, o.GetNamespace(), o.GetName())
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitEstablished waits until the named CRDs serve their resources.
func waitEstablished(ctx context.Context, t *testing.T, names ...string) {
	t.Helper()
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	for _, name := range names {
		deadline := time.Now().Add(30 * time.Second)
		for {
			u, err := dyn.Resource(crds).Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
				established := false
				for _, c := range conds {
					if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
						established = true
					}
				}
				if established {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not established after 30s: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestDeployManifests applies deploy/base and the examples to the real API
// server, proves the controller's RBAC with SubjectAccessReviews, and then
// runs `rabbitscale run` as the controller's ServiceAccount through the
// scale-up scenario: the permissions are enough for real work.
func TestDeployManifests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)

	// README install: kubectl apply --server-side -k deploy/base, then the
	// broker Secret, then the workers.
	base, err := deploy.Build("base")
	if err != nil {
		t.Fatal(err)
	}
	applyAll(ctx, t, base)
	for _, f := range []string{"examples/broker-secret.yaml", "examples/workers.yaml"} {
		objs, err := deploy.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		applyAll(ctx, t, objs)
	}

	t.Run("AdapterAndMonitoringOverlays", func(t *testing.T) {
		// The Prometheus Operator's CRDs stand in as schema-less copies.
		crds, err := deploy.Decode(mustRead(t, filepath.Join("testdata", "monitoring-crds.yaml")))
		if err != nil {
			t.Fatal(err)
		}
		applyAll(ctx, t, crds)
		waitEstablished(ctx, t, "servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com")
		for _, dir := range []string{"adapter", "monitoring"} {
			objs, err := deploy.Build(dir)
			if err != nil {
				t.Fatal(err)
			}
			applyAll(ctx, t, objs)
		}
		// The adapter's APIService points at a Service no pod serves here;
		// leave no unavailable API group behind for the tests that follow.
		apiServices := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
		if err := dynamic.NewForConfigOrDie(cp.Config).Resource(apiServices).Delete(ctx, "v1beta1.external.metrics.k8s.io", metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting the adapter's APIService: %v", err)
		}
	})

	t.Run("RBAC", func(t *testing.T) {
		type check struct {
			verb, group, resource, subresource, namespace string
			allowed                                       bool
		}
		checks := []check{
			// What the controller does.
			{"list", "apps", "deployments", "", "", true},
			{"watch", "apps", "statefulsets", "", "", true},
			{"patch", "apps", "deployments", "", "shop", true},
			{"get", "apps", "deployments", "scale", "shop", true},
			{"update", "apps", "statefulsets", "scale", "shop", true},
			{"list", "", "pods", "", "", true},
			{"patch", "", "pods", "", "shop", true},
			{"create", "", "events", "", "shop", true},
			{"patch", "", "events", "", "shop", true},
			{"list", "metrics.k8s.io", "pods", "", "shop", true},
			{"watch", "autoscaling", "horizontalpodautoscalers", "", "", true},
			{"list", "", "namespaces", "", "", true}, // labels, for allow.namespaceSelector
			{"watch", "", "namespaces", "", "", true},
			{"create", "coordination.k8s.io", "leases", "", controllerNS, true},
			{"update", "coordination.k8s.io", "leases", "", controllerNS, true},
			// What it must not do.
			{"delete", "apps", "deployments", "", "shop", false},
			{"update", "apps", "deployments", "", "shop", false},
			{"create", "apps", "deployments", "", "shop", false},
			{"delete", "", "pods", "", "shop", false},
			{"create", "", "pods", "", "shop", false},
			{"get", "", "secrets", "", "shop", false},
			{"get", "", "secrets", "", controllerNS, false},
			{"list", "", "secrets", "", "", false},
			{"update", "coordination.k8s.io", "leases", "", "kube-system", false},
			{"update", "autoscaling", "horizontalpodautoscalers", "", "shop", false},
			{"patch", "apps", "deployments", "status", "shop", false},
			{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", false},
			{"patch", "", "namespaces", "", "", false},
			{"delete", "", "namespaces", "", "", false},
		}
		for _, c := range checks {
			sar, err := kc.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User:   controllerSA,
					Groups: controllerGroups,
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Verb: c.verb, Group: c.group, Resource: c.resource, Subresource: c.subresource, Namespace: c.namespace,
					},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != c.allowed {
				t.Errorf("%s %s/%s/%s in %q: allowed = %v, want %v", c.verb, c.group, c.resource, c.subresource, c.namespace, sar.Status.Allowed, c.allowed)
			}
		}
	})

	t.Run("ScaleUpAsServiceAccount", func(t *testing.T) {
		ns := createNamespace(ctx, t, kc)
		q := uniqueQueue("rbac")
		createDeployment(ctx, t, kc, ns, "worker", 1, annotations(q, "target-depth-per-pod", "100", "max-replicas", "10"))

		dir := t.TempDir()
		impersonatingKubeconfig(t, dir, controllerSA, controllerGroups) // runBinary finds dir/kubeconfig
		runBinary(t, dir, "sa", "--namespace", ns, "--leader-election-namespace", controllerNS,
			"--leader-election-id", fmt.Sprintf("rabbitscale-%s", ns))

		publish(ctx, t, q, 400)
		waitReplicas(ctx, t, kc, ns, "worker", 4, 20*time.Second)
		e := waitEvent(ctx, t, kc, ns, "worker", corev1.EventTypeNormal, autoscaler.ReasonRescaled, "scale 1 -> 4")
		if e.Source.Host != "sa" {
			t.Errorf("Rescaled event from %q, want the impersonated controller \"sa\"", e.Source.Host)
		}
	})
}

// impersonatingKubeconfig writes dir/kubeconfig for the test API server,
// acting as user in groups (a ServiceAccount, say), so that a process run
// with it has exactly that identity's RBAC.
func impersonatingKubeconfig(t *testing.T, dir, user string, groups []string) string {
	t.Helper()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.Kubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate, ai.ImpersonateGroups = user, groups
	}
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}
