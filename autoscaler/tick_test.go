package autoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// hangingBroker answers only when its context ends, as a broker that
// accepted the connection and never replies.
type hangingBroker struct {
	mu       sync.Mutex
	returned time.Time
}

func (h *hangingBroker) Snapshot(ctx context.Context, _ queue.Scope) (*queue.Snapshot, error) {
	<-ctx.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.returned = time.Now()
	return nil, &queue.BrokerError{Broker: "slow", Op: "GET http://127.0.0.1:1/api/queues", Kind: queue.ErrBrokerUnavailable, Err: ctx.Err()}
}

func TestSlowBrokerDelaysOnlyItsOwnWorkloads(t *testing.T) {
	slow := &hangingBroker{}
	const interval = 400 * time.Millisecond
	f := newFixtureWith(t, func(c *Config) {
		c.Interval = interval
		c.Brokers["slow"] = slow
	},
		deployment("healthy", 1, ann("jobs", "target-depth-per-pod", "100")),
		deployment("stuck", 6, ann("jobs", "target-depth-per-pod", "100", "broker", "slow")))
	f.broker.depth["jobs"] = 500
	var mu sync.Mutex
	scaled := map[string]time.Time{}
	f.kube.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		scaled[a.(k8stesting.UpdateAction).GetObject().(interface{ GetName() string }).GetName()] = time.Now()
		return false, nil, nil
	})

	start := time.Now()
	res := f.ctrl.Tick(context.Background())
	took := time.Since(start)

	if got := f.replicas("healthy"); got != 5 {
		t.Errorf("healthy replicas = %d, want 5", got)
	}
	if got := f.replicas("stuck"); got != 6 {
		t.Errorf("replicas on the broker that did not answer = %d, want 6 held", got)
	}
	if lead := slow.returned.Sub(scaled["healthy"]); lead < interval/2 {
		t.Errorf("the healthy workload was scaled %s before the slow broker's read ended, want it scaled at once, not after the slow read", lead)
	}
	if took > interval+300*time.Millisecond {
		t.Errorf("tick took %s, want at most the %s deadline and a little", took, interval)
	}
	if d := res.Decisions["Deployment/ns/stuck"]; !strings.Contains(d.Reason, "queue unavailable") {
		t.Errorf("stuck reason = %q, want it to say the queue is unavailable", d.Reason)
	}
	want := []string{`Warning BrokerUnavailable broker "slow": GET http://127.0.0.1:1/api/queues: broker unavailable: context deadline exceeded`}
	if diff := cmp.Diff(want, f.events()[1:]); diff != "" { // [0] is healthy's Rescaled
		t.Errorf("warnings diff (-want +got):\n%s", diff)
	}
}

func TestTickWritesNothingOnceNotTheLeader(t *testing.T) {
	leading := true
	f := newFixtureWith(t, func(c *Config) {
		c.Leader = func() error {
			if !leading {
				return fmt.Errorf("%w: lease not renewed for 11s, renew deadline 10s", ErrNotLeader)
			}
			return nil
		}
	}, deployment("worker", 1, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.depth["jobs"] = 300
	if res := f.ctrl.Tick(context.Background()); res.Changed != 1 || res.NotLeader {
		t.Fatalf("leading tick: %+v, want one change", res)
	}
	f.kube.ClearActions()

	leading = false
	f.broker.depth["jobs"] = 900
	f.clock.Step(time.Minute)
	res := f.ctrl.Tick(context.Background())
	if !res.NotLeader {
		t.Errorf("NotLeader = false after the lease was lost")
	}
	for _, a := range f.kube.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			t.Errorf("a controller that is not the leader wrote: %s %s", v, a.GetResource().Resource)
		}
	}
	if got := f.replicas("worker"); got != 3 {
		t.Errorf("replicas = %d, want 3 left as the leader set them", got)
	}
}

// TestStateWrittenBySomeoneElseIsNotOverwritten: a newer leader wrote the
// state; this controller's write, tested against the state it last wrote,
// is refused, and it carries on from the newer state.
func TestStateWrittenBySomeoneElseIsNotOverwritten(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 1, ann("jobs", "target-depth-per-pod", "100")))
	// The API server refuses a JSON patch whose test fails with 422; the
	// fake clientset returns jsonpatch's own error, so play the server.
	f.kube.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pa := a.(k8stesting.PatchAction)
		var ops []map[string]string
		if json.Unmarshal(pa.GetPatch(), &ops) != nil {
			return false, nil, nil // a merge patch
		}
		// The tracker, not the clientset: reactors run under its lock.
		obj, err := f.kube.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), pa.GetNamespace(), pa.GetName())
		if err != nil {
			return true, nil, err
		}
		if cur := obj.(*appsv1.Deployment).Annotations[policy.StateAnnotation]; ops[0]["op"] == "test" && ops[0]["value"] != cur {
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, pa.GetName(), nil)
		}
		return false, nil, nil
	})
	f.broker.depth["jobs"] = 300
	f.ctrl.Tick(context.Background()) // 1 -> 3, state written
	mine := f.annotation("worker", policy.StateAnnotation)

	// Another leader scales down later and writes its state.
	theirs := strings.Replace(mine, "lastScaleUp", "lastScaleDown", 1)
	if theirs == mine {
		t.Fatalf("state %s has no lastScaleUp to change", mine)
	}
	d, err := f.kube.AppsV1().Deployments("ns").Get(context.Background(), "worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Annotations[policy.StateAnnotation] = theirs
	if _, err := f.kube.AppsV1().Deployments("ns").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Decide from what the informer shows: the scale to 3 and their state.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := f.ctrl.in("ns").deploys.Deployments("ns").Get("worker")
		if err == nil && *d.Spec.Replicas == 3 && d.Annotations[policy.StateAnnotation] == theirs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the informer does not show the other leader's state after 5s")
		}
		time.Sleep(time.Millisecond)
	}
	f.clock.Step(10 * time.Minute) // a refresh is due
	f.ctrl.Tick(context.Background())
	if got := f.annotation("worker", policy.StateAnnotation); got != theirs {
		t.Errorf("state = %s, want the other leader's %s kept", got, theirs)
	}
	if _, ok := f.ctrl.states[k8stypes.UID("uid-worker")]; ok {
		t.Errorf("the controller kept its own memory after its write was refused, want it read again")
	}
}

func TestANewProblemOnTheSameWorkloadGetsItsEvent(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.err = errors.New(`broker "default": GET http://rabbit:15672/api/queues: broker unavailable: connection refused`)
	for range 3 {
		f.ctrl.Tick(context.Background())
		f.clock.Step(5 * time.Second)
	}
	f.broker.err = nil // back, but the queue is gone
	for range 3 {
		f.ctrl.Tick(context.Background())
		f.clock.Step(5 * time.Second)
	}
	want := []string{
		`Warning BrokerUnavailable broker "default": GET http://rabbit:15672/api/queues: broker unavailable: connection refused`,
		`Warning QueueNotFound broker "default": queue "jobs" in vhost "/": queue not found`,
	}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events diff (-want +got):\n%s", diff)
	}
	if got := f.replicas("worker"); got != 2 {
		t.Errorf("replicas = %d, want 2 held through both problems", got)
	}
}
