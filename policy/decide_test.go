package policy_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// mustSpec parses base(kv...) and fails the test on error.
func mustSpec(t testing.TB, kv ...string) policy.Spec {
	t.Helper()
	spec, err := policy.ParseSpec(base(kv...))
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	return spec
}

// q is an available queue whose consumers are the given replicas.
func q(ready, unacked int64) policy.QueueObservation {
	return policy.QueueObservation{Available: true, Ready: ready, Unacked: unacked}
}

// withRates adds rates to a queue observation.
func withRates(o policy.QueueObservation, publish, ack float64) policy.QueueObservation {
	o.RatesAvailable, o.PublishRate, o.DeliverRate, o.AckRate = true, publish, ack, ack
	return o
}

func obs(replicas int32, queue policy.QueueObservation) policy.Observation {
	if queue.Available && queue.Consumers == 0 {
		queue.Consumers = int64(replicas)
	}
	return policy.Observation{Replicas: replicas, Queue: queue}
}

// settled is a state whose window and cooldowns no longer hold anything
// back: a recommendation of current long ago, and arrivals long ago.
func settled(current int32) policy.State {
	long := t0.Add(-time.Hour)
	return policy.State{
		History:     []policy.Recommendation{{Time: long, Replicas: current}},
		LastArrival: long,
	}
}

func TestDepthSignal(t *testing.T) {
	tests := []struct {
		name     string
		kv       []string
		replicas int32
		queue    policy.QueueObservation
		want     policy.Signal
	}{
		{"ceil of depth over target", []string{policy.KeyTargetDepthPerPod, "300"}, 10, q(4000, 200),
			policy.Signal{Enabled: true, Available: true, Value: 4200, Target: 300, Recommendation: 14}},
		{"exact multiple", []string{policy.KeyTargetDepthPerPod, "300"}, 5, q(3000, 0),
			policy.Signal{Enabled: true, Available: true, Value: 3000, Target: 300, Recommendation: 10}},
		{"unacked counted by default", nil, 1, q(100, 900),
			policy.Signal{Enabled: true, Available: true, Value: 1000, Target: 100, Recommendation: 10}},
		{"count-unacked false", []string{policy.KeyCountUnacked, "false"}, 1, q(100, 900),
			policy.Signal{Enabled: true, Available: true, Value: 100, Target: 100, Recommendation: 1}},
		{"empty", nil, 3, q(0, 0),
			policy.Signal{Enabled: true, Available: true, Value: 0, Target: 100, Recommendation: 0}},
		{"within tolerance", []string{policy.KeyTargetDepthPerPod, "300"}, 10, q(3100, 0),
			policy.Signal{Enabled: true, Available: true, Value: 3100, Target: 300, Recommendation: 11, WithinTolerance: true}},
		{"exactly at tolerance", nil, 10, q(1100, 0),
			policy.Signal{Enabled: true, Available: true, Value: 1100, Target: 100, Recommendation: 11, WithinTolerance: true}},
		{"beyond tolerance", nil, 10, q(1101, 0),
			policy.Signal{Enabled: true, Available: true, Value: 1101, Target: 100, Recommendation: 12}},
		{"below, beyond tolerance", nil, 10, q(880, 0),
			policy.Signal{Enabled: true, Available: true, Value: 880, Target: 100, Recommendation: 9}},
		{"tolerance 0", []string{policy.KeyTolerance, "0"}, 10, q(1001, 0),
			policy.Signal{Enabled: true, Available: true, Value: 1001, Target: 100, Recommendation: 11}},
		{"no tolerance from zero", nil, 0, q(1, 0),
			policy.Signal{Enabled: true, Available: true, Value: 1, Target: 100, Recommendation: 1}},
		{"bounded to int32", []string{policy.KeyTargetDepthPerPod, "1"}, 1, q(math.MaxInt64/2, math.MaxInt64/2),
			policy.Signal{Enabled: true, Available: true, Value: math.MaxInt64 - 1, Target: 1, Recommendation: math.MaxInt32}},
		{"queue unavailable", nil, 3, policy.QueueObservation{Ready: 500},
			policy.Signal{Enabled: true, Target: 100, Note: policy.NoteQueueUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := policy.Decide(mustSpec(t, tt.kv...), obs(tt.replicas, tt.queue), policy.State{}, t0)
			if diff := cmp.Diff(tt.want, d.Signals.Depth); diff != "" {
				t.Errorf("depth signal diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRateSignal(t *testing.T) {
	drain := []string{policy.KeyTargetDrainSeconds, "60", policy.KeyPerPodRate, "10"}
	tests := []struct {
		name     string
		kv       []string
		state    policy.State
		replicas int32
		queue    policy.QueueObservation
		want     policy.Signal
	}{
		{"off without target-drain-seconds", nil, policy.State{}, 3, withRates(q(600, 0), 50, 50),
			policy.Signal{Note: policy.NoteOff}},
		{"arrivals plus backlog over drain time", drain, policy.State{}, 3, withRates(q(0, 600), 50, 50),
			// (50 + 600/60) / (90% of 10) = 6.7; depth 600 < 3 pods, so nothing is learned
			policy.Signal{Enabled: true, Available: true, Value: 60, Target: 9, Recommendation: 7}},
		{"more headroom", append(slices.Clone(drain), policy.KeyTargetRateUtilization, "50"), policy.State{}, 3, withRates(q(0, 600), 50, 50),
			// (50 + 600/60) / (50% of 10) = 12
			policy.Signal{Enabled: true, Available: true, Value: 60, Target: 5, Recommendation: 12}},
		{"never below arrivals", drain, policy.State{}, 3, withRates(q(0, 0), 55, 55),
			policy.Signal{Enabled: true, Available: true, Value: 55, Target: 9, Recommendation: 7}},
		{"learned rate wins over the seed", drain, policy.State{PerPodRate: 20, PerPodRateAt: t0.Add(-time.Hour)}, 3,
			withRates(q(0, 600), 50, 50),
			policy.Signal{Enabled: true, Available: true, Value: 60, Target: 18, Recommendation: 4}},
		{"within tolerance", drain, policy.State{}, 6, withRates(q(0, 120), 54, 54),
			// need 56 against 6 x 9: ratio 1.037
			policy.Signal{Enabled: true, Available: true, Value: 56, Target: 9, Recommendation: 7, WithinTolerance: true}},
		{"rates unavailable", drain, policy.State{}, 3, q(600, 0),
			policy.Signal{Enabled: true, Target: 9, Note: policy.NoteRatesUnavailable}},
		{"negative rate counts as unavailable", drain, policy.State{}, 3, withRates(q(600, 0), -5, 10),
			policy.Signal{Enabled: true, Target: 9, Note: policy.NoteRatesUnavailable}},
		{"NaN rate counts as unavailable", drain, policy.State{}, 3, withRates(q(600, 0), math.NaN(), 10),
			policy.Signal{Enabled: true, Target: 9, Note: policy.NoteRatesUnavailable}},
		{"no rate learned and no seed", []string{policy.KeyTargetDrainSeconds, "60"}, policy.State{}, 3, withRates(q(2, 0), 50, 50),
			policy.Signal{Enabled: true, Note: policy.NoteNoRate}},
		{"queue unavailable", drain, policy.State{}, 3, policy.QueueObservation{},
			policy.Signal{Enabled: true, Target: 9, Note: policy.NoteQueueUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := policy.Decide(mustSpec(t, tt.kv...), obs(tt.replicas, tt.queue), tt.state, t0)
			if diff := cmp.Diff(tt.want, d.Signals.Rate); diff != "" {
				t.Errorf("rate signal diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPerPodRateLearning replays ticks and checks the learned rate after
// each: learned only while saturated, smoothed, kept while idle.
func TestPerPodRateLearning(t *testing.T) {
	spec := mustSpec(t, policy.KeyTargetDrainSeconds, "60")
	autoAck := q(100, 0)
	autoAck.RatesAvailable, autoAck.PublishRate, autoAck.DeliverRate = true, 10, 75
	starting := withRates(q(100, 0), 10, 200)
	starting.Consumers = 3 // of 5 replicas: two pods are not consuming yet
	steps := []struct {
		name  string
		at    time.Duration
		queue policy.QueueObservation
		want  float64
	}{
		{"first saturated sample is taken as is", 0, withRates(q(100, 0), 10, 100), 20},
		{"one half-life later, halfway to the new sample", time.Minute, withRates(q(100, 0), 10, 50), 15},
		{"not saturated: fewer ready messages than pods", 2 * time.Minute, withRates(q(4, 0), 10, 200), 15},
		{"pods not all consuming", 3 * time.Minute, starting, 15},
		{"rates unavailable", 4 * time.Minute, q(100, 0), 15},
		{"auto-ack: deliveries count", 5 * time.Minute, autoAck, 15},
		{"idle for hours: kept", 5 * time.Hour, withRates(q(0, 0), 0, 0), 15},
		{"broker down: kept", 6 * time.Hour, policy.QueueObservation{}, 15},
		{"stuck consumers (no acks) teach nothing", 7 * time.Hour, withRates(q(100, 0), 10, 0), 15},
	}
	var state policy.State
	for _, s := range steps {
		_, state = policy.Decide(spec, obs(5, s.queue), state, t0.Add(s.at))
		if diff := cmp.Diff(s.want, state.PerPodRate); diff != "" {
			t.Errorf("%s: PerPodRate diff (-want +got):\n%s", s.name, diff)
		}
	}
	// The learned rate drives the rate signal when a backlog comes back.
	d, _ := policy.Decide(spec, obs(5, withRates(q(900, 0), 30, 0)), state, t0.Add(8*time.Hour))
	want := policy.Signal{Enabled: true, Available: true, Value: 45, Target: 13.5, Recommendation: 4}
	if diff := cmp.Diff(want, d.Signals.Rate); diff != "" {
		t.Errorf("rate signal after idle diff (-want +got):\n%s", diff)
	}
}

// TestPerPodRateFromSaturatedSpans: a rate is an unbiased sample of the
// per-pod rate only when the current replicas were saturated over its
// whole span. The recent rates span one broker sampling step (5 s here),
// so a sample counts once the same replicas have been saturated for that
// step; without them the windowed rates (30 s) must be. A sample from a
// span that began before a scale-up or a burst understates one pod: it is
// used only when it exceeds the estimate. Smoothing such samples in made
// the engine believe pods slower than they are (11.5/s against a true
// 25/s after rabbitscale simulate's flash crowd), and the rate floor then
// held too many pods.
func TestPerPodRateFromSaturatedSpans(t *testing.T) {
	spec := mustSpec(t, policy.KeyTargetDrainSeconds, "60")
	recent := func(o policy.QueueObservation, ack float64) policy.QueueObservation {
		o.RateSpan = 30 * time.Second
		o.RecentRateSpan, o.RecentPublishRate, o.RecentDeliverRate, o.RecentAckRate = 5*time.Second, o.PublishRate, ack, ack
		return o
	}
	windowed := func(o policy.QueueObservation) policy.QueueObservation {
		o.RateSpan = 30 * time.Second
		return o
	}
	type step struct {
		name     string
		at       time.Duration
		replicas int32
		queue    policy.QueueObservation
		want     float64
	}
	steps := []step{
		{"just scaled to 5: the step still counts 1 pod; nothing learned", 0, 5, recent(withRates(q(2000, 0), 10, 20), 40), 0},
		{"5 pods saturated for one step: 100/s over 5 pods", 5 * time.Second, 5, recent(withRates(q(1800, 0), 10, 70), 100), 20},
		{"scaled to 8: the step mixes 5 and 8 pods", 10 * time.Second, 8, recent(withRates(q(900, 0), 10, 90), 120), 20},
		{"8 pods for one step: 160/s, 20 each", 15 * time.Second, 8, recent(withRates(q(500, 0), 10, 120), 160), 20},
		{"backlog gone", 25 * time.Second, 8, recent(withRates(q(0, 40), 10, 80), 80), 20},
		{"a burst finds the pods idle", 30 * time.Second, 8, recent(withRates(q(3000, 0), 500, 60), 40), 20},
		{"the burst a step later: 200/s over 8 pods, 25 each", 35 * time.Second, 8, recent(withRates(q(2900, 0), 500, 80), 200),
			20 + (25-20)*(1-math.Exp2(-20.0/60))},
	}
	run := func(state policy.State, steps []step) policy.State {
		for _, s := range steps {
			_, state = policy.Decide(spec, obs(s.replicas, s.queue), state, t0.Add(s.at))
			if math.Abs(s.want-state.PerPodRate) > 1e-9 || state.PerPodRateBound {
				t.Errorf("%s: PerPodRate = %v (bound %v), want %v", s.name, state.PerPodRate, state.PerPodRateBound, s.want)
			}
		}
		return state
	}
	run(policy.State{}, steps)

	// Without recent rates (a source whose counters carry no broker
	// times and too few reads yet), the windowed rates' whole span must
	// have been saturated.
	run(policy.State{}, []step{
		{"windowed: just saturated", 0, 5, windowed(withRates(q(2000, 0), 10, 40)), 0},
		{"windowed: 20 s in", 20 * time.Second, 5, windowed(withRates(q(1800, 0), 10, 80)), 0},
		{"windowed: the whole span", 30 * time.Second, 5, windowed(withRates(q(1000, 0), 10, 100)), 20},
	})

	// Just after a scale-down, pods that are gone did part of the step's
	// work: a partial sample overstates and is not used.
	run(policy.State{PerPodRate: 10, PerPodRateAt: t0.Add(-time.Hour), LastScaleDown: t0.Add(-2 * time.Second)}, []step{
		{"2 s after a scale-down to 4", 0, 4, recent(withRates(q(1000, 0), 10, 80), 80), 10},
	})

	// A lower bound stored by an earlier version is not an estimate.
	run(policy.State{PerPodRate: 3, PerPodRateAt: t0.Add(-time.Hour), PerPodRateBound: true}, []step{
		{"stored lower bound dropped", 0, 4, withRates(q(0, 0), 10, 10), 0},
	})
}

// pods builds CPU samples: n pods with the given usage of a 1000m request.
func pods(n int, usage int64, ready, hasMetric bool) []policy.PodCPU {
	out := make([]policy.PodCPU, n)
	for i := range out {
		out[i] = policy.PodCPU{Ready: ready, HasMetric: hasMetric, UsageMilli: usage, RequestMilli: 1000}
	}
	return out
}

func cat(groups ...[]policy.PodCPU) []policy.PodCPU {
	var out []policy.PodCPU
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// TestCPUSignal follows the HPA's rules (replica_calculator.go).
func TestCPUSignal(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		cpu      policy.CPUObservation
		want     policy.Signal
	}{
		{"ready pods only: ceil(ratio x ready)", 2, policy.CPUObservation{Available: true, Pods: pods(2, 800, true, true)},
			policy.Signal{Enabled: true, Available: true, Value: 80, Target: 50, Recommendation: 4}},
		{"scale down", 4, policy.CPUObservation{Available: true, Pods: pods(4, 200, true, true)},
			policy.Signal{Enabled: true, Available: true, Value: 20, Target: 50, Recommendation: 2}},
		{"within tolerance", 2, policy.CPUObservation{Available: true, Pods: pods(2, 520, true, true)},
			policy.Signal{Enabled: true, Available: true, Value: 52, Target: 50, Recommendation: 3, WithinTolerance: true}},
		{"utilisation truncated to whole percent like the HPA", 2, policy.CPUObservation{Available: true, Pods: cat(
			pods(1, 1055, true, true), pods(1, 0, true, true))},
			policy.Signal{Enabled: true, Available: true, Value: 52, Target: 50, Recommendation: 3, WithinTolerance: true}},
		{"missing pods count 0% on scale-up", 3, policy.CPUObservation{Available: true, Pods: cat(
			pods(2, 900, true, true), pods(1, 0, true, false))},
			// ready 90% -> ratio 1.8; with the missing pod at 0%: 1800/3000 = 60%, 1.2 x 3 pods
			policy.Signal{Enabled: true, Available: true, Value: 90, Target: 50, Recommendation: 4}},
		{"missing pods count 100% on scale-down", 4, policy.CPUObservation{Available: true, Pods: cat(
			pods(3, 100, true, true), pods(1, 0, true, false))},
			// ready 10% -> ratio 0.2 (alone: 1 pod); missing at 100%: 1300/4000 = 32%, 0.64 x 4
			policy.Signal{Enabled: true, Available: true, Value: 10, Target: 50, Recommendation: 3}},
		{"missing pods reverse the direction: hold", 4, policy.CPUObservation{Available: true, Pods: cat(
			pods(2, 100, true, true), pods(2, 0, true, false))},
			// ratio 0.2; with missing at 100%: 2200/4000 = 55%, ratio 1.1 points up
			policy.Signal{Enabled: true, Available: true, Value: 10, Target: 50, Recommendation: 4, Note: policy.NoteDirectionFlip}},
		{"unready pods ignored on scale-down", 4, policy.CPUObservation{Available: true, Pods: cat(
			pods(2, 200, true, true), pods(2, 1000, false, true))},
			policy.Signal{Enabled: true, Available: true, Value: 20, Target: 50, Recommendation: 1}},
		{"unready pods count 0% on scale-up, and may reverse it: hold", 4, policy.CPUObservation{Available: true, Pods: cat(
			pods(2, 600, true, true), pods(2, 900, false, true))},
			// ratio 1.2; with unready at 0%: 1200/4000 = 30%, ratio 0.6 points down
			policy.Signal{Enabled: true, Available: true, Value: 60, Target: 50, Recommendation: 4, Note: policy.NoteDirectionFlip}},
		{"unready pods count 0% on scale-up", 3, policy.CPUObservation{Available: true, Pods: cat(
			pods(2, 1000, true, true), pods(1, 0, false, false))},
			// ratio 2; with the unready pod: 2000/3000 = 66%, 1.32 x 3 = 3.96
			policy.Signal{Enabled: true, Available: true, Value: 100, Target: 50, Recommendation: 4}},
		{"unequal requests", 2, policy.CPUObservation{Available: true, Pods: []policy.PodCPU{
			{Ready: true, HasMetric: true, UsageMilli: 1500, RequestMilli: 2000},
			{Ready: true, HasMetric: true, UsageMilli: 500, RequestMilli: 1000},
		}},
			// 2000/3000 = 66% -> 1.32 x 2
			policy.Signal{Enabled: true, Available: true, Value: 66, Target: 50, Recommendation: 3}},
		{"a pod without a request", 2, policy.CPUObservation{Available: true, Pods: []policy.PodCPU{
			{Ready: true, HasMetric: true, UsageMilli: 500, RequestMilli: 1000},
			{Ready: true, HasMetric: true, UsageMilli: 500},
		}},
			policy.Signal{Enabled: true, Target: 50, Note: policy.NoteNoCPURequest}},
		{"no ready pod has a sample", 2, policy.CPUObservation{Available: true, Pods: cat(
			pods(1, 0, true, false), pods(1, 500, false, true))},
			policy.Signal{Enabled: true, Target: 50, Note: policy.NoteNoReadyPods}},
		{"metrics API unavailable", 2, policy.CPUObservation{},
			policy.Signal{Enabled: true, Target: 50, Note: policy.NoteCPUUnavailable}},
	}
	spec := mustSpec(t, policy.KeyTargetCPUUtilization, "50")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obs(tt.replicas, q(0, 0))
			o.CPU = tt.cpu
			d, _ := policy.Decide(spec, o, settled(tt.replicas), t0)
			if diff := cmp.Diff(tt.want, d.Signals.CPU); diff != "" {
				t.Errorf("cpu signal diff (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		o := obs(2, q(0, 0))
		o.CPU = policy.CPUObservation{Available: true, Pods: pods(2, 800, true, true)}
		d, _ := policy.Decide(mustSpec(t), o, policy.State{}, t0)
		if diff := cmp.Diff(policy.Signal{Note: policy.NoteOff}, d.Signals.CPU); diff != "" {
			t.Errorf("cpu signal diff (-want +got):\n%s", diff)
		}
	})
}

// summary is the part of a decision the behaviour tests compare.
type summary struct {
	Desired  int32
	Apply    bool
	DrivenBy policy.Driver
	Limits   []policy.Limit
	Reason   string
}

func summarize(d policy.Decision) summary {
	return summary{d.Desired, d.Apply, d.DrivenBy, d.Limits, d.Reason}
}

func TestCombine(t *testing.T) {
	spec := mustSpec(t, policy.KeyMaxReplicas, "50",
		policy.KeyTargetDrainSeconds, "60", policy.KeyPerPodRate, "10",
		policy.KeyTargetCPUUtilization, "50")
	cpu := func(usage int64) policy.CPUObservation {
		return policy.CPUObservation{Available: true, Pods: pods(10, usage, true, true)}
	}
	// Depth sits in unacked messages so that nothing is learned and the
	// per-pod rate stays the annotation's 10/s.
	tests := []struct {
		name  string
		queue policy.QueueObservation
		cpu   policy.CPUObservation
		want  summary
	}{
		{"depth highest", withRates(q(0, 2000), 10, 10), cpu(500), summary{
			Desired: 20, Apply: true, DrivenBy: policy.DrivenByDepth,
			Reason: "depth 2000 > 10 pods x 100 wants 20; scale 10 -> 20",
		}},
		{"rate highest", withRates(q(0, 600), 290, 290), cpu(500), summary{
			Desired: 34, Apply: true, DrivenBy: policy.DrivenByRate,
			Reason: "need 300.0/s (arrivals 290.0/s + backlog 600 in 1m0s) > 10 pods x 9.0/s (90% of 10.0/s) wants 34; scale 10 -> 34",
		}},
		{"cpu highest", withRates(q(0, 600), 90, 90), cpu(1000), summary{
			Desired: 20, Apply: true, DrivenBy: policy.DrivenByCPU,
			Reason: "cpu 100% > target 50% wants 20; scale 10 -> 20",
		}},
		{"a tie goes to the first signal", withRates(q(0, 1000), 90-1000.0/60, 10), cpu(500), summary{
			Desired: 10, DrivenBy: policy.DrivenByDepth,
			Reason: "depth 1000 = 10 pods x 100 wants 10; hold 10",
		}},
		{"every signal within tolerance: keep current and say so", withRates(q(0, 1050), 80, 80), cpu(540), summary{
			Desired: 10, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitTolerance, From: 11, To: 10}},
			Reason: "depth 1050 > 10 pods x 100 wants 11; tolerance 11 -> 10; hold 10",
		}},
		{"one signal beyond tolerance wins over one held", withRates(q(0, 1050), 90, 90), cpu(700), summary{
			Desired: 14, Apply: true, DrivenBy: policy.DrivenByCPU,
			Reason: "cpu 70% > target 50% wants 14; scale 10 -> 14",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obs(10, tt.queue)
			o.CPU = tt.cpu
			d, _ := policy.Decide(spec, o, settled(10), t0)
			if diff := cmp.Diff(tt.want, summarize(d)); diff != "" {
				t.Errorf("decision diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueueUnavailable(t *testing.T) {
	down := policy.QueueObservation{Available: false, Ready: 99999}
	cpuAt := func(usage int64) policy.CPUObservation {
		return policy.CPUObservation{Available: true, Pods: pods(8, usage, true, true)}
	}
	failing := func(since time.Duration) policy.State {
		s := settled(8)
		s.QueueFailingSince = t0.Add(-since)
		return s
	}
	withFallback := []string{policy.KeyFallbackReplicas, "3", policy.KeyFallbackAfter, "1m", policy.KeyTargetCPUUtilization, "50"}
	tests := []struct {
		name  string
		kv    []string
		cpu   policy.CPUObservation
		state policy.State
		want  summary
	}{
		{"hold current", nil, policy.CPUObservation{}, settled(8), summary{
			Desired: 8, DrivenBy: policy.DrivenByHold,
			Reason: "queue unavailable for 0s; hold 8",
		}},
		{"still holding without fallback, an hour later", nil, policy.CPUObservation{}, failing(time.Hour), summary{
			Desired: 8, DrivenBy: policy.DrivenByHold,
			Reason: "queue unavailable for 1h0m0s; hold 8",
		}},
		{"CPU may scale up", []string{policy.KeyTargetCPUUtilization, "50"}, cpuAt(1000), settled(8), summary{
			Desired: 10, Apply: true, DrivenBy: policy.DrivenByCPU,
			Limits: []policy.Limit{{Kind: policy.LimitMaxReplicas, From: 16, To: 10}},
			Reason: "cpu 100% > target 50% wants 16 (queue unavailable for 0s); max-replicas 16 -> 10; scale 8 -> 10",
		}},
		{"CPU may not scale down", []string{policy.KeyTargetCPUUtilization, "50"}, cpuAt(100), settled(8), summary{
			Desired: 8, DrivenBy: policy.DrivenByHold,
			Limits: []policy.Limit{{Kind: policy.LimitQueueUnavailable, From: 2, To: 8}},
			Reason: "queue unavailable for 0s; queue-unavailable 2 -> 8; hold 8",
		}},
		{"before fallback-after: hold", withFallback, cpuAt(100), failing(59 * time.Second), summary{
			Desired: 8, DrivenBy: policy.DrivenByHold,
			Limits: []policy.Limit{{Kind: policy.LimitQueueUnavailable, From: 2, To: 8}},
			Reason: "queue unavailable for 59s (fallback after 1m0s); queue-unavailable 2 -> 8; hold 8",
		}},
		{"at fallback-after: fallback, past the window and cooldown", withFallback, cpuAt(100), func() policy.State {
			s := failing(time.Minute)
			s.History = []policy.Recommendation{{Time: t0.Add(-time.Second), Replicas: 8}}
			s.LastScaleUp = t0.Add(-time.Second)
			return s
		}(), summary{
			Desired: 3, Apply: true, DrivenBy: policy.DrivenByFallback,
			Limits: []policy.Limit{{Kind: policy.LimitFallback, From: 8, To: 3}},
			Reason: "queue unavailable for 1m0s: fallback-replicas 3; scale 8 -> 3",
		}},
		{"fallback, CPU higher", withFallback, cpuAt(600), failing(time.Hour), summary{
			Desired: 10, Apply: true, DrivenBy: policy.DrivenByCPU,
			Reason: "cpu 60% > target 50% wants 10 (queue unavailable for 1h0m0s); scale 8 -> 10",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obs(8, down)
			o.CPU = tt.cpu
			d, _ := policy.Decide(mustSpec(t, tt.kv...), o, tt.state, t0)
			if diff := cmp.Diff(tt.want, summarize(d)); diff != "" {
				t.Errorf("decision diff (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("failure start is remembered and cleared", func(t *testing.T) {
		spec := mustSpec(t)
		_, s := policy.Decide(spec, obs(8, down), settled(8), t0)
		_, s = policy.Decide(spec, obs(8, down), s, t0.Add(time.Minute))
		if !s.QueueFailingSince.Equal(t0) {
			t.Errorf("QueueFailingSince = %v, want %v", s.QueueFailingSince, t0)
		}
		_, s = policy.Decide(spec, obs(8, q(800, 0)), s, t0.Add(2*time.Minute))
		if !s.QueueFailingSince.IsZero() {
			t.Errorf("QueueFailingSince = %v after recovery, want zero", s.QueueFailingSince)
		}
	})
}

func TestScaleToZero(t *testing.T) {
	zero := []string{policy.KeyMinReplicas, "0"}
	quiet := func(ago time.Duration) policy.State {
		s := settled(2)
		s.LastArrival, s.QuietSince = t0.Add(-ago), t0.Add(-ago)
		return s
	}
	idle := withRates(q(0, 0), 0, 0)
	guard := func(until time.Time) []policy.Limit {
		return []policy.Limit{{Kind: policy.LimitRecentArrivals, From: 0, To: 1, Until: until}}
	}
	tests := []struct {
		name  string
		kv    []string
		queue policy.QueueObservation
		state policy.State
		want  summary
	}{
		{"all conditions: zero", zero, idle, quiet(5 * time.Minute), summary{
			Desired: 0, Apply: true, DrivenBy: policy.DrivenByIdle,
			Reason: "queue empty, no arrivals for 5m0s wants 0; scale 2 -> 0",
		}},
		{"min-replicas 1", nil, idle, quiet(time.Hour), summary{
			Desired: 1, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitMinReplicas, From: 0, To: 1}},
			Reason: "depth 0 < 2 pods x 100 wants 0; min-replicas 0 -> 1; scale 2 -> 1",
		}},
		{"arrivals within the cooldown", zero, idle, quiet(4*time.Minute + 59*time.Second), summary{
			Desired: 1, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: guard(t0.Add(time.Second)),
			Reason: "depth 0 < 2 pods x 100 wants 0; recent-arrivals 0 -> 1 (1s left); scale 2 -> 1",
		}},
		{"arrivals now", zero, withRates(q(0, 0), 0.5, 0.5), quiet(time.Hour), summary{
			Desired: 1, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: guard(t0.Add(5 * time.Minute)),
			Reason: "depth 0 < 2 pods x 100 wants 0; recent-arrivals 0 -> 1 (5m0s left); scale 2 -> 1",
		}},
		{"unacked messages, even when not counted in depth", append([]string{policy.KeyCountUnacked, "false"}, zero...),
			withRates(q(0, 3), 0, 0), quiet(time.Hour), summary{
				Desired: 1, Apply: true, DrivenBy: policy.DrivenByDepth,
				Limits: guard(t0.Add(5 * time.Minute)),
				Reason: "depth 0 < 2 pods x 100 wants 0; recent-arrivals 0 -> 1 (5m0s left); scale 2 -> 1",
			}},
		{"rates unknown: arrivals cannot be ruled out", zero, q(0, 0), quiet(time.Hour), summary{
			Desired: 1, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: guard(t0.Add(5 * time.Minute)),
			Reason: "depth 0 < 2 pods x 100 wants 0; recent-arrivals 0 -> 1 (5m0s left); scale 2 -> 1",
		}},
		{"a new workload has seen no quiet yet", zero, idle, policy.State{}, summary{
			Desired: 2, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleDownWindow, From: 0, To: 2}},
			Reason: "depth 0 < 2 pods x 100 wants 0; scale-down-window 0 -> 2; hold 2",
		}},
		{"idle goes to zero within scale-down-delay after a scale-up: scale-to-zero-after alone decides, as KEDA's cooldownPeriod", zero, idle, func() policy.State {
			s := quiet(time.Hour)
			s.LastScaleUp = t0.Add(-time.Minute)
			return s
		}(), summary{
			Desired: 0, Apply: true, DrivenBy: policy.DrivenByIdle,
			Reason: "queue empty, no arrivals for 1h0m0s wants 0; scale 2 -> 0",
		}},
		{"idle ignores the window and CPU", append([]string{policy.KeyTargetCPUUtilization, "50"}, zero...), idle, func() policy.State {
			s := quiet(5 * time.Minute)
			s.History = []policy.Recommendation{{Time: t0.Add(-time.Minute), Replicas: 2}}
			return s
		}(), summary{
			Desired: 0, Apply: true, DrivenBy: policy.DrivenByIdle,
			Reason: "queue empty, no arrivals for 5m0s wants 0; scale 2 -> 0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obs(2, tt.queue)
			o.CPU = policy.CPUObservation{Available: true, Pods: pods(2, 30, true, true)}
			d, _ := policy.Decide(mustSpec(t, tt.kv...), o, tt.state, t0)
			if diff := cmp.Diff(tt.want, summarize(d)); diff != "" {
				t.Errorf("decision diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWakeFromZero(t *testing.T) {
	spec := mustSpec(t, policy.KeyMinReplicas, "0", policy.KeyActivationDepth, "5", policy.KeyActivationMaxWait, "2m")
	waiting := func(since time.Duration) policy.State {
		return policy.State{WaitingSince: t0.Add(-since), LastArrival: t0.Add(-since)}
	}
	tests := []struct {
		name      string
		spec      policy.Spec
		queue     policy.QueueObservation
		state     policy.State
		want      summary
		wantSince time.Time
	}{
		{"empty: stay at zero", spec, withRates(q(0, 0), 0, 0), policy.State{}, summary{
			DrivenBy: policy.DrivenByIdle, Reason: "queue empty at zero replicas; hold 0",
		}, time.Time{}},
		{"at activation-depth: stay, and start waiting", spec, withRates(q(5, 0), 1, 0), policy.State{}, summary{
			DrivenBy: policy.DrivenByActivation,
			Limits:   []policy.Limit{{Kind: policy.LimitActivation, From: 1, To: 0, Until: t0.Add(2 * time.Minute)}},
			Reason:   "depth 5 <= activation-depth 5 at zero replicas, waiting 0s of activation-max-wait 2m0s; hold 0",
		}, t0},
		{"above activation-depth: wake", spec, withRates(q(250, 0), 10, 0), policy.State{}, summary{
			Desired: 3, Apply: true, DrivenBy: policy.DrivenByDepth,
			Reason: "depth 250 > 0 pods x 100 wants 3; scale 0 -> 3",
		}, t0},
		{"waited less than activation-max-wait", spec, withRates(q(2, 0), 0, 0), waiting(119 * time.Second), summary{
			DrivenBy: policy.DrivenByActivation,
			Limits:   []policy.Limit{{Kind: policy.LimitActivation, From: 1, To: 0, Until: t0.Add(time.Second)}},
			Reason:   "depth 2 <= activation-depth 5 at zero replicas, waiting 1m59s of activation-max-wait 2m0s; hold 0",
		}, t0.Add(-119 * time.Second)},
		{"waited activation-max-wait: wake", spec, withRates(q(2, 0), 0, 0), waiting(2 * time.Minute), summary{
			Desired: 1, Apply: true, DrivenBy: policy.DrivenByDepth,
			Reason: "depth 2 > 0 pods x 100 wants 1 (waited 2m0s >= activation-max-wait); scale 0 -> 1",
		}, t0.Add(-2 * time.Minute)},
		{"queue unavailable at zero: hold zero", spec, policy.QueueObservation{}, waiting(time.Minute), summary{
			DrivenBy: policy.DrivenByHold, Reason: "queue unavailable for 0s; hold 0",
		}, t0.Add(-time.Minute)},
		{"zero replicas but min-replicas 1", mustSpec(t), withRates(q(0, 0), 0, 0), policy.State{}, summary{
			Desired: 1, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitMinReplicas, From: 0, To: 1}},
			Reason: "depth 0 = 0 pods x 100 wants 0; min-replicas 0 -> 1; scale 0 -> 1",
		}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s := policy.Decide(tt.spec, obs(0, tt.queue), tt.state, t0)
			if diff := cmp.Diff(tt.want, summarize(d)); diff != "" {
				t.Errorf("decision diff (-want +got):\n%s", diff)
			}
			if !s.WaitingSince.Equal(tt.wantSince) {
				t.Errorf("WaitingSince = %v, want %v", s.WaitingSince, tt.wantSince)
			}
		})
	}
}

func TestBehaviour(t *testing.T) {
	tests := []struct {
		name     string
		kv       []string
		replicas int32
		queue    policy.QueueObservation
		state    policy.State
		want     summary
	}{
		{"scale-up cooldown", nil, 4, q(800, 0), func() policy.State {
			s := settled(4)
			s.LastScaleUp = t0.Add(-10 * time.Second)
			return s
		}(), summary{
			Desired: 4, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleUpCooldown, From: 8, To: 4, Until: t0.Add(5 * time.Second)}},
			Reason: "depth 800 > 4 pods x 100 wants 8; scale-up-cooldown 8 -> 4 (5s left); hold 4",
		}},
		{"scale-up cooldown over", nil, 4, q(800, 0), func() policy.State {
			s := settled(4)
			s.LastScaleUp = t0.Add(-15 * time.Second)
			return s
		}(), summary{
			Desired: 8, Apply: true, DrivenBy: policy.DrivenByDepth,
			Reason: "depth 800 > 4 pods x 100 wants 8; scale 4 -> 8",
		}},
		{"scale-up step, pods", []string{policy.KeyMaxScaleUpStep, "2"}, 4, q(800, 0), settled(4), summary{
			Desired: 6, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleUpStep, From: 8, To: 6}},
			Reason: "depth 800 > 4 pods x 100 wants 8; max-scale-up-step 8 -> 6; scale 4 -> 6",
		}},
		{"scale-up step, the larger of pods and percent", []string{policy.KeyMaxScaleUpStep, "1,50%"}, 4, q(800, 0), settled(4), summary{
			Desired: 6, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleUpStep, From: 8, To: 6}},
			Reason: "depth 800 > 4 pods x 100 wants 8; max-scale-up-step 8 -> 6; scale 4 -> 6",
		}},
		{"scale-down window", nil, 8, q(300, 0), func() policy.State {
			s := settled(8)
			s.History = []policy.Recommendation{{Time: t0.Add(-4 * time.Minute), Replicas: 7}, {Time: t0.Add(-time.Minute), Replicas: 5}}
			return s
		}(), summary{
			Desired: 7, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleDownWindow, From: 3, To: 7}},
			Reason: "depth 300 < 8 pods x 100 wants 3; scale-down-window 3 -> 7; scale 8 -> 7",
		}},
		{"scale-down window: older entries are out", nil, 8, q(300, 0), func() policy.State {
			s := settled(8)
			s.History = []policy.Recommendation{{Time: t0.Add(-5 * time.Minute), Replicas: 7}, {Time: t0.Add(-time.Minute), Replicas: 5}}
			return s
		}(), summary{
			Desired: 5, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleDownWindow, From: 3, To: 5}},
			Reason: "depth 300 < 8 pods x 100 wants 3; scale-down-window 3 -> 5; scale 8 -> 5",
		}},
		{"no scale-down within the cooldown after a scale-up", nil, 8, q(300, 0), func() policy.State {
			s := settled(8)
			s.LastScaleUp = t0.Add(-4 * time.Minute)
			return s
		}(), summary{
			Desired: 8, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleDownDelay, From: 3, To: 8, Until: t0.Add(time.Minute)}},
			Reason: "depth 300 < 8 pods x 100 wants 3; scale-down-delay 3 -> 8 (1m0s left); hold 8",
		}},
		{"scale-down step", []string{policy.KeyMaxScaleDownStep, "2,10%", policy.KeyMaxReplicas, "50"}, 30, q(300, 0), settled(30), summary{
			Desired: 27, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitScaleDownStep, From: 3, To: 27}},
			Reason: "depth 300 < 30 pods x 100 wants 3; max-scale-down-step 3 -> 27; scale 30 -> 27",
		}},
		{"max-replicas", nil, 4, q(5000, 0), settled(4), summary{
			Desired: 10, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitMaxReplicas, From: 50, To: 10}},
			Reason: "depth 5000 > 4 pods x 100 wants 50; max-replicas 50 -> 10; scale 4 -> 10",
		}},
		{"above max-replicas: back within bounds at once", nil, 14, q(1400, 0), settled(14), summary{
			Desired: 10, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitMaxReplicas, From: 14, To: 10}},
			Reason: "depth 1400 = 14 pods x 100 wants 14; max-replicas 14 -> 10; scale 14 -> 10",
		}},
		{"min-replicas", []string{policy.KeyMinReplicas, "3"}, 4, q(0, 0), settled(4), summary{
			Desired: 3, Apply: true, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitMinReplicas, From: 0, To: 3}},
			Reason: "depth 0 < 4 pods x 100 wants 0; min-replicas 0 -> 3; scale 4 -> 3",
		}},
		{"paused: reported, not applied, still clamped", []string{policy.KeyPaused, "true"}, 4, q(5000, 0), settled(4), summary{
			Desired: 10, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitMaxReplicas, From: 50, To: 10}, {Kind: policy.LimitPaused, From: 10, To: 4}},
			Reason: "depth 5000 > 4 pods x 100 wants 50; max-replicas 50 -> 10; paused: would scale 4 -> 10",
		}},
		{"dry-run: what would have been applied", []string{policy.KeyDryRun, "true"}, 4, q(800, 0), settled(4), summary{
			Desired: 8, DrivenBy: policy.DrivenByDepth,
			Limits: []policy.Limit{{Kind: policy.LimitDryRun, From: 8, To: 4}},
			Reason: "depth 800 > 4 pods x 100 wants 8; dry-run: would scale 4 -> 8",
		}},
		{"dry-run, nothing to do", []string{policy.KeyDryRun, "true"}, 4, q(400, 0), settled(4), summary{
			Desired: 4, DrivenBy: policy.DrivenByDepth,
			Reason: "depth 400 = 4 pods x 100 wants 4; dry-run: hold 4",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := policy.Decide(mustSpec(t, tt.kv...), obs(tt.replicas, tt.queue), tt.state, t0)
			if diff := cmp.Diff(tt.want, summarize(d)); diff != "" {
				t.Errorf("decision diff (-want +got):\n%s", diff)
			}
			if d.Changed() != d.Apply {
				t.Errorf("Changed() = %v, Apply = %v", d.Changed(), d.Apply)
			}
		})
	}
}

// TestScaleTimes checks that only applied changes move the cooldown clocks.
func TestScaleTimes(t *testing.T) {
	type times struct{ Up, Down time.Time }
	tests := []struct {
		name     string
		kv       []string
		replicas int32
		depth    int64
		want     times
	}{
		{"scale-up", nil, 2, 500, times{Up: t0}},
		{"scale-down", nil, 8, 100, times{Down: t0}},
		{"hold", nil, 5, 500, times{}},
		{"paused scale-up", []string{policy.KeyPaused, "true"}, 2, 500, times{}},
		{"dry-run scale-down", []string{policy.KeyDryRun, "true"}, 8, 100, times{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := policy.Decide(mustSpec(t, tt.kv...), obs(tt.replicas, q(tt.depth, 0)), settled(tt.replicas), t0)
			if diff := cmp.Diff(tt.want, times{s.LastScaleUp, s.LastScaleDown}); diff != "" {
				t.Errorf("scale times diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecideIsPure checks that Decide leaves its arguments alone and gives
// the same answer twice.
func TestDecideIsPure(t *testing.T) {
	spec := mustSpec(t, policy.KeyTargetDrainSeconds, "60", policy.KeyTargetCPUUtilization, "60")
	history := make([]policy.Recommendation, 2, 8) // spare capacity to tempt an in-place append
	history[0] = policy.Recommendation{Time: t0.Add(-3 * time.Minute), Replicas: 9}
	history[1] = policy.Recommendation{Time: t0.Add(-time.Minute), Replicas: 7}
	state := policy.State{History: history, PerPodRate: 12, PerPodRateAt: t0.Add(-time.Minute), LastArrival: t0.Add(-time.Minute)}
	o := obs(8, withRates(q(500, 20), 40, 60))
	o.CPU = policy.CPUObservation{Available: true, Pods: pods(8, 300, true, true)}

	before := cloneState(state)
	d1, s1 := policy.Decide(spec, o, state, t0)
	d2, s2 := policy.Decide(spec, o, state, t0)
	if diff := cmp.Diff(before, state); diff != "" {
		t.Errorf("Decide modified its state argument, diff (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(history[:cap(history)][2:], make([]policy.Recommendation, 6)); diff != "" {
		t.Errorf("Decide wrote past the state's history, diff:\n%s", diff)
	}
	if diff := cmp.Diff(d1, d2); diff != "" {
		t.Errorf("Decide gave two decisions for one input, diff (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(s1, s2); diff != "" {
		t.Errorf("Decide gave two states for one input, diff (-first +second):\n%s", diff)
	}
}

func cloneState(s policy.State) policy.State {
	s.History = append([]policy.Recommendation(nil), s.History...)
	return s
}

// TestHistoryStaysSmall checks that the window keeps only what can matter.
func TestHistoryStaysSmall(t *testing.T) {
	spec := mustSpec(t, policy.KeyMaxReplicas, "100")
	var s policy.State
	replicas := int32(10)
	for i := range 400 { // 100 minutes of 15 s ticks with a saw-tooth depth
		depth := int64(i%40) * 100
		var d policy.Decision
		d, s = policy.Decide(spec, obs(replicas, q(depth, 0)), s, t0.Add(time.Duration(i)*15*time.Second))
		if d.Apply {
			replicas = d.Desired
		}
		if len(s.History) > 21 {
			t.Fatalf("tick %d: history has %d entries, want at most one per tick of the window", i, len(s.History))
		}
		for j := 1; j < len(s.History); j++ {
			if s.History[j].Replicas >= s.History[j-1].Replicas {
				t.Fatalf("tick %d: history not strictly decreasing: %+v", i, s.History)
			}
		}
	}
}

func TestDecideOddSpec(t *testing.T) {
	// A Spec not from ParseSpec is made safe rather than trusted.
	spec := policy.Spec{MinReplicas: 5, MaxReplicas: 2, TargetDepthPerPod: 0, Tolerance: math.NaN(),
		ScaleDownDelay: -time.Minute, ScaleToZeroAfter: -time.Second, PerPodRate: math.Inf(1), TargetDrain: time.Minute}
	d, _ := policy.Decide(spec, obs(3, withRates(q(10, 0), 1, 1)), policy.State{}, t0)
	if d.Desired != 5 {
		t.Errorf("Desired = %d, want 5 (min-replicas wins over a smaller max)", d.Desired)
	}
}

// TestResumedStateHoldsOneWindow: a controller that reads stored state back
// (after a restart or a leader change) does not know the recommendations
// made since it was stored, so it holds the current replicas for one
// scale-down window from the resumption, whatever the stored window says.
func TestResumedStateHoldsOneWindow(t *testing.T) {
	spec := mustSpec(t, policy.KeyScaleDownCooldown, "5m")
	stored := settled(10) // a window that would allow scaling down at once
	low := q(150, 0)      // wants 2

	d, _ := policy.Decide(spec, obs(10, low), stored, t0)
	if !d.Apply || d.Desired != 2 {
		t.Fatalf("without resumption: desired %d (apply %v), want 2 at once; the test's premise is wrong", d.Desired, d.Apply)
	}
	state := stored.Resumed(t0, 10)
	for _, s := range []struct {
		at   time.Duration
		want int32
	}{{0, 10}, {time.Minute, 10}, {4*time.Minute + 59*time.Second, 10}, {5 * time.Minute, 2}} {
		d, next := policy.Decide(spec, obs(10, low), state, t0.Add(s.at))
		if d.Desired != s.want {
			t.Errorf("%s after resuming: desired %d (%s), want %d", s.at, d.Desired, d.Reason, s.want)
		}
		if !d.Apply {
			state = next
		}
	}
	if got := (policy.State{}).Resumed(t0, 0); len(got.History) != 0 {
		t.Errorf("resumed at 0 replicas: history %v, want none (nothing to hold)", got.History)
	}
}

// TestDurableStateIgnoresPerTickChurn: what changes on every tick of a busy
// workload does not count as a change worth storing; what a resumed
// controller needs does.
func TestDurableStateIgnoresPerTickChurn(t *testing.T) {
	base := policy.State{
		History:           []policy.Recommendation{{Time: t0, Replicas: 4}},
		LastScaleUp:       t0.Add(-time.Hour),
		PerPodRate:        24.9,
		PerPodRateAt:      t0,
		LastArrival:       t0,
		SaturatedSince:    t0,
		SaturatedReplicas: 4,
	}
	same := func(s policy.State) bool { return cmp.Equal(base.Durable(), s.Durable()) }
	churn := base
	churn.History = append(churn.History, policy.Recommendation{Time: t0.Add(5 * time.Second), Replicas: 3})
	churn.LastArrival, churn.PerPodRateAt = t0.Add(5*time.Second), t0.Add(5*time.Second)
	churn.SaturatedSince, churn.SaturatedReplicas = time.Time{}, 0
	churn.PerPodRate = 25.2
	if !same(churn) {
		t.Errorf("a tick's churn counts as a durable change:\n%s", cmp.Diff(base.Durable(), churn.Durable()))
	}
	for name, change := range map[string]func(*policy.State){
		"a scale-down":            func(s *policy.State) { s.LastScaleDown = t0 },
		"the per-pod rate, 10%":   func(s *policy.State) { s.PerPodRate = 27.4 },
		"the queue failing":       func(s *policy.State) { s.QueueFailingSince = t0 },
		"messages waiting at 0":   func(s *policy.State) { s.WaitingSince = t0 },
		"a bound becoming a rate": func(s *policy.State) { s.PerPodRateBound = true },
	} {
		s := base
		change(&s)
		if same(s) {
			t.Errorf("%s does not count as a durable change", name)
		}
	}
}
