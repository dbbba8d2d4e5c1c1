package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// fakeBroker serves a fixed depth per queue, or an error.
type fakeBroker struct {
	depth map[string]int64
	err   error
	reads int
	scope queue.Scope // of the last read
}

func (f *fakeBroker) Snapshot(_ context.Context, scope queue.Scope) (*queue.Snapshot, error) {
	f.reads++
	f.scope = scope
	if f.err != nil {
		return nil, f.err
	}
	s := queue.NewSnapshot("default", queue.SourceManagement, t0, queue.Coverage{Listed: true})
	for name, d := range f.depth {
		s.Set(queue.QueueKey{Vhost: "/", Name: name}, queue.QueueStats{Ready: d, UnackedAvailable: true})
	}
	return s, nil
}

type fixture struct {
	t        *testing.T
	kube     *fake.Clientset
	broker   *fakeBroker
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
	ctrl     *Controller
}

func deployment(name string, replicas int32, ann map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: k8stypes.UID("uid-" + name), Annotations: ann, ResourceVersion: "1"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
	}
}

func newFixture(t *testing.T, dryRun bool, objs ...runtime.Object) *fixture {
	t.Helper()
	return newFixtureWith(t, func(c *Config) { c.DryRun = dryRun }, objs...)
}

// newFixtureWith lets a test change the controller's configuration (a
// metrics client, another broker reader) before New.
func newFixtureWith(t *testing.T, configure func(*Config), objs ...runtime.Object) *fixture {
	t.Helper()
	return newScopedFixture(t, configure, nil, objs...)
}

// newScopedFixture watches only the given namespaces, one informer
// factory each, as `rabbitscale run --namespaces` does; none watches all.
func newScopedFixture(t *testing.T, configure func(*Config), namespaces []string, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, kube: fake.NewClientset(objs...), broker: &fakeBroker{depth: map[string]int64{}},
		recorder: record.NewFakeRecorder(100), clock: clocktesting.NewFakeClock(t0)}
	f.kube.PrependReactor("get", "deployments", f.getScale)
	f.kube.PrependReactor("update", "deployments", f.updateScale)
	cfg := Config{Kube: f.kube, Brokers: map[string]Snapshotter{"default": f.broker}, Recorder: f.recorder,
		Clock: f.clock, Interval: 5 * time.Second}
	configure(&cfg)
	var scopes []Informers
	if len(namespaces) == 0 {
		scopes = []Informers{{Workloads: informers.NewSharedInformerFactory(f.kube, 0)}}
	}
	for _, ns := range namespaces {
		scopes = append(scopes, Informers{Namespace: ns, Workloads: informers.NewSharedInformerFactoryWithOptions(f.kube, 0, informers.WithNamespace(ns))})
	}
	ctrl, err := New(cfg, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, sc := range scopes {
		sc.Workloads.Start(ctx.Done())
		sc.Workloads.WaitForCacheSync(ctx.Done())
	}
	f.waitForWatches("deployments", "statefulsets", "horizontalpodautoscalers", "pods")
	f.ctrl = ctrl
	return f
}

// waitForWatches waits until the informers watch the given resources. The
// fake clientset hands objects changed between an informer's list and its
// watch to the watch without copying them, so a test that changed one in
// that gap would race with the informer's transform (the API server never
// shares objects that way).
func (f *fixture) waitForWatches(resources ...string) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		watching := map[string]bool{}
		for _, a := range f.kube.Actions() {
			if a.GetVerb() == "watch" {
				watching[a.GetResource().Resource] = true
			}
		}
		missing := slices.DeleteFunc(slices.Clone(resources), func(r string) bool { return watching[r] })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("informers do not watch %v after 10s", missing)
		}
		time.Sleep(time.Millisecond)
	}
}

// getScale and updateScale give the fake clientset the scale subresource,
// backed by the Deployment's spec.replicas and sharing its resourceVersion,
// which an update must match, as the API server's does.
func (f *fixture) getScale(a k8stesting.Action) (bool, runtime.Object, error) {
	if a.GetSubresource() != "scale" {
		return false, nil, nil
	}
	name := a.(k8stesting.GetAction).GetName()
	obj, err := f.kube.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), a.GetNamespace(), name)
	if err != nil {
		return true, nil, err
	}
	d := obj.(*appsv1.Deployment)
	return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name, ResourceVersion: d.ResourceVersion},
		Spec: autoscalingv1.ScaleSpec{Replicas: *d.Spec.Replicas}}, nil
}

func (f *fixture) updateScale(a k8stesting.Action) (bool, runtime.Object, error) {
	if a.GetSubresource() != "scale" {
		return false, nil, nil
	}
	s := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
	gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
	obj, err := f.kube.Tracker().Get(gvr, a.GetNamespace(), s.Name)
	if err != nil {
		return true, nil, err
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	if s.ResourceVersion != "" && s.ResourceVersion != d.ResourceVersion {
		return true, nil, apierrors.NewConflict(gvr.GroupResource(), s.Name, errors.New("the object has been modified"))
	}
	rv, _ := strconv.Atoi(d.ResourceVersion)
	d.ResourceVersion = strconv.Itoa(rv + 1)
	d.Spec.Replicas = ptr.To(s.Spec.Replicas)
	s = s.DeepCopy()
	s.ResourceVersion = d.ResourceVersion
	return true, s, f.kube.Tracker().Update(gvr, d, d.Namespace)
}

func (f *fixture) replicas(name string) int32 {
	f.t.Helper()
	d, err := f.kube.AppsV1().Deployments("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// annotation reads one annotation of a Deployment in ns.
func (f *fixture) annotation(name, key string) string {
	f.t.Helper()
	d, err := f.kube.AppsV1().Deployments("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Annotations[key]
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func ann(queueName string, kv ...string) map[string]string {
	a := map[string]string{policy.KeyQueue: queueName}
	for i := 0; i+1 < len(kv); i += 2 {
		a[policy.Prefix+kv[i]] = kv[i+1]
	}
	return a
}

func TestTickScalesUpOnBacklogAndExplains(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.depth["jobs"] = 700

	res := f.ctrl.Tick(context.Background())

	if got := f.replicas("worker"); got != 7 {
		t.Errorf("replicas = %d, want 7 (700 messages / 100 per pod)", got)
	}
	want := []string{"Normal Rescaled depth 700 > 2 pods x 100 wants 7; scale 2 -> 7"}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events diff (-want +got):\n%s", diff)
	}
	if res.Changed != 1 || res.Workloads != 1 {
		t.Errorf("tick result = %+v, want 1 workload, 1 changed", res)
	}
	d, err := f.kube.AppsV1().Deployments("ns").Get(context.Background(), "worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := policy.DecodeState(d.Annotations[policy.StateAnnotation])
	if err != nil {
		t.Fatalf("state annotation: %v", err)
	}
	if !st.LastScaleUp.Equal(t0) {
		t.Errorf("stored LastScaleUp = %v, want %v so that a restart keeps the cooldown", st.LastScaleUp, t0)
	}
	if !strings.Contains(d.Annotations[policy.DecisionAnnotation], `"reason":"depth 700 > 2 pods x 100 wants 7; scale 2 -> 7"`) {
		t.Errorf("decision annotation = %s, want the reason in it", d.Annotations[policy.DecisionAnnotation])
	}
}

func TestTickReadsEachBrokerOncePerTick(t *testing.T) {
	var objs []runtime.Object
	for i := range 50 {
		objs = append(objs, deployment(fmt.Sprintf("w%d", i), 1, ann(fmt.Sprintf("q%d", i%5), "target-depth-per-pod", "10")))
	}
	f := newFixture(t, false, objs...)
	f.ctrl.Tick(context.Background())
	if f.broker.reads != 1 {
		t.Errorf("50 workloads on one broker made %d reads, want 1", f.broker.reads)
	}
}

func TestTickHoldsAndWarnsOnceWhileBrokerIsDown(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 5, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.err = &queue.BrokerError{Broker: "default", Op: "GET http://rabbit:15672/api/queues", Kind: queue.ErrBrokerUnavailable, Err: errors.New("connection refused")}

	for range 10 {
		f.ctrl.Tick(context.Background())
		f.clock.Step(5 * time.Second)
	}
	if got := f.replicas("worker"); got != 5 {
		t.Errorf("replicas = %d while the broker is down, want 5 held", got)
	}
	want := []string{`Warning BrokerUnavailable broker "default": GET http://rabbit:15672/api/queues: broker unavailable: connection refused`}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events over 10 ticks diff (-want +got):\n%s", diff)
	}
}

func TestTickSkipsInvalidAnnotationsAndScalesOthers(t *testing.T) {
	f := newFixture(t, false,
		deployment("broken", 3, ann("jobs", "target-depth-per-pod", "100", "max-replicas", "ten")),
		deployment("healthy", 1, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.depth["jobs"] = 300
	f.ctrl.Tick(context.Background())
	f.ctrl.Tick(context.Background())

	if got := f.replicas("broken"); got != 3 {
		t.Errorf("broken workload replicas = %d, want 3 untouched", got)
	}
	if got := f.replicas("healthy"); got != 3 {
		t.Errorf("healthy workload replicas = %d, want 3", got)
	}
	var warnings []string
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Warning") {
			warnings = append(warnings, e)
		}
	}
	want := []string{`Warning InvalidAnnotations invalid annotations: rabbitscale.io/max-replicas: "ten" is not an integer`}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings over two ticks diff (-want +got):\n%s", diff)
	}
}

func TestTickLeavesHPATargetsAlone(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "keda-hpa-worker"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "worker", APIVersion: "apps/v1"},
			MaxReplicas:    10,
		},
	}
	f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")), hpa)
	f.broker.depth["jobs"] = 900
	f.ctrl.Tick(context.Background())

	if got := f.replicas("worker"); got != 2 {
		t.Errorf("replicas = %d under an HPA, want 2 untouched", got)
	}
	want := []string{"Warning ConflictingAutoscaler HorizontalPodAutoscaler keda-hpa-worker targets this Deployment; rabbitscale leaves it alone"}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events diff (-want +got):\n%s", diff)
	}
}

func TestGlobalDryRunChangesNothingAndSaysSo(t *testing.T) {
	f := newFixture(t, true, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.depth["jobs"] = 700
	res := f.ctrl.Tick(context.Background())

	if got := f.replicas("worker"); got != 2 {
		t.Errorf("replicas = %d in global dry-run, want 2", got)
	}
	d := res.Decisions["Deployment/ns/worker"]
	if d.Apply || d.Desired != 7 || !strings.HasSuffix(d.Reason, "; dry-run: would scale 2 -> 7") {
		t.Errorf("decision = %+v, want desired 7, not applied, reason saying it would scale", d)
	}
	// The state records no scale-up that never happened: later ticks keep
	// saying what they would do, never "scale-up-cooldown ... hold".
	for range 3 {
		f.clock.Step(5 * time.Second)
		d = f.ctrl.Tick(context.Background()).Decisions["Deployment/ns/worker"]
		if !strings.HasSuffix(d.Reason, "; dry-run: would scale 2 -> 7") {
			t.Errorf("a later dry-run tick says %q, want it to say it would scale 2 -> 7", d.Reason)
		}
	}
	st, err := policy.DecodeState(f.annotation("worker", policy.StateAnnotation))
	if err != nil || !st.LastScaleUp.IsZero() {
		t.Errorf("stored state = %+v, %v; want no scale-up recorded in dry-run", st, err)
	}
}

func TestStaleDecisionIsDroppedNotApplied(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.depth["jobs"] = 700
	// Someone else scales to 4 between the informer's view and the update:
	// the informer's resourceVersion no longer matches, and a read finds 4.
	gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
	f.kube.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if s, ok := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale); ok && s.ResourceVersion == "1" {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), s.Name, errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	f.kube.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "worker", ResourceVersion: "2"},
			Spec: autoscalingv1.ScaleSpec{Replicas: 4}}, nil
	})
	res := f.ctrl.Tick(context.Background())
	if res.Changed != 0 || res.Errors != 0 {
		t.Errorf("tick result = %+v, want nothing changed and no error", res)
	}
	if evs := f.events(); len(evs) != 0 {
		t.Errorf("events = %q, want none for a decision that went stale", evs)
	}
}

// TestScaleFromTheInformersCopy: a change costs one update of the scale
// subresource and one patch of the annotations, with no read of the scale,
// when the informer's copy is current; when it is stale, the update's
// conflict makes the controller read the scale and try again.
func TestScaleFromTheInformersCopy(t *testing.T) {
	scaleCalls := func(f *fixture) []string {
		var calls []string
		for _, a := range f.kube.Actions() {
			if a.GetSubresource() == "scale" {
				calls = append(calls, a.GetVerb())
			}
		}
		f.kube.ClearActions()
		return calls
	}
	t.Run("current copy", func(t *testing.T) {
		f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")))
		f.broker.depth["jobs"] = 700
		f.kube.ClearActions()
		if res := f.ctrl.Tick(context.Background()); res.Changed != 1 {
			t.Fatalf("tick result = %+v, want 1 change", res)
		}
		if diff := cmp.Diff([]string{"update"}, scaleCalls(f)); diff != "" {
			t.Errorf("scale subresource calls diff (-want +got):\n%s", diff)
		}
		if got := f.replicas("worker"); got != 7 {
			t.Errorf("replicas = %d, want 7", got)
		}
	})
	t.Run("stale copy", func(t *testing.T) {
		f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")))
		f.broker.depth["jobs"] = 700
		// Another writer touches the Deployment (not its replicas) just
		// before the controller's first update.
		gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
		f.kube.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if s, ok := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale); ok && s.ResourceVersion == "1" {
				obj, err := f.kube.Tracker().Get(gvr, "ns", "worker")
				if err != nil {
					return true, nil, err
				}
				d := obj.(*appsv1.Deployment).DeepCopy()
				d.ResourceVersion = "2"
				if err := f.kube.Tracker().Update(gvr, d, "ns"); err != nil {
					return true, nil, err
				}
			}
			return false, nil, nil
		})
		f.kube.ClearActions()
		if res := f.ctrl.Tick(context.Background()); res.Changed != 1 {
			t.Fatalf("tick result = %+v, want 1 change", res)
		}
		if diff := cmp.Diff([]string{"update", "get", "update"}, scaleCalls(f)); diff != "" {
			t.Errorf("scale subresource calls diff (-want +got):\n%s", diff)
		}
		if got := f.replicas("worker"); got != 7 {
			t.Errorf("replicas = %d, want 7", got)
		}
	})
}

func TestStripWorkloadKeepsWhatTheControllerReads(t *testing.T) {
	d := deployment("worker", 3, map[string]string{policy.KeyQueue: "jobs", lastApplied: strings.Repeat("x", 10000)})
	d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "worker"}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "worker", Image: "worker:1"}}

	got, err := StripWorkload(d)
	if err != nil {
		t.Fatal(err)
	}
	s := got.(*appsv1.Deployment)
	w := fromDeployment(s)
	if diff := cmp.Diff(map[string]string{policy.KeyQueue: "jobs"}, w.Annotations); diff != "" {
		t.Errorf("annotations diff (-want +got):\n%s", diff)
	}
	if w.Replicas != 3 || w.Selector == nil || s.ManagedFields != nil || len(s.Spec.Template.Spec.Containers) != 0 {
		t.Errorf("stripped = replicas %d, selector %v, managedFields %v, containers %d; want 3, kept, none, none",
			w.Replicas, w.Selector, s.ManagedFields, len(s.Spec.Template.Spec.Containers))
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	f := func() informers.SharedInformerFactory {
		return informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	}
	tests := []struct {
		name   string
		cfg    Config
		scopes []Informers
		want   string
	}{
		{"interval 0", Config{}, []Informers{{Workloads: f()}}, "tick interval must be positive, got 0s"},
		{"no informers", Config{Interval: time.Second}, nil, "no informers"},
		{"namespace twice", Config{Interval: time.Second}, []Informers{{Namespace: "a", Workloads: f()}, {Namespace: "a", Workloads: f()}},
			`informers for namespace "a": want one set watching every namespace, or one per namespace`},
		{"all and one", Config{Interval: time.Second}, []Informers{{Workloads: f()}, {Namespace: "a", Workloads: f()}},
			`informers for namespace "": want one set watching every namespace, or one per namespace`},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, tt.scopes...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

// annotationPatches counts the merge patches of Deployments (the status
// annotations) since the last call, by workload.
func (f *fixture) annotationPatches() map[string]int {
	got := map[string]int{}
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "deployments" {
			got[a.(k8stesting.PatchAction).GetName()]++
		}
	}
	f.kube.ClearActions()
	return got
}

// TestAnnotationsWrittenWhenTheyWouldTellSomethingNew: a busy workload's
// state changes on every tick (its window, its last arrival), but its
// annotations are rewritten only when the decision's gist or the durable
// state changes, and every --state-sync-period to refresh the figures;
// the refreshes of many workloads are spread over the period.
func TestAnnotationsWrittenWhenTheyWouldTellSomethingNew(t *testing.T) {
	var objs []runtime.Object
	for i := range 60 {
		objs = append(objs, deployment(fmt.Sprintf("w%d", i), 5, ann("jobs", "target-depth-per-pod", "100")))
	}
	f := newFixture(t, false, objs...)
	f.broker.depth["jobs"] = 450 // wants 5: hold, with messages always present
	ctx := context.Background()

	f.ctrl.Tick(ctx)
	first := f.annotationPatches()
	if len(first) != 60 {
		t.Fatalf("first tick wrote the annotations of %d workloads, want all 60 (no decision was recorded yet)", len(first))
	}
	// 30 minutes at 5 s: 360 ticks.
	perWorkload := map[string]int{}
	busiest := 0
	for range 360 {
		f.clock.Step(5 * time.Second)
		f.ctrl.Tick(ctx)
		p := f.annotationPatches()
		n := 0
		for w, c := range p {
			perWorkload[w] += c
			n += c
		}
		busiest = max(busiest, n)
	}
	for w, n := range perWorkload {
		if n < 5 || n > 7 { // one refresh per 5 minutes
			t.Errorf("%s: %d writes in 30 minutes of the same decision, want 6 (one per --state-sync-period)", w, n)
		}
	}
	if busiest > 6 { // 60 workloads over 60 ticks: about one per tick
		t.Errorf("%d annotation writes in one tick, want the refreshes spread over the period", busiest)
	}

	// The gist changes (depth now wants 8: a scale-up), then holds again
	// with another reason: each writes in its own tick.
	f.broker.depth["jobs"] = 800
	f.clock.Step(5 * time.Second)
	f.ctrl.Tick(ctx)
	if p := f.annotationPatches(); p["w0"] != 1 {
		t.Errorf("scale-up tick: %d writes for w0, want 1", p["w0"])
	}
	f.broker.depth["jobs"] = 0 // wants 0; the window holds 8
	f.clock.Step(30 * time.Second)
	f.ctrl.Tick(ctx)
	if p := f.annotationPatches(); p["w0"] != 1 {
		t.Errorf("tick whose decision is newly held by the window: %d writes for w0, want 1", p["w0"])
	}
	d, err := f.kube.AppsV1().Deployments("ns").Get(ctx, "w0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Annotations[policy.DecisionAnnotation]; !strings.Contains(got, "scale-down-window 0 -> 8") {
		t.Errorf("decision annotation = %s, want the window's hold", got)
	}
}

// TestHoveringDecisionIsNotWrittenEveryTick: a depth that hovers around the
// tolerance boundary changes the decision's gist on every tick; its
// annotations are still written at most every 30 s.
func TestHoveringDecisionIsNotWrittenEveryTick(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 10, ann("jobs", "target-depth-per-pod", "100", "tolerance", "0.1")))
	ctx := context.Background()
	f.broker.depth["jobs"] = 1000
	f.ctrl.Tick(ctx)
	f.annotationPatches()
	for i := range 60 { // 5 minutes at 5 s
		// 1000 wants the 10 pods there are; 1050 wants 11, held by
		// tolerance: the gist changes on every tick.
		f.broker.depth["jobs"] = int64(1000 + 50*(i%2))
		f.clock.Step(5 * time.Second)
		f.ctrl.Tick(ctx)
	}
	if n := f.annotationPatches()["worker"]; n > 11 || n < 9 {
		t.Errorf("%d writes in 5 minutes of a decision flapping between two gists, want one per 30 s (10)", n)
	}
	if got := f.replicas("worker"); got != 10 {
		t.Errorf("replicas = %d, want 10 held by tolerance", got)
	}
}
