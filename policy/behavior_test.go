package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

// run replays one observation per tick from replicas, applying what Decide
// asks, and returns the replicas after each tick.
func run(t *testing.T, spec policy.Spec, replicas int32, tick time.Duration, queues []policy.QueueObservation) []int32 {
	t.Helper()
	var state policy.State
	out := make([]int32, 0, len(queues))
	for i, q := range queues {
		d, next := policy.Decide(spec, obs(replicas, q), state, t0.Add(time.Duration(i)*tick))
		if d.Apply {
			replicas = d.Desired
		}
		state = next
		out = append(out, replicas)
	}
	return out
}

func repeat(n int, q policy.QueueObservation) []policy.QueueObservation {
	out := make([]policy.QueueObservation, n)
	for i := range out {
		out[i] = q
	}
	return out
}

// TestStepBudgetedOverPeriod: "4/1m" allows 4 pods a minute, not 4 a tick.
func TestStepBudgetedOverPeriod(t *testing.T) {
	backlog := q(10_000, 0) // wants 100
	t.Run("per decision", func(t *testing.T) {
		spec := mustSpec(t, policy.KeyMaxScaleUpStep, "4", policy.KeyScaleUpCooldown, "0s", policy.KeyMaxReplicas, "100")
		got := run(t, spec, 1, 15*time.Second, repeat(5, backlog))
		if diff := cmp.Diff([]int32{5, 9, 13, 17, 21}, got); diff != "" {
			t.Errorf("replicas per tick (-want +got):\n%s", diff)
		}
	})
	t.Run("per minute", func(t *testing.T) {
		spec := mustSpec(t, policy.KeyMaxScaleUpStep, "4/1m", policy.KeyScaleUpCooldown, "0s", policy.KeyMaxReplicas, "100")
		got := run(t, spec, 1, 15*time.Second, repeat(9, backlog))
		// 4 at 0s; nothing more until the first change leaves the minute
		// (at 60s the change made at 0s no longer counts).
		if diff := cmp.Diff([]int32{5, 5, 5, 5, 9, 9, 9, 9, 13}, got); diff != "" {
			t.Errorf("replicas per tick (-want +got):\n%s", diff)
		}
	})
	t.Run("scale-down: 1 pod per minute, counting an earlier scale-up", func(t *testing.T) {
		spec := mustSpec(t, policy.KeyMaxScaleDownStep, "1/1m", policy.KeyScaleDownStabilization, "0s", policy.KeyScaleDownDelay, "0s")
		got := run(t, spec, 10, 20*time.Second, repeat(7, q(100, 0)))
		if diff := cmp.Diff([]int32{9, 9, 9, 8, 8, 8, 7}, got); diff != "" {
			t.Errorf("replicas per tick (-want +got):\n%s", diff)
		}
	})
}

func TestBehaviorAnnotation(t *testing.T) {
	behavior := `
scaleUp:
  stabilizationWindowSeconds: 30
  selectPolicy: Min
  policies:
  - {type: Pods, value: 2, periodSeconds: 60}
  - {type: Percent, value: 100, periodSeconds: 60}
scaleDown:
  selectPolicy: Disabled
`
	spec := mustSpec(t, policy.KeyBehavior, behavior, policy.KeyMaxReplicas, "50")
	if spec.ScaleUpCooldown != 0 || spec.ScaleDownDelay != 0 {
		t.Errorf("with behavior, scale-up-cooldown %s and scale-down-delay %s, want 0s: the HPA has neither", spec.ScaleUpCooldown, spec.ScaleDownDelay)
	}
	// 10 s ticks. The window holds the scale-up until a whole 30 s has
	// asked for more (the 4 recommended at 20s leaves it at 50s); then Min
	// of 2 pods and 100% allows 2 pods a minute: 6 at 50s, 8 at 110s.
	// Never down: scale-down is Disabled.
	queues := append(append(repeat(3, q(400, 0)), repeat(9, q(2000, 0))...), repeat(3, q(0, 0))...)
	got := run(t, spec, 4, 10*time.Second, queues)
	want := []int32{4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 8, 8, 8, 8}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replicas per tick (-want +got):\n%s", diff)
	}
}

func TestParseBehavior(t *testing.T) {
	ten := 0.1
	tests := []struct {
		name string
		in   string
		want policy.Behavior
	}{
		{"empty object: the HPA's defaults", "{}", policy.HPADefaultBehavior()},
		{"JSON with a quantity tolerance", `{"scaleDown": {"tolerance": "100m", "stabilizationWindowSeconds": 60}}`, func() policy.Behavior {
			b := policy.HPADefaultBehavior()
			b.ScaleDown.StabilizationWindow, b.ScaleDown.Tolerance = time.Minute, &ten
			return b
		}()},
		{"YAML, number tolerance", "scaleUp:\n  tolerance: 0.1\n", func() policy.Behavior {
			b := policy.HPADefaultBehavior()
			b.ScaleUp.Tolerance = &ten
			return b
		}()},
	}
	for _, tt := range tests {
		got, err := policy.ParseBehavior(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", tt.name, diff)
		}
	}
	if _, err := policy.ParseBehavior("   "); err == nil || err.Error() != "is empty" {
		t.Errorf("blank behavior: error %v, want \"is empty\"", err)
	}
}

// TestPerDirectionTolerance: a wide scale-down tolerance keeps the pods on
// a small drop, a narrow scale-up tolerance still adds one on a small rise.
func TestPerDirectionTolerance(t *testing.T) {
	spec := mustSpec(t, policy.KeyBehavior, `{"scaleUp": {"tolerance": 0.01}, "scaleDown": {"tolerance": 0.5, "stabilizationWindowSeconds": 0}}`,
		policy.KeyMaxReplicas, "20")
	up, _ := policy.Decide(spec, obs(10, q(1050, 0)), settled(10), t0)  // ratio 1.05
	down, _ := policy.Decide(spec, obs(10, q(600, 0)), settled(10), t0) // ratio 0.6
	got := []int32{up.Desired, down.Desired}
	if diff := cmp.Diff([]int32{11, 10}, got); diff != "" {
		t.Errorf("desired on a 5%% rise and a 40%% drop (-want +got):\n%s", diff)
	}
}

// TestQuietFromCounters: scale to zero waits for the publish counter to
// stand still between two broker samples, not for a 30 s average to decay.
func TestQuietFromCounters(t *testing.T) {
	spec := mustSpec(t, policy.KeyMinReplicas, "0", policy.KeyScaleDownCooldown, "10s")
	busy := withRates(q(40, 10), 20, 20)
	// Drained: the long average still says 3/s, the counters stood still
	// over the last 5 s sample.
	drained := withRates(q(0, 0), 3, 3)
	drained.RecentRateSpan, drained.RecentPublishRate = 5*time.Second, 0
	queues := append(repeat(3, busy), repeat(14, drained)...)
	got := run(t, spec, 1, time.Second, queues)
	// Last seen busy at 2s, first seen quiet at 3s; zero once 10 s have
	// passed since: at 13s.
	for i, r := range got {
		want := int32(1)
		if i >= 13 {
			want = 0
		}
		if r != want {
			t.Fatalf("at %ds: %d replicas, want %d (all: %v)", i, r, want, got)
		}
	}

	t.Run("the counter still moving is not quiet", func(t *testing.T) {
		moving := drained
		moving.RecentPublishRate = 0.2
		got := run(t, spec, 1, time.Second, repeat(30, moving))
		if got[len(got)-1] != 1 {
			t.Errorf("replicas %v: scaled to zero while messages were published", got)
		}
	})
	t.Run("unknown counters are not quiet", func(t *testing.T) {
		got := run(t, spec, 1, time.Second, repeat(30, q(0, 0)))
		if got[len(got)-1] != 1 {
			t.Errorf("replicas %v: scaled to zero without counters", got)
		}
	})
}

func TestWaitSignal(t *testing.T) {
	spec := mustSpec(t, policy.KeyTargetWait, "20s", policy.KeyPerPodRate, "10", policy.KeyMaxReplicas, "50")
	t.Run("oldest ready message's age", func(t *testing.T) {
		o := withRates(q(900, 0), 30, 40)           // 4 pods finish 10/s each
		o.OldestReadyAt = t0.Add(-40 * time.Second) // late: clear the backlog in 20²/40 = 10 s
		d, _ := policy.Decide(spec, obs(4, o), settled(4), t0)
		// 900 / 10 s = 90/s at 9/s per pod: 10 pods; the plan is 900 / 90 = 10 s.
		if d.Desired != 10 || d.DrivenBy != policy.DrivenByWait {
			t.Fatalf("Desired %d by %s, want 10 by wait: %s", d.Desired, d.DrivenBy, d.Reason)
		}
		want := "wait 40.0s (oldest ready) > target-wait 20s: ready 900, arrivals 30.0/s at 9.0/s per pod wants 10; plans wait 10s; scale 4 -> 10"
		if d.Reason != want {
			t.Errorf("Reason diff (-want +got):\n%s", cmp.Diff(want, d.Reason))
		}
	})
	t.Run("expected wait without timestamps", func(t *testing.T) {
		o := withRates(q(300, 0), 30, 40) // 300 / 40/s: 7.5 s expected
		d, _ := policy.Decide(spec, obs(4, o), settled(4), t0)
		// max(30/s, 300 / 20 s) = 30/s at 9/s: 4 pods (depth alone: 3).
		if d.Desired != 4 || !strings.HasPrefix(d.Reason, "wait 7.5s (expected) < target-wait 20s") {
			t.Errorf("Desired %d: %s", d.Desired, d.Reason)
		}
	})
}

// TestMissingPodsAtTheTarget: on a scale-down, a ready pod without a CPU
// sample counts at max(100%, target) of its request, as the HPA counts it.
func TestMissingPodsAtTheTarget(t *testing.T) {
	cpu := policy.CPUObservation{Available: true, Pods: []policy.PodCPU{
		{Ready: true, HasMetric: true, UsageMilli: 500, RequestMilli: 1000},
		{Ready: true, HasMetric: true, UsageMilli: 500, RequestMilli: 1000},
		{Ready: true, HasMetric: false, RequestMilli: 1000},
	}}
	// The ready pods at 50% of a 300% target point down. The missing pod
	// at 300% makes it (50+50+300)/3 = 133% of 300%: 3 x 0.444 = 1.33, so
	// 2 pods; at 100% it would be (50+50+100)/3 = 66%: 0.66, so 1 pod.
	got := policy.CPURecommendation(300, policy.Symmetric(0), cpu, 3)
	if got.Recommendation != 2 {
		t.Errorf("recommendation %d, want 2 (the missing pod at the 300%% target)", got.Recommendation)
	}
}
