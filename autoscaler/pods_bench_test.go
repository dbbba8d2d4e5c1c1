package autoscaler

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// realisticPod is a worker pod as the API server returns it: managed
// fields, a sidecar, environment, volumes and a full status.
func realisticPod(i int) *corev1.Pod {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	container := func(name string) corev1.Container {
		c := corev1.Container{
			Name:  name,
			Image: "registry.example.com/team/" + name + ":1.4.2",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/worker"}, {Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
		}
		for j := range 8 {
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("WORKER_SETTING_%d", j), Value: "some-value-of-moderate-length"})
		}
		return c
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", Name: fmt.Sprintf("orders-worker-7d9f8c6b5-%05d", i), UID: "0f8fad5b-d9cb-469f-a165-70867728950e",
			ResourceVersion: "123456789", CreationTimestamp: now,
			Labels:          map[string]string{"app": "orders-worker", "pod-template-hash": "7d9f8c6b5", "team": "shop"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": now.String(), "prometheus.io/scrape": "true"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "orders-worker-7d9f8c6b5", UID: "1f8fad5b-d9cb-469f-a165-70867728950e"}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1",
					FieldsV1: metav1.NewFieldsV1(strings.Repeat("x", 2048))},
				{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1", Subresource: "status",
					FieldsV1: metav1.NewFieldsV1(strings.Repeat("x", 1536))},
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{container("worker"), container("sidecar")},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "worker-config"}}}},
				{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			},
			NodeName: "node-17", ServiceAccountName: "orders-worker",
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.3.17", HostIP: "10.0.0.17", StartTime: &now,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "worker", Ready: true, Image: "registry.example.com/team/worker:1.4.2", ImageID: "registry.example.com/team/worker@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", ContainerID: "containerd://0123456789abcdef0123456789abcdef"},
				{Name: "sidecar", Ready: true, Image: "registry.example.com/team/sidecar:1.4.2", ImageID: "registry.example.com/team/sidecar@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", ContainerID: "containerd://fedcba9876543210fedcba9876543210"},
			},
		},
	}
}

// BenchmarkPodCache measures what the pod informer's store holds per pod,
// as the heap grows while 3,000 pods (1,000 workloads of 3) are added,
// with the controller's transform (StripPod) and without:
//
//	go test ./autoscaler -run '^$' -bench BenchmarkPodCache -benchtime 3x
func BenchmarkPodCache(b *testing.B) {
	const pods = 3000
	for _, tt := range []struct {
		name      string
		transform func(any) (any, error)
	}{
		{"as served", func(o any) (any, error) { return o, nil }},
		{"StripPod", StripPod},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var perPod float64
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				store := cache.NewStore(cache.MetaNamespaceKeyFunc)
				for i := range pods {
					obj, err := tt.transform(realisticPod(i))
					if err != nil {
						b.Fatal(err)
					}
					if err := store.Add(obj); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perPod = float64(after.HeapAlloc-before.HeapAlloc) / pods
				runtime.KeepAlive(store)
			}
			b.ReportMetric(perPod, "B/pod")
			b.ReportMetric(perPod*pods/(1<<20), "MiB/3000pods")
		})
	}
}
