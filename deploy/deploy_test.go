package deploy_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/deploy"
	"github.com/rabbitscale/rabbitscale/policy"
)

func TestBaseBuildsEveryObjectIntoItsNamespace(t *testing.T) {
	objs, err := deploy.Build("base")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
		switch o.GetKind() {
		case "Namespace", "ClusterRole", "ClusterRoleBinding":
		default:
			if o.GetNamespace() != "rabbitscale" {
				t.Errorf("%s/%s is in namespace %q, want rabbitscale", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"ClusterRole/rabbitscale", "ClusterRoleBinding/rabbitscale", "ConfigMap/rabbitscale-brokers",
		"Deployment/rabbitscale", "Namespace/rabbitscale", "PodDisruptionBudget/rabbitscale",
		"Role/rabbitscale-leader-election", "RoleBinding/rabbitscale-leader-election",
		"Service/rabbitscale", "ServiceAccount/rabbitscale",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects diff (-want +got):\n%s", diff)
	}
}

func TestControllerDeploymentIsLockedDown(t *testing.T) {
	objs, err := deploy.Build("base")
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				t.Fatal(err)
			}
		}
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	type posture struct {
		Replicas                                   int32
		Image                                      string
		RunAsNonRoot, ReadOnlyRoot, PrivEscalation bool
		Drop                                       []string
		Seccomp                                    string
		Probes, Limits, AntiAffinity               bool
	}
	got := posture{
		Replicas:       ptr.Deref(d.Spec.Replicas, 0),
		Image:          c.Image,
		RunAsNonRoot:   ptr.Deref(pod.SecurityContext.RunAsNonRoot, false),
		ReadOnlyRoot:   ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false),
		PrivEscalation: ptr.Deref(c.SecurityContext.AllowPrivilegeEscalation, true),
		Seccomp:        string(pod.SecurityContext.SeccompProfile.Type),
		Probes:         c.LivenessProbe != nil && c.ReadinessProbe != nil,
		Limits:         !c.Resources.Limits.Memory().IsZero() && !c.Resources.Requests.Cpu().IsZero(),
		AntiAffinity:   pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil,
	}
	for _, cp := range c.SecurityContext.Capabilities.Drop {
		got.Drop = append(got.Drop, string(cp))
	}
	want := posture{Replicas: 2, Image: "ghcr.io/rabbitscale/rabbitscale:0.1.0", RunAsNonRoot: true, ReadOnlyRoot: true,
		Drop: []string{"ALL"}, Seccomp: "RuntimeDefault", Probes: true, Limits: true, AntiAffinity: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("controller pod posture diff (-want +got):\n%s", diff)
	}
}

func TestExampleAnnotationsAreValid(t *testing.T) {
	objs, err := deploy.ReadFile("examples/workers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 {
		t.Fatalf("%d examples, want 4 (depth, rate-aware, CPU, scale to zero)", len(objs))
	}
	for _, o := range objs {
		if _, err := policy.ParseSpec(o.GetAnnotations()); err != nil {
			t.Errorf("examples/workers.yaml %s: %v", o.GetName(), err)
		}
	}
}
