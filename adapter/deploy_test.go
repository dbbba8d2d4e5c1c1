package adapter

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rabbitscale/rabbitscale/deploy"
)

// TestAdapterManifests checks that deploy/adapter wires what a user
// applies: the APIService reaches the Service, the Service the container's
// serving port, and the RBAC the aggregator pattern needs.
func TestAdapterManifests(t *testing.T) {
	objs, err := deploy.Build("adapter")
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	var bindings []string
	for _, o := range objs {
		byKind[o.GetKind()] = o
		if o.GetKind() == "RoleBinding" || o.GetKind() == "ClusterRoleBinding" {
			role, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
			bindings = append(bindings, o.GetNamespace()+"/"+role)
		}
	}
	slices.Sort(bindings)
	wantBindings := []string{"/rabbitscale-adapter", "/rabbitscale-external-metrics-reader", "/system:auth-delegator", "kube-system/extension-apiserver-authentication-reader"}
	if diff := cmp.Diff(wantBindings, bindings); diff != "" {
		t.Errorf("role bindings namespace/role (-want +got):\n%s", diff)
	}
	for _, kind := range []string{"ServiceAccount", "Deployment", "Service", "APIService", "ClusterRole"} {
		if byKind[kind] == nil {
			t.Fatalf("no %s in deploy/adapter", kind)
		}
	}
	api, svc, dep := byKind["APIService"], byKind["Service"], byKind["Deployment"]
	if api.GetName() != "v1beta1.external.metrics.k8s.io" {
		t.Errorf("APIService %s, want v1beta1.external.metrics.k8s.io", api.GetName())
	}
	svcName, _, _ := unstructured.NestedString(api.Object, "spec", "service", "name")
	svcNS, _, _ := unstructured.NestedString(api.Object, "spec", "service", "namespace")
	apiPort, _, _ := unstructured.NestedFieldNoCopy(api.Object, "spec", "service", "port")
	if svcName != svc.GetName() || svcNS != svc.GetNamespace() {
		t.Errorf("APIService points at %s/%s, the Service is %s/%s", svcNS, svcName, svc.GetNamespace(), svc.GetName())
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	port := ports[0].(map[string]any)
	if fmt.Sprint(port["port"]) != fmt.Sprint(apiPort) || port["targetPort"] != "https" {
		t.Errorf("Service port %v -> %v, want %v -> https", port["port"], port["targetPort"], apiPort)
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	// The image's entrypoint is the controller: the adapter is its own
	// binary, with flags only (no subcommand word).
	if diff := cmp.Diff([]any{"/rabbitscale-adapter"}, c["command"]); diff != "" {
		t.Errorf("container command (-want +got):\n%s", diff)
	}
	args, _ := c["args"].([]any)
	for _, a := range args {
		if s, _ := a.(string); !strings.HasPrefix(s, "--") {
			t.Errorf("container arg %q is not a flag: rabbitscale-adapter takes no subcommand", a)
		}
	}
	cport := c["ports"].([]any)[0].(map[string]any)
	if !slices.Contains(args, any(fmt.Sprintf("--secure-port=%v", cport["containerPort"]))) || cport["name"] != "https" {
		t.Errorf("container args %v and port %v: want the adapter serving on the https containerPort", args, cport)
	}
}
