package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/policy"
)

// fakeMetrics is the metrics.k8s.io API on the k8s.io/metrics fake
// clientset: PodMetrics per namespace, an error to answer with, and the
// List calls made per namespace.
type fakeMetrics struct {
	client *metricsfake.Clientset
	pods   map[string][]metricsv1beta1.PodMetrics
	err    error
	lists  map[string]int
}

func newFakeMetrics() *fakeMetrics {
	m := &fakeMetrics{client: metricsfake.NewSimpleClientset(), pods: map[string][]metricsv1beta1.PodMetrics{}, lists: map[string]int{}}
	// PodMetrics are served at .../pods, which the fake's object tracker
	// cannot guess from the kind; answer the List directly.
	m.client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		m.lists[a.GetNamespace()]++
		if m.err != nil {
			return true, nil, m.err
		}
		return true, &metricsv1beta1.PodMetricsList{Items: m.pods[a.GetNamespace()]}, nil
	})
	return m
}

// sample records a CPU sample for a pod, taken at ts over a 30 s window.
func (m *fakeMetrics) sample(ns, pod string, milli int64, ts time.Time) {
	m.pods[ns] = append(m.pods[ns], metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod},
		Timestamp:  metav1.NewTime(ts),
		Window:     metav1.Duration{Duration: 30 * time.Second},
		Containers: []metricsv1beta1.ContainerMetrics{{Name: "worker",
			Usage: corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(milli, resource.DecimalSI)}}},
	})
}

// cpuDeployment selects the pods labelled app=name.
func cpuDeployment(ns, name string, replicas int32, a map[string]string) *appsv1.Deployment {
	d := deployment(name, replicas, a)
	d.Namespace = ns
	d.UID = k8stypes.UID("uid-" + ns + "-" + name)
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	return d
}

type podOpt func(*corev1.Pod)

// readyPod is a running pod of app, started long ago (past the CPU
// initialization period) and ready since, requesting 500m.
func readyPod(ns, app, name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			StartTime: ptr.To(metav1.NewTime(t0.Add(-time.Hour))),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(t0.Add(-59 * time.Minute))}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func startedAgo(d time.Duration, readyFor time.Duration, status corev1.ConditionStatus) podOpt {
	return func(p *corev1.Pod) {
		p.Status.StartTime = ptr.To(metav1.NewTime(t0.Add(-d)))
		p.Status.Conditions[0].Status = status
		p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(-readyFor))
	}
}

func deleting(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }

func withMetrics(m *fakeMetrics) func(*Config) {
	return func(c *Config) { c.PodMetrics = NewPodMetricsLister(m.client) }
}

func TestCPUDrivesAScaleUp(t *testing.T) {
	m := newFakeMetrics()
	m.sample("ns", "worker-a", 500, t0.Add(-10*time.Second))
	m.sample("ns", "worker-b", 500, t0.Add(-10*time.Second))
	f := newFixtureWith(t, withMetrics(m),
		cpuDeployment("ns", "worker", 2, ann("jobs", "target-depth-per-pod", "100", "target-cpu-utilization", "50", "max-replicas", "10")),
		readyPod("ns", "worker", "worker-a"), readyPod("ns", "worker", "worker-b"))
	f.broker.depth["jobs"] = 150 // 2 pods by depth

	res := f.ctrl.Tick(context.Background())

	if got := f.replicas("worker"); got != 4 {
		t.Errorf("replicas = %d, want 4 (2 pods at 100%% of their request, target 50%%)", got)
	}
	if d := res.Decisions["Deployment/ns/worker"]; d.DrivenBy != policy.DrivenByCPU {
		t.Errorf("decision driven by %q (%s), want cpu", d.DrivenBy, d.Reason)
	}
	evs := f.events()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Normal Rescaled cpu 100") {
		t.Errorf("events = %q, want one Rescaled event naming cpu 100%%", evs)
	}
}

// TestCPUClassifiesPodsAsTheHPADoes checks each of the HPA's groupPods
// rules on the observation the policy gets.
func TestCPUClassifiesPodsAsTheHPADoes(t *testing.T) {
	sampled := t0.Add(-10 * time.Second)
	tests := []struct {
		name   string
		pod    *corev1.Pod
		sample bool
		want   []policy.PodCPU // nil: the pod is left out
	}{
		{"ready with a sample", readyPod("ns", "w", "p"), true,
			[]policy.PodCPU{{Ready: true, HasMetric: true, UsageMilli: 400, RequestMilli: 500}}},
		{"ready without a sample is missing", readyPod("ns", "w", "p"), false,
			[]policy.PodCPU{{Ready: true, RequestMilli: 500}}},
		{"pending is unready even with a sample", readyPod("ns", "w", "p", phase(corev1.PodPending)), true,
			[]policy.PodCPU{{RequestMilli: 500}}},
		{"pending without a sample is unready, not missing", readyPod("ns", "w", "p", phase(corev1.PodPending)), false,
			[]policy.PodCPU{{RequestMilli: 500}}},
		{"failed is left out", readyPod("ns", "w", "p", phase(corev1.PodFailed)), true, nil},
		{"being deleted is left out", readyPod("ns", "w", "p", deleting), true, nil},
		{"in the initialization period and not ready", readyPod("ns", "w", "p", startedAgo(2*time.Minute, time.Minute, corev1.ConditionFalse)), true,
			[]policy.PodCPU{{HasMetric: true, UsageMilli: 400, RequestMilli: 500}}},
		{"in the initialization period, ready since before the sample's window", readyPod("ns", "w", "p", startedAgo(2*time.Minute, time.Minute, corev1.ConditionTrue)), true,
			[]policy.PodCPU{{Ready: true, HasMetric: true, UsageMilli: 400, RequestMilli: 500}}},
		{"in the initialization period, ready within the sample's window", readyPod("ns", "w", "p", startedAgo(2*time.Minute, 20*time.Second, corev1.ConditionTrue)), true,
			[]policy.PodCPU{{HasMetric: true, UsageMilli: 400, RequestMilli: 500}}},
		{"past the initialization period, unready and never ready", readyPod("ns", "w", "p", startedAgo(time.Hour, time.Hour-10*time.Second, corev1.ConditionFalse)), true,
			[]policy.PodCPU{{HasMetric: true, UsageMilli: 400, RequestMilli: 500}}},
		{"past the initialization period, unready after having been ready", readyPod("ns", "w", "p", startedAgo(time.Hour, time.Minute, corev1.ConditionFalse)), true,
			[]policy.PodCPU{{Ready: true, HasMetric: true, UsageMilli: 400, RequestMilli: 500}}},
		{"no Ready condition", readyPod("ns", "w", "p", func(p *corev1.Pod) { p.Status.Conditions = nil }), true,
			[]policy.PodCPU{{HasMetric: true, UsageMilli: 400, RequestMilli: 500}}},
		{"a container without a CPU request", readyPod("ns", "w", "p", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar"})
		}), true, []policy.PodCPU{{Ready: true, HasMetric: true, UsageMilli: 400}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeMetrics()
			if tt.sample {
				m.sample("ns", "p", 400, sampled)
			}
			f := newFixtureWith(t, withMetrics(m),
				cpuDeployment("ns", "w", 1, ann("jobs", "target-depth-per-pod", "100", "target-cpu-utilization", "50")), tt.pod)
			f.broker.depth["jobs"] = 50
			ps := []parsedWorkload{{workload: ptr.To(fromDeployment(cpuDeployment("ns", "w", 1, nil))),
				spec: policy.Spec{TargetCPUUtilization: 50}}}
			got := f.ctrl.readCPU(context.Background(), ps, t0)["Deployment/ns/w"]
			if got.err != nil {
				t.Fatalf("readCPU: %v", got.err)
			}
			want := policy.CPUObservation{Available: true, Pods: tt.want}
			if diff := cmp.Diff(want, got.obs); diff != "" {
				t.Errorf("observation diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCPUMissingPodsHoldAScaleDown runs the HPA's rebalancing through a
// tick: pods without a sample count as 100% of their request when CPU
// points down, so two quiet pods do not take down two pods whose usage is
// unknown, while the same pods all sampled quiet do come down.
func TestCPUMissingPodsHoldAScaleDown(t *testing.T) {
	tests := []struct {
		name    string
		sampled []string
		want    int32
	}{
		{"every pod sampled at 10%", []string{"worker-a", "worker-b", "worker-c", "worker-d"}, 1},
		{"two pods missing", []string{"worker-a", "worker-b"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeMetrics()
			for _, p := range tt.sampled {
				m.sample("ns", p, 50, t0.Add(-10*time.Second))
			}
			f := newFixtureWith(t, withMetrics(m),
				cpuDeployment("ns", "worker", 4, ann("jobs", "target-depth-per-pod", "100", "target-cpu-utilization", "50", "min-replicas", "1",
					"scale-down-cooldown", "10s")),
				readyPod("ns", "worker", "worker-a"), readyPod("ns", "worker", "worker-b"),
				readyPod("ns", "worker", "worker-c"), readyPod("ns", "worker", "worker-d"),
				readyPod("ns", "worker", "worker-pending", phase(corev1.PodPending)),
				readyPod("ns", "worker", "worker-gone", deleting))
			f.broker.depth["jobs"] = 50 // 1 pod by depth

			f.ctrl.Tick(context.Background())
			f.clock.Step(11 * time.Second) // past the scale-down window
			res := f.ctrl.Tick(context.Background())

			if got := f.replicas("worker"); got != tt.want {
				t.Errorf("replicas = %d, want %d; decision: %s", got, tt.want, res.Decisions["Deployment/ns/worker"].Reason)
			}
		})
	}
}

func TestCPUMetricsErrorHoldsAndWarnsOnce(t *testing.T) {
	m := newFakeMetrics()
	m.err = errors.New(`the server is currently unable to handle the request (get pods.metrics.k8s.io)`)
	// Depth holds 6 pods; CPU cannot be read and must not count as idle.
	f := newFixtureWith(t, withMetrics(m),
		cpuDeployment("ns", "worker", 6, ann("jobs", "target-depth-per-pod", "100", "target-cpu-utilization", "50", "scale-down-cooldown", "10s")),
		readyPod("ns", "worker", "worker-a"))
	f.broker.depth["jobs"] = 600

	for range 5 {
		f.ctrl.Tick(context.Background())
		f.clock.Step(5 * time.Second)
	}
	if got := f.replicas("worker"); got != 6 {
		t.Errorf("replicas = %d while the metrics API fails, want 6 held", got)
	}
	want := []string{"Warning CPUMetricsUnavailable CPU metrics unavailable, holding on CPU: listing PodMetrics in ns: " + m.err.Error()}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events over 5 ticks diff (-want +got):\n%s", diff)
	}

	// Back: the warning clears, and a later failure is reported again.
	m.err = nil
	m.sample("ns", "worker-a", 250, t0)
	f.ctrl.Tick(context.Background())
	m.err = errors.New("metrics down again")
	f.ctrl.Tick(context.Background())
	if evs := f.events(); len(evs) != 1 || !strings.Contains(evs[0], "metrics down again") {
		t.Errorf("events after recovery and a new failure = %q, want one new CPUMetricsUnavailable warning", evs)
	}
}

func TestCPUWithoutAMetricsClientWarns(t *testing.T) {
	f := newFixture(t, false, cpuDeployment("ns", "worker", 3, ann("jobs", "target-depth-per-pod", "100", "target-cpu-utilization", "50")))
	f.broker.depth["jobs"] = 250
	f.ctrl.Tick(context.Background())
	f.ctrl.Tick(context.Background())
	want := []string{"Warning CPUMetricsUnavailable CPU metrics unavailable, holding on CPU: no metrics.k8s.io client configured"}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events diff (-want +got):\n%s", diff)
	}
	if got := f.replicas("worker"); got != 3 {
		t.Errorf("replicas = %d, want 3 (depth 250 / 100 per pod)", got)
	}
}

func TestCPUListsPodMetricsOncePerNamespacePerTick(t *testing.T) {
	m := newFakeMetrics()
	var objs []runtime.Object
	for _, ns := range []string{"a", "b"} {
		for i := range 5 {
			name := fmt.Sprintf("w%d", i)
			objs = append(objs, cpuDeployment(ns, name, 1, ann("jobs", "target-depth-per-pod", "100", "target-cpu-utilization", "50")),
				readyPod(ns, name, name+"-pod"))
			m.sample(ns, name+"-pod", 100, t0)
		}
	}
	objs = append(objs, cpuDeployment("c", "queue-only", 1, ann("jobs", "target-depth-per-pod", "100")))
	f := newFixtureWith(t, withMetrics(m), objs...)
	f.broker.depth["jobs"] = 50

	f.ctrl.Tick(context.Background())
	f.ctrl.Tick(context.Background())

	want := map[string]int{"a": 2, "b": 2}
	if diff := cmp.Diff(want, m.lists); diff != "" {
		t.Errorf("PodMetrics lists per namespace over 2 ticks with 5 CPU workloads in each of a and b diff (-want +got):\n%s", diff)
	}
}

func TestStripPodKeepsWhatTheControllerReads(t *testing.T) {
	p := readyPod("ns", "worker", "worker-a", deleting)
	p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "worker-6d4"}}
	p.Annotations = map[string]string{DeletionCostAnnotation: "7", OwnedCostAnnotation: "7", "big": strings.Repeat("x", 10000)}
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	p.Spec.Containers[0].Image = "worker:1"
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
	p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	p.Status.PodIP = "10.0.0.7"
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue})
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "worker", Image: "worker:1"}}

	got, err := StripPod(p)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "worker-a", Labels: map[string]string{"app": "worker"},
			OwnerReferences: p.OwnerReferences, DeletionTimestamp: p.DeletionTimestamp,
			Annotations: map[string]string{DeletionCostAnnotation: "7", OwnedCostAnnotation: "7"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.7", StartTime: p.Status.StartTime,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: p.Status.Conditions[0].LastTransitionTime}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stripped pod diff (-want +got):\n%s", diff)
	}
}
