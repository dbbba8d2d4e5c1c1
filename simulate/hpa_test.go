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
	h.ScaleDownWindow = 0
	h.ScaleDown = []HPAPolicy{{Percent: 50, Period: time.Minute}}
	replay(t, h, []sync{
		{0, 10, 1, 5, "10 x 50%"},
		{15 * time.Second, 5, 1, 5, "period started at 10: limit 5"},
		{60 * time.Second, 5, 1, 2, "new period: int(5 x 0.5) = 2"},
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
	// Syncs every 15 s read a metric polled every 30 s. The burst starts
	// at 5:00: the 5:00 poll still sees the calm, the 5:30 poll sees it;
	// then 1 -> 5 (4 pods), 5 -> 10 and 10 -> 20 (100%), 20 -> 30 (max)
	// one sync apart. Once drained, the scale-down waits for the highest
	// recommendation to leave the 300 s window, then goes to
	// min-replicas at once (100% per 15 s).
	want := []Event{
		{T: 330 * time.Second, From: 1, To: 5},
		{T: 345 * time.Second, From: 5, To: 10},
		{T: 360 * time.Second, From: 10, To: 20},
		{T: 375 * time.Second, From: 20, To: 30},
	}
	if len(got) < len(want) {
		t.Fatalf("events %+v, want at least %+v", got, want)
	}
	if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
		t.Errorf("scale-up events diff (-want +got):\n%s", diff)
	}
	// Every scale-down comes at least 300 s after the last sync that
	// recommended more than its target.
	for _, e := range got[len(want):] {
		if e.To < e.From && e.T-375*time.Second < 300*time.Second {
			t.Errorf("scale-down %+v within 300 s of the last scale-up", e)
		}
	}
}

func TestKEDAPollsEvery30s(t *testing.T) {
	k := NewKEDA(policy.Spec{TargetDepthPerPod: 100, CountUnacked: true, MinReplicas: 1, MaxReplicas: 50})
	view := func(replicas int32, depth int64) View {
		return View{Observation: policy.Observation{Replicas: replicas,
			Queue: policy.QueueObservation{Available: true, Ready: depth}}}
	}
	if got := k.Decide(Epoch, view(2, 200)).Desired; got != 2 {
		t.Fatalf("t=0: %d, want 2", got)
	}
	// 15 s later the queue grew, but the metric is the t=0 poll's.
	if got := k.Decide(Epoch.Add(15*time.Second), view(2, 5000)).Desired; got != 2 {
		t.Errorf("t=15s: %d, want 2 (cached poll)", got)
	}
	if got := k.Decide(Epoch.Add(30*time.Second), view(2, 5000)).Desired; got != 6 {
		t.Errorf("t=30s: %d, want 6 (2 + 4 pods)", got)
	}
	// The broker cannot be read: the HPA holds.
	out := View{Observation: policy.Observation{Replicas: 6}}
	if got := k.Decide(Epoch.Add(60*time.Second), out).Desired; got != 6 {
		t.Errorf("outage: %d, want 6", got)
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
		c, err := ParseBaseline(name, spec)
		if err != nil || c.Name() != want {
			t.Errorf("ParseBaseline(%q) = %v, %v", name, c, err)
		}
	}
	for _, bad := range []string{"kedaa", "fixed:", "fixed:-1", "fixed:x", ""} {
		if _, err := ParseBaseline(bad, spec); err == nil {
			t.Errorf("ParseBaseline(%q) succeeded", bad)
		}
	}
}
