package simulate

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

func TestHPAPerPodReplicasTolerance(t *testing.T) {
	h := NewHPA(1, 100)
	tests := []struct {
		name    string
		current int32
		metric  float64
		want    int32
	}{
		{"ratio 1.05 is within 0.1: hold", 10, 1050, 10},
		// In floating point |1 - 1.1| is 0.10000000000000009 > 0.1: the
		// HPA's comparison scales, and so does the baseline.
		{"ratio 1.1 is just outside 0.1", 10, 1100, 11},
		{"ratio 1.15 scales to ceil(11.5)", 10, 1150, 12},
		{"ratio 0.91 holds", 10, 910, 10},
		{"ratio 0.85 scales to ceil(8.5)", 10, 850, 9},
		{"empty queue asks for zero (min bounds it later)", 10, 0, 0},
	}
	for _, tt := range tests {
		if got := h.PerPodReplicas(tt.current, tt.metric, 100); got != tt.want {
			t.Errorf("%s: PerPodReplicas(%d, %v, 100) = %d, want %d", tt.name, tt.current, tt.metric, got, tt.want)
		}
	}
}

type sync struct {
	at       time.Duration
	current  int32
	desired  int32
	want     int32
	describe string
}

func replay(t *testing.T, h *HPA, syncs []sync) {
	t.Helper()
	for _, s := range syncs {
		if got := h.Normalize(Epoch.Add(s.at), s.current, s.desired); got != s.want {
			t.Errorf("at %s, %d -> wants %d: got %d, want %d (%s)", s.at, s.current, s.desired, got, s.want, s.describe)
		}
	}
}

// TestHPAScaleUpPolicies: max(4 pods, 100%) per 15 s, counted from the
// replicas at the start of the period.
func TestHPAScaleUpPolicies(t *testing.T) {
	replay(t, NewHPA(1, 100), []sync{
		{0, 1, 20, 5, "1 + 4 pods beats 1 x 200%"},
		{5 * time.Second, 5, 20, 5, "the period started at 1: still 5"},
		{15 * time.Second, 5, 20, 10, "the first event left the 15 s period: 5 x 200% = 10 beats 5 + 4"},
		{30 * time.Second, 10, 20, 20, "10 x 200% = 20"},
		{45 * time.Second, 20, 100, 40, "20 x 200% = 40"},
	})
}

// TestHPAScaleDownWindow: a scale-down takes the highest recommendation of
// the last 300 s, the first sync's current replicas included; a
// recommendation exactly 300 s old has left the window.
func TestHPAScaleDownWindow(t *testing.T) {
	h := NewHPA(1, 100)
	var syncs []sync
	syncs = append(syncs, sync{0, 10, 10, 10, "first sync"})
	syncs = append(syncs, sync{15 * time.Second, 10, 8, 10, "8 < 10 held by the window"})
	for at := 30 * time.Second; at < 300*time.Second; at += 15 * time.Second {
		syncs = append(syncs, sync{at, 10, 2, 10, "the first sync's 10 is in the window"})
	}
	syncs = append(syncs,
		sync{300 * time.Second, 10, 2, 8, "10 (t=0) left the window; 8 (t=15s) is the highest"},
		sync{315 * time.Second, 8, 2, 2, "only 2s left; 100% per 15 s allows it"},
		sync{330 * time.Second, 2, 0, 2, "the 2s of the last 300 s hold"},
		sync{600 * time.Second, 2, 0, 2, "the 2 of t=315s is still in the window"},
		sync{615 * time.Second, 2, 0, 1, "it left: only 0s, bounded by min-replicas 1"},
	)
	replay(t, h, syncs)
}

// TestHPAScaleDownRateLimit: with a 50% per 60 s policy, at most half of
// the replicas at the start of the period go.
func TestHPAScaleDownRateLimit(t *testing.T) {
	h := NewHPA(1, 100)
	h.Behavior.ScaleDown.StabilizationWindow = 0
	h.Behavior.ScaleDown.Policies = []policy.ScalingPolicy{{Type: policy.PercentPolicy, Value: 50, Period: time.Minute}}
	replay(t, h, []sync{
		{0, 10, 1, 5, "10 x 50%"},
		{15 * time.Second, 5, 1, 5, "period started at 10: limit 5"},
		{60 * time.Second, 5, 1, 2, "new period: int(5 x 0.5) = 2"},
	})
}

// TestHPABehaviorSelectPolicy: Min keeps the smallest change, Disabled
// none, in either direction.
func TestHPABehaviorSelectPolicy(t *testing.T) {
	up := func(sel policy.SelectPolicy) *HPA {
		h := NewHPA(1, 100)
		h.Behavior.ScaleUp.Select = sel
		return h
	}
	replay(t, up(policy.SelectMin), []sync{
		{0, 2, 20, 4, "min(2 + 4 pods, 2 x 200%) = 4"},
		{15 * time.Second, 4, 20, 8, "min(4 + 4, 4 x 200%) = 8"},
		{30 * time.Second, 8, 20, 12, "min(8 + 4, 16) = 12"},
	})
	replay(t, up(policy.SelectDisabled), []sync{{0, 2, 20, 2, "scale-up disabled"}})
	down := NewHPA(1, 100)
	down.Behavior.ScaleDown = policy.ScalingRules{Select: policy.SelectMin, Policies: []policy.ScalingPolicy{
		{Type: policy.PodsPolicy, Value: 2, Period: time.Minute},
		{Type: policy.PercentPolicy, Value: 50, Period: time.Minute},
	}}
	replay(t, down, []sync{
		{0, 10, 1, 8, "min change of (10 - 2 pods, 10 x 50%): 8"},
		{15 * time.Second, 8, 1, 8, "the 60 s period started at 10: 10 - 2 = 8"},
		{60 * time.Second, 8, 1, 6, "the event left the period: 8 - 2"},
	})
	off := NewHPA(1, 100)
	off.Behavior.ScaleDown = policy.ScalingRules{Select: policy.SelectDisabled, Policies: policy.HPADefaultBehavior().ScaleDown.Policies}
	replay(t, off, []sync{{0, 10, 1, 10, "scale-down disabled"}, {time.Hour, 10, 1, 10, "still disabled"}})
}

// TestHPABehaviorBudgetsOverThePeriod: a policy's budget is counted from
// the replicas at the start of its period, scale-ups and scale-downs
// alike, and an event exactly one period old has left it.
func TestHPABehaviorBudgetsOverThePeriod(t *testing.T) {
	h := NewHPA(1, 100)
	h.Behavior = policy.Behavior{
		ScaleUp:   policy.ScalingRules{Select: policy.SelectMax, Policies: []policy.ScalingPolicy{{Type: policy.PodsPolicy, Value: 3, Period: time.Minute}}},
		ScaleDown: policy.ScalingRules{Select: policy.SelectMax, Policies: []policy.ScalingPolicy{{Type: policy.PodsPolicy, Value: 1, Period: time.Minute}}},
	}
	replay(t, h, []sync{
		{0, 2, 10, 5, "2 + 3 pods"},
		{15 * time.Second, 5, 10, 5, "3 pods added this minute: the period started at 2"},
		// The HPA counts the scale-ups into a scale-down period's start
		// too: 5 - 3 added = 2, and 2 - 1 pod = 1.
		{30 * time.Second, 5, 1, 1, "down to the period's start minus 1 pod"},
		{45 * time.Second, 1, 10, 5, "up: start 1 - 3 added + 4 removed = 2, + 3 pods"},
		{60 * time.Second, 5, 10, 8, "the t=0 event is exactly a period old and left: start 5 - 4 + 4 = 5, + 3"},
	})
}

// TestHPABehaviorScaleUpWindow: with a scale-up window the HPA takes the
// lowest recommendation of the window, and without a scale-down window a
// new HPA may scale down at its first sync.
func TestHPABehaviorScaleUpWindow(t *testing.T) {
	h := NewHPA(1, 100)
	h.Behavior.ScaleUp.StabilizationWindow = 30 * time.Second
	h.Behavior.ScaleDown.StabilizationWindow = 0
	replay(t, h, []sync{
		{0, 4, 2, 2, "no scale-down window: no initial record, 4 -> 2 at once"},
		{15 * time.Second, 2, 10, 2, "the 2 of t=0 is in the 30 s window"},
		{30 * time.Second, 2, 10, 6, "t=0 left; lowest is 10, limited to 2 + 4 pods"},
	})
}

// TestKEDABaselineOnABurst runs the keda baseline through the simulator and
// checks the HPA's documented behavior on its events.
func TestKEDABaselineOnABurst(t *testing.T) {
	spec := testSpec(t)
	r := run(t, scenario(t, "burst"), DefaultModel(), NewKEDA(spec))
	var got []Event
	for _, e := range r.Events {
		got = append(got, Event{T: e.T, From: e.From, To: e.To})
	}
	// Each 15 s sync reads the queue afresh (useCachedMetrics off). The
	// burst starts at 5:00: the 5:00 statistics sample, taken at the
	// start of that second, still shows the calm; the 5:15 sync sees it;
	// then 1 -> 5 (4 pods), 5 -> 10 and 10 -> 20 (100%), 20 -> 30 (max)
	// one sync apart. Once drained, the scale-down waits for the highest
	// recommendation to leave the 300 s window.
	want := []Event{
		{T: 315 * time.Second, From: 1, To: 5},
		{T: 330 * time.Second, From: 5, To: 10},
		{T: 345 * time.Second, From: 10, To: 20},
		{T: 360 * time.Second, From: 20, To: 30},
	}
	if len(got) < len(want) {
		t.Fatalf("events %+v, want at least %+v", got, want)
	}
	if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
		t.Errorf("scale-up events diff (-want +got):\n%s", diff)
	}
	for _, e := range got[len(want):] {
		if e.To < e.From && e.T-360*time.Second < 300*time.Second {
			t.Errorf("scale-down %+v within 300 s of the last scale-up", e)
		}
	}
}

func kedaView(replicas int32, depth int64) View {
	return View{Observation: policy.Observation{Replicas: replicas,
		Queue: policy.QueueObservation{Available: true, Ready: depth}}}
}

func TestKEDAMetricIsFreshUnlessCached(t *testing.T) {
	spec := policy.Spec{TargetDepthPerPod: 100, CountUnacked: true, MinReplicas: 1, MaxReplicas: 50}
	for _, cached := range []bool{false, true} {
		c := DefaultKEDAConfig()
		c.CachedMetrics = cached
		k := NewKEDAWith(spec, c)
		if k.Interval() != 15*time.Second {
			t.Fatalf("interval %s, want gcd(30s, 15s)", k.Interval())
		}
		if got := k.Decide(Epoch, kedaView(2, 200)).Desired; got != 2 {
			t.Fatalf("cached %v, t=0: %d, want 2", cached, got)
		}
		// 15 s later the queue grew: a fresh read sees it, the cache
		// still serves the t=0 poll.
		want := int32(6)
		if cached {
			want = 2
		}
		if got := k.Decide(Epoch.Add(15*time.Second), kedaView(2, 5000)).Desired; got != want {
			t.Errorf("cached %v, t=15s: %d, want %d", cached, got, want)
		}
		// The broker cannot be read: the HPA holds.
		out := View{Observation: policy.Observation{Replicas: 6}}
		if got := k.Decide(Epoch.Add(60*time.Second), out).Desired; got != 6 {
			t.Errorf("cached %v, outage: %d, want 6", cached, got)
		}
	}
}

// TestKEDAActivationAndCooldown: the operator's loop every pollingInterval
// wakes from zero above activationValue and returns to zero
// cooldownPeriod after the last active poll; the HPA syncs every 15 s in
// between, and not at zero.
func TestKEDAActivationAndCooldown(t *testing.T) {
	spec := policy.Spec{TargetDepthPerPod: 10, MinReplicas: 0, MaxReplicas: 4}
	k := NewKEDAWith(spec, KEDAConfig{Polling: 5 * time.Second, Cooldown: 10 * time.Second, Activation: 5, Behavior: policy.HPADefaultBehavior()})
	if k.Interval() != 5*time.Second {
		t.Fatalf("interval %s, want gcd(5s, 15s)", k.Interval())
	}
	steps := []struct {
		at       time.Duration
		replicas int32
		depth    int64
		want     int32
		why      string
	}{
		{0, 0, 3, 0, "3 <= activation 5: stays at zero"},
		{5 * time.Second, 0, 100, 1, "100 > 5: activate to 1"},
		{10 * time.Second, 1, 100, 1, "no poll result to act on, no HPA sync at 10s"},
		{15 * time.Second, 1, 100, 4, "HPA: ceil(100 / 10) = 10, 1 + 4 pods, max 4"},
		{20 * time.Second, 4, 5, 4, "5 is not above 5: inactive since the 15s poll"},
		{25 * time.Second, 4, 0, 4, "exactly 10 s after the last active poll (15s): not yet"},
		{30 * time.Second, 4, 0, 0, "more than cooldownPeriod: to zero"},
		{35 * time.Second, 0, 4, 0, "inactive at zero"},
	}
	for _, s := range steps {
		if got := k.Decide(Epoch.Add(s.at), kedaView(s.replicas, s.depth)).Desired; got != s.want {
			t.Errorf("at %s: %d, want %d (%s)", s.at, got, s.want, s.why)
		}
	}
}

func TestHPACPUBaseline(t *testing.T) {
	h := NewHPACPU(policy.Spec{MinReplicas: 1, MaxReplicas: 20})
	pods := func(ready int, use int64, unready int) View {
		v := View{Observation: policy.Observation{Replicas: int32(ready + unready), CPU: policy.CPUObservation{Available: true}}}
		for range ready {
			v.Observation.CPU.Pods = append(v.Observation.CPU.Pods, policy.PodCPU{Ready: true, HasMetric: true, UsageMilli: use, RequestMilli: 500})
		}
		for range unready {
			v.Observation.CPU.Pods = append(v.Observation.CPU.Pods, policy.PodCPU{RequestMilli: 500})
		}
		return v
	}
	// 4 pods at 100% against 80%: ratio 1.25, ceil(5) = 5.
	if got := h.Decide(Epoch, pods(4, 500, 0)).Desired; got != 5 {
		t.Errorf("4 pods at 100%%: %d, want 5", got)
	}
	// 4 ready at 100% and 4 starting: the starting ones count as 0%, 50%
	// over 8 points down, which reverses the direction: hold 8.
	if got := h.Decide(Epoch.Add(15*time.Second), pods(4, 500, 4)).Desired; got != 8 {
		t.Errorf("with unready pods: %d, want 8", got)
	}
	// 85% against 80% is within tolerance.
	if got := h.Decide(Epoch.Add(30*time.Second), pods(8, 425, 0)).Desired; got != 8 {
		t.Errorf("within tolerance: %d, want 8", got)
	}
}

func TestParseBaseline(t *testing.T) {
	spec := policy.DefaultSpec()
	for name, want := range map[string]string{"keda": "keda", "hpa-cpu": "hpa-cpu", "fixed:7": "fixed:7"} {
		c, err := ParseBaseline(name, spec, DefaultKEDAConfig())
		if err != nil || c.Name() != want {
			t.Errorf("ParseBaseline(%q) = %v, %v", name, c, err)
		}
	}
	for _, bad := range []string{"kedaa", "fixed:", "fixed:-1", "fixed:x", ""} {
		if _, err := ParseBaseline(bad, spec, DefaultKEDAConfig()); err == nil {
			t.Errorf("ParseBaseline(%q) succeeded", bad)
		}
	}
}
