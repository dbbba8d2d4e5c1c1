package autoscaler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rabbitscale/rabbitscale/policy"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// writes lists the API writes the fake clientset saw since the informers
// started, as "verb resource/subresource name".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.kube.Actions() {
		switch a.GetVerb() {
		case "list", "watch", "get":
			continue
		}
		name := ""
		switch a := a.(type) {
		case k8stesting.UpdateAction:
			if m, err := meta.Accessor(a.GetObject()); err == nil {
				name = m.GetName()
			}
		case interface{ GetName() string }:
			name = a.GetName()
		}
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		out = append(out, a.GetVerb()+" "+res+" "+name)
	}
	return out
}

// sync is the per-workload entry point: one call reads the workload's
// broker, decides, scales through the subresource and writes the
// annotations, and touches no other workload.
func TestSyncOneWorkload(t *testing.T) {
	f := newFixture(t, false,
		deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")),
		deployment("other", 1, ann("mail", "target-depth-per-pod", "10")))
	f.broker.depth["jobs"] = 700
	f.broker.depth["mail"] = 500
	f.kube.ClearActions()

	d, err := f.ctrl.sync(context.Background(), "Deployment/ns/worker")
	if err != nil {
		t.Fatal(err)
	}
	if d.Current != 2 || d.Desired != 7 || !d.Apply {
		t.Errorf("decision = %d -> %d (apply %v), want 2 -> 7 applied", d.Current, d.Desired, d.Apply)
	}
	want := []string{"update deployments/scale worker", "patch deployments worker"}
	if diff := cmp.Diff(want, f.writes()); diff != "" {
		t.Errorf("API writes diff (-want +got):\n%s", diff)
	}
	if f.broker.reads != 1 {
		t.Errorf("broker reads = %d, want 1", f.broker.reads)
	}
	if got := f.replicas("other"); got != 1 {
		t.Errorf("the other workload has %d replicas, want 1: sync must touch only its own", got)
	}
	if diff := cmp.Diff([]string{"Normal Rescaled depth 700 > 2 pods x 100 wants 7; scale 2 -> 7"}, f.events()); diff != "" {
		t.Errorf("events diff (-want +got):\n%s", diff)
	}

	// The same decision again a second later: within the cooldowns, the
	// replicas hold, and the annotations are not rewritten.
	f.clock.Step(time.Second)
	if err := waitForReplicas(f, "worker", 7); err != nil {
		t.Fatal(err)
	}
	f.kube.ClearActions()
	if _, err := f.ctrl.sync(context.Background(), "Deployment/ns/worker"); err != nil {
		t.Fatal(err)
	}
	if got := f.writes(); len(got) != 0 {
		t.Errorf("second sync wrote %q, want nothing", got)
	}
}

func TestSyncKeys(t *testing.T) {
	f := newFixture(t, false, deployment("plain", 3, nil))
	for _, key := range []string{"Deployment/ns/gone", "Deployment/ns/plain", "StatefulSet/ns/gone"} {
		if d, err := f.ctrl.sync(context.Background(), key); err != nil || d.Apply {
			t.Errorf("sync(%q) = %+v, %v; want nothing to do and no error", key, d, err)
		}
	}
	for _, key := range []string{"ns/worker", "Pod/ns/worker"} {
		if _, err := f.ctrl.sync(context.Background(), key); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("sync(%q) error = %v, want one that names the key", key, err)
		}
	}
	if got := f.writes(); len(got) != 0 {
		t.Errorf("syncs of absent or unannotated workloads wrote %q", got)
	}
}

// waitForReplicas waits until the informer's copy of a Deployment shows
// the replicas, so that the next sync decides from it.
func waitForReplicas(f *fixture, name string, want int32) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := f.ctrl.in("ns").deploys.Deployments("ns").Get(name)
		if err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == want {
			return nil
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriteDue(t *testing.T) {
	same := written{durable: "d1", summary: "hold"}
	tests := []struct {
		name string
		a    annotationCheck
		want bool
	}{
		{"a change of replicas writes at once",
			annotationCheck{scaled: true, state: "s1", persisted: "s1", news: same, written: same}, true},
		{"nothing would change: no write, even when a refresh is due",
			annotationCheck{state: "s1", persisted: "s1", news: same, written: same, refreshDue: true, sinceWrite: time.Hour, rewriteAfter: time.Minute}, false},
		{"only the busy state moved: written at the refresh",
			annotationCheck{state: "s2", persisted: "s1", news: same, written: same, refreshDue: true}, true},
		{"only the busy state moved: not before the refresh",
			annotationCheck{state: "s2", persisted: "s1", news: same, written: same, sinceWrite: time.Hour, rewriteAfter: time.Minute}, false},
		{"a new gist, soon after the last write: waits",
			annotationCheck{state: "s2", persisted: "s1", news: written{durable: "d1", summary: "up"}, written: same, sinceWrite: 10 * time.Second, rewriteAfter: 30 * time.Second}, false},
		{"a new gist, once rewriteAfter passed",
			annotationCheck{state: "s2", persisted: "s1", news: written{durable: "d1", summary: "up"}, written: same, sinceWrite: 30 * time.Second, rewriteAfter: 30 * time.Second}, true},
		{"a new durable state, once rewriteAfter passed",
			annotationCheck{state: "s2", persisted: "s1", news: written{durable: "d2", summary: "hold"}, written: same, sinceWrite: time.Minute, rewriteAfter: 30 * time.Second}, true},
		{"a new gist with the same state encoding",
			annotationCheck{state: "s1", persisted: "s1", news: written{durable: "d1", summary: "up"}, written: same, sinceWrite: time.Minute, rewriteAfter: 30 * time.Second}, true},
	}
	for _, tt := range tests {
		if got := writeDue(tt.a); got != tt.want {
			t.Errorf("%s: writeDue = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A fleet whose decisions are all news at once (here a first start: no
// decision written yet) gets its annotations written a budget per tick,
// while a workload that scales is written at once whatever the budget.
func TestAnnotationWritesPerTickSpareScaling(t *testing.T) {
	var objs []runtime.Object
	for i := range 5 {
		objs = append(objs, deployment(fmt.Sprintf("idle-%d", i), 1, ann("idle", "target-depth-per-pod", "100")))
	}
	objs = append(objs, deployment("busy", 1, ann("jobs", "target-depth-per-pod", "100")))
	f := newFixtureWith(t, func(c *Config) { c.AnnotationWritesPerTick = 2 }, objs...)
	f.broker.depth["idle"] = 50
	f.broker.depth["jobs"] = 500

	written := func() (n int) {
		for i := range 5 {
			if f.annotation(fmt.Sprintf("idle-%d", i), policy.DecisionAnnotation) != "" {
				n++
			}
		}
		return n
	}
	res := f.ctrl.Tick(context.Background())
	if got := f.replicas("busy"); got != 5 {
		t.Errorf("busy has %d replicas after the first tick, want 5: scaling must not wait for the budget", got)
	}
	if f.annotation("busy", policy.DecisionAnnotation) == "" {
		t.Error("busy's decision is not written with its scale-up")
	}
	if got := written(); got != 2 || res.Deferred != 3 {
		t.Errorf("first tick wrote %d idle decisions and deferred %d, want 2 and 3", got, res.Deferred)
	}
	for tick, want := range []int{4, 5, 5} {
		f.clock.Step(5 * time.Second)
		res := f.ctrl.Tick(context.Background())
		if got := written(); got != want {
			t.Errorf("after tick %d: %d idle decisions written, want %d (deferred %d)", tick+2, got, want, res.Deferred)
		}
	}
}

func TestAnnotationWriteBudget(t *testing.T) {
	for _, tt := range []struct {
		qps      float32
		interval time.Duration
		want     int
	}{{50, 5 * time.Second, 62}, {50, time.Second, 12}, {1, 100 * time.Millisecond, 1}} {
		if got := AnnotationWriteBudget(tt.qps, tt.interval); got != tt.want {
			t.Errorf("AnnotationWriteBudget(%v, %s) = %d, want %d", tt.qps, tt.interval, got, tt.want)
		}
	}
}

// Decisions is each workload's latest decision, tick by tick, even while
// the annotations wait for their next write; a deleted workload leaves it.
func TestDecisionsAreLive(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.depth["jobs"] = 700
	f.ctrl.Tick(context.Background())
	got := f.ctrl.Decisions()
	if len(got) != 1 || got[0].Name != "worker" || got[0].Decision.Reason != "depth 700 > 2 pods x 100 wants 7; scale 2 -> 7" || !got[0].At.Equal(t0) {
		t.Fatalf("Decisions after the first tick = %+v", got)
	}
	if err := waitForReplicas(f, "worker", 7); err != nil {
		t.Fatal(err)
	}
	// The queue drains a second later: the live decision says so at once,
	// the annotation (written 1 s ago) still has the scale-up.
	f.broker.depth["jobs"] = 0
	f.clock.Step(time.Second)
	f.ctrl.Tick(context.Background())
	live := f.ctrl.Decisions()[0].Decision
	stored, err := policy.DecodeDecision(f.annotation("worker", policy.DecisionAnnotation))
	if err != nil {
		t.Fatal(err)
	}
	if live.Signals.Depth.Value != 0 || stored.Signals.Depth.Value != 700 {
		t.Errorf("live depth %v and annotated depth %v, want 0 and 700", live.Signals.Depth.Value, stored.Signals.Depth.Value)
	}
	if err := f.kube.AppsV1().Deployments("ns").Delete(context.Background(), "worker", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.ctrl.Decisions()) > 0 && time.Now().Before(deadline) {
		f.ctrl.Tick(context.Background())
		time.Sleep(time.Millisecond)
	}
	if got := f.ctrl.Decisions(); len(got) != 0 {
		t.Errorf("Decisions after the workload was deleted = %+v, want none", got)
	}
}
