package autoscaler

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// consumerBroker is a fakeBroker that also lists consumers, as a
// management API reader does.
type consumerBroker struct {
	*fakeBroker
	consumers []queue.Consumer
	err       error
	calls     int
}

func (b *consumerBroker) Consumers(_ context.Context, vhost string) ([]queue.Consumer, error) {
	b.calls++
	if b.err != nil {
		return nil, b.err
	}
	var out []queue.Consumer
	for _, c := range b.consumers {
		if c.Queue.Vhost == vhost {
			out = append(out, c)
		}
	}
	return out, nil
}

func consumer(q, channel, peer string, unacked int64) queue.Consumer {
	return queue.Consumer{Queue: queue.QueueKey{Vhost: "/", Name: q}, Channel: channel, PeerHost: peer,
		Unacked: unacked, UnackedAvailable: true}
}

func podAt(name, ip string, ann map[string]string) *corev1.Pod {
	p := readyPod("ns", "worker", name)
	p.Status.PodIP = ip
	p.Annotations = ann
	return p
}

// idleFixture has a Deployment of 4 pods on queue jobs that is about to be
// scaled down to 1 (depth 50, 100 per pod) on its second tick.
func idleFixture(t *testing.T, b *consumerBroker, objs ...runtime.Object) *fixture {
	t.Helper()
	return idleFixtureWith(t, b, func(*Config) {}, objs...)
}

func idleFixtureWith(t *testing.T, b *consumerBroker, configure func(*Config), objs ...runtime.Object) *fixture {
	t.Helper()
	objs = append(objs, cpuDeployment("ns", "worker", 4, ann("jobs", "target-depth-per-pod", "100", "scale-down-cooldown", "10s")))
	f := newFixtureWith(t, func(c *Config) { c.Brokers = map[string]Snapshotter{"default": b}; configure(c) }, objs...)
	b.fakeBroker = f.broker
	f.broker.depth["jobs"] = 50
	return f
}

func (f *fixture) podAnnotations() map[string]map[string]string {
	f.t.Helper()
	pods, err := f.kube.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = p.Annotations
	}
	return out
}

func (f *fixture) podWrites() []string {
	var out []string
	for _, a := range f.kube.Actions() {
		if a.GetResource().Resource == "pods" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, fmt.Sprintf("%s %s", a.GetVerb(), a.(k8stesting.PatchAction).GetName()))
		}
	}
	return out
}

func TestScaleDownMarksBusyPodsBeforeScaling(t *testing.T) {
	b := &consumerBroker{consumers: []queue.Consumer{
		consumer("jobs", "ch1", "10.0.0.1", 7),
		consumer("jobs", "ch1", "10.0.0.1", 7), // a second consumer on the same channel: counted once
		consumer("jobs", "ch4", "::ffff:10.0.0.1", 2),
		consumer("other", "ch2", "10.0.0.2", 100), // another workload's queue
		consumer("jobs", "ch3", "10.0.0.3", 3),
		consumer("jobs", "ch5", "10.9.9.9", 50), // behind a proxy: no pod
	}}
	owned := func(v string) map[string]string {
		return map[string]string{DeletionCostAnnotation: v, OwnedCostAnnotation: v}
	}
	f := idleFixture(t, b,
		podAt("worker-busy", "10.0.0.1", nil),
		podAt("worker-was-busy", "10.0.0.2", owned("5")),
		podAt("worker-user-cost", "10.0.0.3", map[string]string{DeletionCostAnnotation: "-100"}),
		podAt("worker-quiet", "10.0.0.4", nil))

	f.ctrl.Tick(context.Background())
	if b.calls != 0 || len(f.podWrites()) != 0 {
		t.Fatalf("a tick without a scale-down read the consumers %d times and wrote pods %q; want neither", b.calls, f.podWrites())
	}
	f.clock.Step(11 * time.Second)
	f.ctrl.Tick(context.Background())

	if got := f.replicas("worker"); got != 1 {
		t.Fatalf("replicas = %d, want the scale-down to 1", got)
	}
	if b.calls != 1 {
		t.Errorf("consumers read %d times for one scale-down, want 1", b.calls)
	}
	want := map[string]map[string]string{
		"worker-busy":      owned("9"),
		"worker-was-busy":  nil,
		"worker-user-cost": {DeletionCostAnnotation: "-100"},
		"worker-quiet":     nil,
	}
	if diff := cmp.Diff(want, f.podAnnotations(), cmp.Transformer("emptyIsNil", func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		return m
	})); diff != "" {
		t.Errorf("pod annotations after the scale-down diff (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"patch worker-busy", "patch worker-was-busy"}, f.podWrites()); diff != "" {
		t.Errorf("pod writes diff (-want +got):\n%s", diff)
	}
	// The ReplicaSet must see the costs before it sees fewer replicas.
	var order []string
	for _, a := range f.kube.Actions() {
		switch {
		case a.GetVerb() == "patch" && a.GetResource().Resource == "pods":
			order = append(order, "pod cost")
		case a.GetVerb() == "update" && a.GetSubresource() == "scale":
			order = append(order, "scale")
		}
	}
	if diff := cmp.Diff([]string{"pod cost", "pod cost", "scale"}, order); diff != "" {
		t.Errorf("order of writes diff (-want +got):\n%s", diff)
	}
}

func TestBusyCostIsBounded(t *testing.T) {
	got := deletionCosts([]*corev1.Pod{podAt("p", "10.0.0.1", nil)}, unacked("10.0.0.1", 5_000_000_000))
	if diff := cmp.Diff(map[string]string{"p": "1000000"}, got); diff != "" {
		t.Errorf("costs diff (-want +got):\n%s", diff)
	}
}

func TestPodsSharingAnIPAreNotMarked(t *testing.T) {
	// Host-network pods share their node's IP: a consumer there cannot be
	// told apart.
	got := deletionCosts([]*corev1.Pod{podAt("a", "10.0.0.1", nil), podAt("b", "10.0.0.1", nil), podAt("c", "10.0.0.2", nil)},
		unacked("10.0.0.1", 5))
	if diff := cmp.Diff(map[string]string{"c": ""}, got); diff != "" {
		t.Errorf("costs diff (-want +got):\n%s", diff)
	}
}

func TestScaleDownProceedsWithoutConsumerDetails(t *testing.T) {
	b := &consumerBroker{err: fmt.Errorf("reading consumers: %w", queue.ErrConsumersUnsupported)}
	f := idleFixture(t, b, podAt("worker-a", "10.0.0.1", nil))

	f.ctrl.Tick(context.Background())
	f.clock.Step(11 * time.Second)
	f.ctrl.Tick(context.Background())

	if got := f.replicas("worker"); got != 1 {
		t.Errorf("replicas = %d, want the scale-down to 1 even though the broker cannot list consumers", got)
	}
	if w := f.podWrites(); len(w) != 0 {
		t.Errorf("pod writes = %q, want none", w)
	}
}

func TestStatefulSetsAreNotMarked(t *testing.T) {
	b := &consumerBroker{consumers: []queue.Consumer{consumer("jobs", "ch1", "10.0.0.1", 7)}}
	f := idleFixture(t, b, podAt("worker-0", "10.0.0.1", nil))
	w := fromDeployment(cpuDeployment("ns", "worker", 4, nil))
	w.Kind = KindStatefulSet
	f.ctrl.markIdleFirst(context.Background(), &parsedWorkload{workload: &w, spec: policy.Spec{Broker: "default", Queue: policy.QueueSelector{Vhost: "/", Names: []string{"jobs"}}}})
	if b.calls != 0 || len(f.podWrites()) != 0 {
		t.Errorf("a StatefulSet scale-down read the consumers %d times and wrote pods %q; want neither (it removes the highest ordinal)", b.calls, f.podWrites())
	}
}

func unacked(ip string, n int64) map[netip.Addr]int64 {
	return map[netip.Addr]int64{netip.MustParseAddr(ip): n}
}

// With idle-first off the controller never reads consumers nor writes a
// pod, so its RBAC needs no pod patch; the scale-down itself goes ahead.
func TestIdleFirstOffWritesNoPods(t *testing.T) {
	b := &consumerBroker{consumers: []queue.Consumer{consumer("jobs", "ch1", "10.0.0.1", 7)}}
	f := idleFixtureWith(t, b, func(c *Config) { c.SkipIdleFirst = true }, podAt("worker-busy", "10.0.0.1", nil))
	f.ctrl.Tick(context.Background())
	f.clock.Step(11 * time.Second)
	f.ctrl.Tick(context.Background())
	if got := f.replicas("worker"); got != 1 {
		t.Fatalf("replicas = %d, want the scale-down to 1", got)
	}
	if b.calls != 0 || len(f.podWrites()) != 0 {
		t.Errorf("with idle-first off: consumers read %d times and pods written %q; want neither", b.calls, f.podWrites())
	}
}
