package policy_test

// The Kubernetes HPA's own unit tests for its behaviour, replayed through
// the public API of this package. Each row names the HPA test function and
// case it comes from (kubernetes/kubernetes
// pkg/controller/podautoscaler/horizontal_test.go; TestConfigurableTolerance
// is in the versions with per-direction tolerances, v1.33 and later). The
// inputs and the expected answers are the HPA's; the code is ours.
//
// How an HPA case becomes a rabbitscale one:
//
//   - The HPA's "desired replicas" before normalization is a queue depth of
//     desired x hpaDepthPerPod with tolerance 0, so that the depth signal
//     recommends exactly that. The CPU cases (TestConfigurableTolerance,
//     TestUpscaleCap and the other controller tests) use the CPU signal with
//     the HPA's pod samples and its default tolerance of 0.1 instead, and
//     an empty queue.
//   - spec.behavior is Spec.ScaleUp/ScaleDown (or rabbitscale.io/behavior);
//     a direction the HPA test leaves nil gets the HPA's default
//     (HPADefaultBehavior). rabbitscale's own holds (scale-up-cooldown,
//     scale-down-delay, the idle time before zero, the rate floor) are off.
//   - An HPA without spec.behavior uses its older rules: a scale-down
//     window of 5 minutes and a scale-up capped at max(scaleUpLimitFactor x
//     current, 4), where the tests set the factor to 8 (horizontal_test.go,
//     init). From one replica up that is 700% per decision (hpaLegacyUp).
//   - The HPA's prior recommendations are State.History and
//     State.UpHistory; its scaleUpEvents are State.Events with a positive
//     Change, its scaleDownEvents with a negative one. Decide trims both.
//   - The HPA tells an empty recommendation list (a workload it knows,
//     whose window holds nothing) from a missing one (a new workload, whose
//     current size it records as recommended now). An empty State.History
//     means the latter in rabbitscale too, so an empty HPA list is written
//     as one recommendation older than any window (hpaKnown).
//   - The HPA's ScalingLimited reason is compared where its test checks it:
//     the last rate or bound limit in Decision.Limits (hpaCondition).
//
// Not expressed, and why:
//
//   - TestConfigurableTolerance "No scaling because the configurable
//     tolerance is ignored as the feature gate is disabled": rabbitscale has
//     no feature gates; a tolerance in rabbitscale.io/behavior always counts.
//   - TestReplicaLimits "no scaling when spec replicas is zero": an HPA
//     never scales a workload at zero replicas; rabbitscale wakes it
//     (activation-depth), by design.
//   - What the HPA's tests check of its storage rather than its decisions:
//     the length of the recommendation log and which slot a new entry
//     reuses (TestNormalizeDesiredReplicas, TestNormalizeDesiredReplicas-
//     WithBehavior), and the "outdated" flag on events it keeps
//     (TestStoreScaleEvents). rabbitscale keeps compacted windows and drops
//     what can no longer count; the next decisions are the same.
//   - TestStoreScaleEvents "one outdated entry to be kept untouched without
//     behavior" keeps an event the HPA never counts without spec.behavior;
//     rabbitscale drops it (no period can count it). Its decisions and the
//     change it counts are checked; the untouched event is not.

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

// hpaNow is the time of every HPA case.
var hpaNow = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

// hpaDepthPerPod is target-depth-per-pod in the HPA cases: a desired
// replica count d is a queue depth of d x hpaDepthPerPod.
const hpaDepthPerPod = 10

// hpaRules builds one direction's rules the way the HPA's tests describe
// them: pods per podsPeriod and percent per percentPeriod (each left out
// when 0), selectPolicy Max, and a stabilization window, all in seconds.
func hpaRules(pods, podsPeriod, percent, percentPeriod, window int32) *policy.ScalingRules {
	r := policy.ScalingRules{
		StabilizationWindow: time.Duration(window) * time.Second,
		Select:              policy.SelectMax,
	}
	if pods != 0 {
		r.Policies = append(r.Policies, policy.ScalingPolicy{
			Type: policy.PodsPolicy, Value: pods, Period: time.Duration(podsPeriod) * time.Second})
	}
	if percent != 0 {
		r.Policies = append(r.Policies, policy.ScalingPolicy{
			Type: policy.PercentPolicy, Value: percent, Period: time.Duration(percentPeriod) * time.Second})
	}
	return &r
}

// hpaLegacyUp is the scale-up cap of an HPA without spec.behavior in its
// tests, max(8 x current, 4), which is 700% per decision from one replica
// up.
var hpaLegacyUp = policy.ScalingRules{
	Select:   policy.SelectMax,
	Policies: []policy.ScalingPolicy{{Type: policy.PercentPolicy, Value: 700}},
}

// hpaLegacyDown is the scale-down of an HPA without spec.behavior: a
// 5-minute window and no limit on the rate.
var hpaLegacyDown = policy.ScalingRules{StabilizationWindow: 5 * time.Minute}

// hpaSpread places changes evenly over the last period seconds, each in
// the middle of its share: four changes over 120 s happen 105, 75, 45 and
// 15 s ago. sign is +1 for scale-up events and -1 for scale-down events.
func hpaSpread(period int, sign int32, changes ...int32) []policy.ScaleEvent {
	share := float64(period) / float64(len(changes))
	out := make([]policy.ScaleEvent, 0, len(changes))
	for i, c := range changes {
		ago := float64(period) - share*float64(i+1) + share/2
		out = append(out, policy.ScaleEvent{
			Time:   hpaNow.Add(-time.Duration(ago * float64(time.Second))),
			Change: sign * c,
		})
	}
	return out
}

// hpaEvent is one change applied ago before hpaNow.
func hpaEvent(change int32, ago time.Duration) policy.ScaleEvent {
	return policy.ScaleEvent{Time: hpaNow.Add(-ago), Change: change}
}

// hpaRec is one recommendation made ago before hpaNow.
func hpaRec(replicas int32, ago time.Duration) policy.Recommendation {
	return policy.Recommendation{Time: hpaNow.Add(-ago), Replicas: replicas}
}

// hpaKnown stands for the HPA's empty (not missing) recommendation list:
// an entry older than any window, which tells Decide that the workload is
// known and that its window holds nothing.
var hpaKnown = []policy.Recommendation{hpaRec(0, 24*time.Hour)}

// hpaState is the HPA's memory as a State: its recommendations in both
// windows (an empty list as hpaKnown) and its scale events.
func hpaState(recs []policy.Recommendation, events ...[]policy.ScaleEvent) policy.State {
	s := policy.State{History: slices.Clone(recs), UpHistory: slices.Clone(recs)}
	if len(recs) == 0 {
		s.History = slices.Clone(hpaKnown)
	}
	for _, e := range events {
		s.Events = append(s.Events, e...)
	}
	return s
}

// hpaSpec decides as an HPA with these bounds and rules: no rabbitscale-only
// holds, tolerance 0, and a desired count given as a depth.
func hpaSpec(minReplicas, maxReplicas int32, up, down policy.ScalingRules) policy.Spec {
	s := policy.DefaultSpec()
	s.Queue.Names = []string{"work"}
	s.TargetDepthPerPod = hpaDepthPerPod
	s.MinReplicas, s.MaxReplicas = minReplicas, maxReplicas
	s.Tolerance = 0
	s.ScaleUpCooldown, s.ScaleDownDelay, s.ScaleToZeroAfter = 0, 0, 0
	s.RateFloor = false
	s.ScaleUp, s.ScaleDown = up, down
	return s
}

// hpaObs is current replicas with a queue whose depth recommends desired
// and whose publish counter stands still (the HPA may scale to zero at
// once when min-replicas is 0; rabbitscale needs the queue quiet).
func hpaObs(current, desired int32) policy.Observation {
	return policy.Observation{Replicas: current, Queue: policy.QueueObservation{
		Available:      true,
		Ready:          int64(desired) * hpaDepthPerPod,
		RatesAvailable: true,
	}}
}

// hpaCondition is the HPA's ScalingLimited reason for a decision: the last
// of the rate and bound limits that clipped it, else DesiredWithinRange.
func hpaCondition(d policy.Decision) string {
	cond := "DesiredWithinRange"
	for _, l := range d.Limits {
		switch l.Kind {
		case policy.LimitScaleUpStep:
			cond = "ScaleUpLimit"
		case policy.LimitScaleDownStep:
			cond = "ScaleDownLimit"
		case policy.LimitMaxReplicas:
			cond = "TooManyReplicas"
		case policy.LimitMinReplicas:
			cond = "TooFewReplicas"
		}
	}
	return cond
}

type hpaResult struct {
	Replicas  int32
	Condition string
}

// The HPA's rate limits and bounds: convertDesiredReplicasWithBehaviorRate
// (TestScalingWithRules) and, without spec.behavior,
// convertDesiredReplicasWithRules (TestConvertDesiredReplicasWithRules).
// Neither stabilizes, so the window holds nothing (hpaKnown).
func TestHPAScalingRules(t *testing.T) {
	const (
		rules   = "TestScalingWithRules"
		convert = "TestConvertDesiredReplicasWithRules"
	)
	tests := []struct {
		source, name         string
		min, max             int32
		up, down             *policy.ScalingRules // nil: the HPA's default
		upEvents, downEvents []policy.ScaleEvent
		current, desired     int32
		want                 int32
		cond                 string
	}{
		{source: rules, name: "prenormalized desired replicas within range",
			min: 3, max: 8, current: 5, desired: 7, want: 7, cond: "DesiredWithinRange"},
		{source: rules, name: "prenormalized desired replicas < minReplicas",
			min: 2, max: 8, current: 3, desired: 1, want: 2, cond: "TooFewReplicas"},
		{source: rules, name: "prenormalized desired replicas within range when minReplicas is 0",
			min: 0, max: 10, current: 1, desired: 0, want: 0, cond: "DesiredWithinRange"},
		{source: rules, name: "maxReplicas is the limit because maxReplicas < scaleUpLimit",
			min: 1, max: 10, current: 20, desired: 1000, want: 10, cond: "TooManyReplicas"},
		{source: rules, name: "desired replica count is more than the maximum replica count",
			min: 100, max: 150, current: 100, desired: 1000, want: 150, cond: "TooManyReplicas"},
		{source: rules, name: "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies",
			min: 1, max: 2000, up: hpaRules(0, 0, 1, 60, 0),
			current: 3, desired: 1000, want: 4, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with default behavior",
			min: 1, max: 1000, current: 10, desired: 50, want: 20, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with pods policy larger than percent policy",
			min: 1, max: 1000, up: hpaRules(100, 60, 100, 60, 0),
			current: 10, desired: 500, want: 110, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with percent policy larger than pods policy",
			min: 1, max: 1000, up: hpaRules(2, 60, 100, 60, 0),
			current: 10, desired: 500, want: 20, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with spec MaxReplicas limitation with large pod policy",
			min: 1, max: 1000, up: hpaRules(100, 60, 0, 0, 0),
			current: 10, desired: 50, want: 50, cond: "DesiredWithinRange"},
		{source: rules, name: "scaleUp with spec MaxReplicas limitation with large percent policy",
			min: 1, max: 1000, up: hpaRules(10000, 60, 0, 0, 0),
			current: 10, desired: 50, want: 50, cond: "DesiredWithinRange"},
		{source: rules, name: "scaleUp with pod policy limitation",
			min: 1, max: 1000, up: hpaRules(30, 60, 0, 0, 0),
			current: 10, desired: 50, want: 40, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with percent policy limitation",
			min: 1, max: 1000, up: hpaRules(0, 0, 200, 60, 0),
			current: 10, desired: 50, want: 30, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleDown with percent policy larger than pod policy",
			min: 1, max: 1000, down: hpaRules(20, 60, 1, 60, 300),
			current: 100, desired: 2, want: 80, cond: "ScaleDownLimit"},
		{source: rules, name: "scaleDown with pod policy larger than percent policy",
			min: 1, max: 1000, down: hpaRules(2, 60, 1, 60, 300),
			current: 100, desired: 2, want: 98, cond: "ScaleDownLimit"},
		{source: rules, name: "scaleDown with spec MinReplicas limitation with large pod policy",
			min: 1, max: 1000, down: hpaRules(100, 60, 0, 0, 300),
			current: 10, desired: 0, want: 1, cond: "TooFewReplicas"},
		{source: rules, name: "scaleDown with spec MinReplicas limitation with large percent policy",
			min: 5, max: 1000, down: hpaRules(0, 0, 100, 60, 300),
			current: 10, desired: 2, want: 5, cond: "TooFewReplicas"},
		{source: rules, name: "scaleDown with pod policy limitation",
			min: 1, max: 1000, down: hpaRules(5, 60, 0, 0, 300),
			current: 10, desired: 2, want: 5, cond: "ScaleDownLimit"},
		{source: rules, name: "scaleDown with percent policy limitation",
			min: 1, max: 1000, down: hpaRules(0, 0, 50, 60, 300),
			current: 10, desired: 5, want: 5, cond: "DesiredWithinRange"},
		{source: rules, name: "scaleUp with spec MaxReplicas limitation with large pod policy and events",
			min: 1, max: 200, up: hpaRules(300, 60, 0, 0, 0), upEvents: hpaSpread(120, 1, 1, 5, 9),
			current: 100, desired: 500, want: 200, cond: "TooManyReplicas"},
		{source: rules, name: "scaleUp with spec MaxReplicas limitation with large percent policy and events",
			min: 1, max: 200, up: hpaRules(0, 0, 10000, 60, 0), upEvents: hpaSpread(120, 1, 1, 5, 9),
			current: 100, desired: 500, want: 200, cond: "TooManyReplicas"},
		{source: rules, name: "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
			min: 1, max: 1000, up: hpaRules(5, 120, 0, 0, 0), upEvents: hpaSpread(120, 1, 1, 5, 9),
			current: 100, desired: 500, want: 100, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with pod policy and previous scale up events",
			min: 1, max: 1000, up: hpaRules(150, 120, 0, 0, 0), upEvents: hpaSpread(120, 1, 1, 5, 9),
			current: 100, desired: 500, want: 235, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with percent policy and previous scale up events",
			min: 1, max: 1000, up: hpaRules(0, 0, 200, 120, 0), upEvents: hpaSpread(120, 1, 1, 5, 9),
			current: 100, desired: 500, want: 255, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleUp with percent policy and previous scale up and down events",
			min: 1, max: 1000, up: hpaRules(0, 0, 300, 300, 0),
			upEvents: hpaSpread(120, 1, 4), downEvents: hpaSpread(120, -1, 2),
			current: 6, desired: 24, want: 16, cond: "ScaleUpLimit"},
		{source: rules, name: "scaleDown with default policy and previous events",
			min: 1, max: 1000, downEvents: hpaSpread(120, -1, 1, 5, 9),
			current: 10, desired: 5, want: 5, cond: "DesiredWithinRange"},
		{source: rules, name: "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events",
			min: 1, max: 1000, down: hpaRules(115, 120, 0, 0, 300), downEvents: hpaSpread(120, -1, 1, 5, 9),
			current: 100, desired: 0, want: 1, cond: "TooFewReplicas"},
		{source: rules, name: "scaleDown with spec MinReplicas limitation with large pod policy and previous events",
			min: 5, max: 1000, down: hpaRules(130, 120, 0, 0, 300), downEvents: hpaSpread(120, -1, 1, 5, 9),
			current: 100, desired: 0, want: 5, cond: "TooFewReplicas"},
		{source: rules, name: "scaleDown with spec MinReplicas limitation with large percent policy and previous events",
			min: 5, max: 1000, down: hpaRules(0, 0, 100, 120, 300), downEvents: hpaSpread(120, -1, 1, 5, 9),
			current: 100, desired: 2, want: 5, cond: "TooFewReplicas"},
		{source: rules, name: "scaleDown with pod policy limitation and previous events",
			min: 1, max: 1000, down: hpaRules(5, 120, 0, 0, 300), downEvents: hpaSpread(120, -1, 1, 5, 9),
			current: 100, desired: 2, want: 100, cond: "ScaleDownLimit"},
		{source: rules, name: "scaleDown with percent policy limitation and previous events",
			min: 1, max: 1000, down: hpaRules(0, 0, 50, 120, 300), downEvents: hpaSpread(120, -1, 2, 4, 6),
			current: 100, desired: 0, want: 56, cond: "ScaleDownLimit"},
		{source: rules, name: "scaleDown with percent policy and previous scale up and down events",
			min: 1, max: 1000, down: hpaRules(0, 0, 50, 180, 0),
			upEvents: hpaSpread(120, 1, 2), downEvents: hpaSpread(120, -1, 4),
			current: 10, desired: 1, want: 6, cond: "ScaleDownLimit"},
		{source: rules, name: "scaleDown with previous events preventing further scale down",
			min: 1, max: 1000, down: hpaRules(0, 0, 10, 120, 300), downEvents: hpaSpread(120, -1, 10, 10, 10),
			current: 100, desired: 0, want: 100, cond: "ScaleDownLimit"},
		{source: rules, name: "scaleDown with with previous events still allowing more scale down",
			min: 1, max: 1000, down: hpaRules(0, 0, 1000, 120, 300), downEvents: hpaSpread(120, -1, 10, 10, 10),
			current: 10, desired: 5, want: 5, cond: "DesiredWithinRange"},
		{source: rules, name: "check 'outdated' flag for events for one behavior for up",
			min: 1, max: 1000, up: hpaRules(1000, 60, 0, 0, 0), upEvents: hpaSpread(120, 1, 8, 12, 9, 11),
			current: 100, desired: 200, want: 200, cond: "DesiredWithinRange"},
		{source: rules, name: "check that events were not marked 'outdated' for two different policies in the behavior for up",
			min: 1, max: 1000, up: hpaRules(1000, 120, 100, 60, 0), upEvents: hpaSpread(120, 1, 8, 12, 9, 11),
			current: 100, desired: 200, want: 200, cond: "DesiredWithinRange"},
		{source: rules, name: "check that events were marked 'outdated' for two different policies in the behavior for up",
			min: 1, max: 1000, up: hpaRules(1000, 30, 100, 60, 0), upEvents: hpaSpread(120, 1, 8, 12, 9, 11),
			current: 100, desired: 200, want: 200, cond: "DesiredWithinRange"},
		{source: rules, name: "check 'outdated' flag for events for one behavior for down",
			min: 1, max: 1000, down: hpaRules(1000, 60, 0, 0, 300), downEvents: hpaSpread(120, -1, 8, 12, 9, 11),
			current: 100, desired: 5, want: 5, cond: "DesiredWithinRange"},
		{source: rules, name: "check that events were not marked 'outdated' for two different policies in the behavior for down",
			min: 1, max: 1000, down: hpaRules(1000, 120, 100, 60, 300), downEvents: hpaSpread(120, -1, 8, 12, 9, 11),
			current: 100, desired: 5, want: 5, cond: "DesiredWithinRange"},
		{source: rules, name: "check that events were marked 'outdated' for two different policies in the behavior for down",
			min: 1, max: 1000, down: hpaRules(1000, 30, 100, 60, 300), downEvents: hpaSpread(120, -1, 8, 12, 9, 11),
			current: 100, desired: 5, want: 5, cond: "DesiredWithinRange"},

		{source: convert, name: "prenormalized desired replicas within range",
			min: 3, max: 8, up: &hpaLegacyUp, down: &hpaLegacyDown,
			current: 5, desired: 7, want: 7, cond: "DesiredWithinRange"},
		{source: convert, name: "prenormalized desired replicas < minReplicas",
			min: 2, max: 8, up: &hpaLegacyUp, down: &hpaLegacyDown,
			current: 3, desired: 1, want: 2, cond: "TooFewReplicas"},
		{source: convert, name: "prenormalized desired zeroed replicas within range",
			min: 0, max: 10, up: &hpaLegacyUp, down: &hpaLegacyDown,
			current: 1, desired: 0, want: 0, cond: "DesiredWithinRange"},
		{source: convert, name: "maxReplicas is the limit because maxReplicas < scaleUpLimit",
			min: 1, max: 10, up: &hpaLegacyUp, down: &hpaLegacyDown,
			current: 20, desired: 1000, want: 10, cond: "TooManyReplicas"},
		{source: convert, name: "scaleUpLimit is the limit because scaleUpLimit < maxReplicas",
			min: 1, max: 2000, up: &hpaLegacyUp, down: &hpaLegacyDown,
			current: 3, desired: 1000, want: 24, cond: "ScaleUpLimit"}, // calculateScaleUpLimit(3) = 8 x 3
	}
	for _, tc := range tests {
		t.Run(tc.source+"/"+tc.name, func(t *testing.T) {
			def := policy.HPADefaultBehavior()
			up, down := def.ScaleUp, def.ScaleDown
			if tc.up != nil {
				up = *tc.up
			}
			if tc.down != nil {
				down = *tc.down
			}
			spec := hpaSpec(tc.min, tc.max, up, down)
			state := hpaState(nil, tc.upEvents, tc.downEvents)
			d, _ := policy.Decide(spec, hpaObs(tc.current, tc.desired), state, hpaNow)
			want := hpaResult{Replicas: tc.want, Condition: tc.cond}
			got := hpaResult{Replicas: d.Desired, Condition: hpaCondition(d)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s\ndiff (-want +got):\n%s", d.Reason, diff)
			}
		})
	}
}

// The HPA's stabilization windows: stabilizeRecommendationWithBehaviors
// (TestNormalizeDesiredReplicasWithBehavior) and, without spec.behavior,
// stabilizeRecommendation with its 5-minute scale-down window
// (TestNormalizeDesiredReplicas). Both stabilize only, so no policy limits
// the rate here. The HPA's stabilizeRecommendation does not look at the
// current replicas; those rows scale down from 100 so that only the window
// decides.
func TestHPAStabilization(t *testing.T) {
	const (
		behavior = "TestNormalizeDesiredReplicasWithBehavior"
		legacy   = "TestNormalizeDesiredReplicas"
	)
	m := time.Minute
	tests := []struct {
		source, name     string
		recs             []policy.Recommendation
		up, down         time.Duration // stabilization windows
		current, desired int32
		want             int32
	}{
		{source: behavior, name: "empty recommendations for scaling down",
			current: 100, desired: 5, want: 5},
		{source: behavior, name: "simple scale down stabilization",
			recs: []policy.Recommendation{hpaRec(4, 2*m), hpaRec(5, 1*m)}, down: 3 * m,
			current: 100, desired: 3, want: 5},
		{source: behavior, name: "simple scale up stabilization",
			recs: []policy.Recommendation{hpaRec(4, 2*m), hpaRec(5, 1*m)}, up: 5 * m,
			current: 1, desired: 7, want: 4},
		{source: behavior, name: "no scale down stabilization",
			recs: []policy.Recommendation{hpaRec(1, 2*m), hpaRec(2, 1*m)}, up: 5 * m,
			current: 100, desired: 3, want: 3},
		{source: behavior, name: "no scale up stabilization",
			recs: []policy.Recommendation{hpaRec(4, 2*m), hpaRec(5, 1*m)}, down: 5 * m,
			current: 1, desired: 3, want: 3},
		{source: behavior, name: "no scale down stabilization, reuse recommendation element",
			recs:    []policy.Recommendation{hpaRec(10, 10*m), hpaRec(9, 9*m)},
			current: 100, desired: 3, want: 3},
		{source: behavior, name: "no scale up stabilization, reuse recommendation element",
			recs:    []policy.Recommendation{hpaRec(10, 10*m), hpaRec(9, 9*m)},
			current: 1, desired: 100, want: 100},
		{source: behavior, name: "scale down stabilization, reuse one of obsolete recommendation element",
			recs:    []policy.Recommendation{hpaRec(10, 10*m), hpaRec(4, 1*m), hpaRec(5, 2*m), hpaRec(9, 9*m)},
			down:    3 * m,
			current: 100, desired: 3, want: 5},
		{source: behavior, name: "scale up stabilization, reuse one of obsolete recommendation element",
			recs:    []policy.Recommendation{hpaRec(10, 100*m), hpaRec(6, 1*m), hpaRec(5, 2*m), hpaRec(9, 3*m)},
			up:      5 * m,
			current: 1, desired: 100, want: 5},
		{source: behavior, name: "scale up and down stabilization, do not scale up when prenormalized rec goes down",
			recs: []policy.Recommendation{hpaRec(2, 100*m), hpaRec(3, 3*m)}, up: 5 * m, down: 5 * m,
			current: 2, desired: 1, want: 2},
		{source: behavior, name: "scale up and down stabilization, do not scale down when prenormalized rec goes up",
			recs: []policy.Recommendation{hpaRec(2, 100*m), hpaRec(1, 3*m)}, up: 5 * m, down: 5 * m,
			current: 2, desired: 3, want: 2},

		{source: legacy, name: "empty log", down: 5 * m,
			current: 100, desired: 5, want: 5},
		{source: legacy, name: "stabilize", down: 5 * m,
			recs:    []policy.Recommendation{hpaRec(4, 2*m), hpaRec(5, 1*m)},
			current: 100, desired: 3, want: 5},
		{source: legacy, name: "no stabilize", down: 5 * m,
			recs:    []policy.Recommendation{hpaRec(1, 2*m), hpaRec(2, 1*m)},
			current: 100, desired: 3, want: 3},
		{source: legacy, name: "no stabilize - old recommendations", down: 5 * m,
			recs:    []policy.Recommendation{hpaRec(10, 10*m), hpaRec(9, 9*m)},
			current: 100, desired: 3, want: 3},
		{source: legacy, name: "stabilize - old recommendations", down: 5 * m,
			recs:    []policy.Recommendation{hpaRec(10, 10*m), hpaRec(4, 1*m), hpaRec(5, 2*m), hpaRec(9, 9*m)},
			current: 100, desired: 3, want: 5},
	}
	for _, tc := range tests {
		t.Run(tc.source+"/"+tc.name, func(t *testing.T) {
			spec := hpaSpec(1, 1000,
				policy.ScalingRules{StabilizationWindow: tc.up},
				policy.ScalingRules{StabilizationWindow: tc.down})
			d, _ := policy.Decide(spec, hpaObs(tc.current, tc.desired), hpaState(tc.recs), hpaNow)
			if diff := cmp.Diff(tc.want, d.Desired); diff != "" {
				t.Errorf("%s\ndiff (-want +got):\n%s", d.Reason, diff)
			}
		})
	}
}

// The HPA's scale events (TestStoreScaleEvents): the change its policies
// count within 60 s of the stored events (getReplicasChangePerPeriod, here
// through a 60 s Pods policy's Limit), and which events still count after
// a change is applied (storeScaleEvent, here the State.Events Decide
// returns). Each row runs up and down, as the HPA's test does.
func TestHPAScaleEvents(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		rules *policy.ScalingRules // nil: no spec.behavior, no events kept
		prev  []policy.ScaleEvent  // as scale-up events; negated for down
		// inPeriod is the change within 60 s of prev.
		inPeriod int32
		// applied is the change Decide applies from 100 replicas: the
		// HPA's test stores 5 whatever its rules say; the rules of "two
		// entries, one of them to be replaced" allow only 4 (10 pods per
		// 60 s, 6 already used), which is what the HPA controller, which
		// stores the change it applied, would store.
		applied int32
		// kept are the events that still count besides the new one (the
		// HPA's newScaleEvents without those it marks outdated).
		kept []policy.ScaleEvent
	}{
		{name: "empty entries with default behavior",
			inPeriod: 0, applied: 5},
		{name: "empty entries with two-policy-behavior", rules: hpaRules(10, 60, 100, 60, 0),
			inPeriod: 0, applied: 5},
		{name: "one outdated entry to be kept untouched without behavior",
			prev:     []policy.ScaleEvent{hpaEvent(7, 61*s)},
			inPeriod: 0, applied: 5},
		{name: "one outdated entry to be replaced with behavior", rules: hpaRules(10, 60, 100, 60, 0),
			prev:     []policy.ScaleEvent{hpaEvent(7, 61*s)},
			inPeriod: 0, applied: 5},
		{name: "one actual entry to be not touched with behavior", rules: hpaRules(10, 60, 100, 60, 0),
			prev:     []policy.ScaleEvent{hpaEvent(7, 58*s)},
			inPeriod: 7, applied: 5,
			kept: []policy.ScaleEvent{hpaEvent(7, 58*s)}},
		{name: "two entries, one of them to be replaced", rules: hpaRules(10, 60, 0, 0, 0),
			prev:     []policy.ScaleEvent{hpaEvent(7, 61*s), hpaEvent(6, 59*s)},
			inPeriod: 6, applied: 4,
			kept: []policy.ScaleEvent{hpaEvent(6, 59*s)}},
		{name: "replace one entry, use policies with different periods", rules: hpaRules(10, 60, 100, 30, 0),
			prev: []policy.ScaleEvent{
				hpaEvent(8, 29*s), hpaEvent(6, 59*s), hpaEvent(7, 61*s), hpaEvent(9, 61*s)},
			inPeriod: 14, applied: 5,
			kept: []policy.ScaleEvent{hpaEvent(6, 59*s), hpaEvent(8, 29*s)}},
		{name: "two entries, both actual", rules: hpaRules(10, 120, 100, 30, 0),
			prev:     []policy.ScaleEvent{hpaEvent(7, 58*s), hpaEvent(6, 59*s)},
			inPeriod: 13, applied: 5,
			kept: []policy.ScaleEvent{hpaEvent(6, 59*s), hpaEvent(7, 58*s)}},
	}
	probe := policy.ScalingRules{Policies: []policy.ScalingPolicy{
		{Type: policy.PodsPolicy, Value: 1000, Period: time.Minute}}}
	for _, tc := range tests {
		for _, dir := range []struct {
			name string
			sign int32
		}{{"up", 1}, {"down", -1}} {
			t.Run("TestStoreScaleEvents/"+tc.name+"/"+dir.name, func(t *testing.T) {
				signed := func(events []policy.ScaleEvent) []policy.ScaleEvent {
					var out []policy.ScaleEvent
					for _, e := range events {
						out = append(out, policy.ScaleEvent{Time: e.Time, Change: dir.sign * e.Change})
					}
					return out
				}
				prev := signed(tc.prev)

				// From 2000 replicas, 1000 pods per 60 s allow 1000 more
				// (fewer) minus (plus) what was added (removed) within it.
				var inPeriod int32
				if dir.sign > 0 {
					inPeriod = 2000 + 1000 - probe.Limit(true, 2000, prev, hpaNow)
				} else {
					inPeriod = probe.Limit(false, 2000, prev, hpaNow) - (2000 - 1000)
				}
				if diff := cmp.Diff(tc.inPeriod, inPeriod); diff != "" {
					t.Errorf("change within 60s: diff (-want +got):\n%s", diff)
				}

				var rules, none policy.ScalingRules
				if tc.rules != nil {
					rules = *tc.rules
				}
				spec := hpaSpec(1, 1000, rules, none)
				if dir.sign < 0 {
					spec = hpaSpec(1, 1000, none, rules)
				}
				d, next := policy.Decide(spec, hpaObs(100, 100+dir.sign*5), hpaState(nil, prev), hpaNow)
				if diff := cmp.Diff(100+dir.sign*tc.applied, d.Desired); diff != "" {
					t.Errorf("%s\ndiff (-want +got):\n%s", d.Reason, diff)
				}
				var want []policy.ScaleEvent
				if tc.rules != nil {
					want = append(signed(tc.kept), policy.ScaleEvent{Time: hpaNow, Change: dir.sign * tc.applied})
				}
				got := slices.Clone(next.Events)
				slices.SortStableFunc(got, func(a, b policy.ScaleEvent) int { return a.Time.Compare(b.Time) })
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("events: diff (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// The HPA's limit calculations on their own:
// calculateScaleUpLimitWithScalingRules and
// calculateScaleDownLimitWithBehaviors with selectPolicy Min.
func TestHPALimit(t *testing.T) {
	minRules := policy.ScalingRules{
		StabilizationWindow: 300 * time.Second,
		Select:              policy.SelectMin,
		Policies: []policy.ScalingPolicy{
			{Type: policy.PodsPolicy, Value: 2, Period: 60 * time.Second},
			{Type: policy.PercentPolicy, Value: 50, Period: 60 * time.Second},
		},
	}
	tests := []struct {
		source  string
		up      bool
		current int32
		want    int32
	}{
		{source: "TestCalculateScaleUpLimitWithScalingRules", up: true, current: 1, want: 2},
		{source: "TestCalculateScaleDownLimitWithBehaviors", up: false, current: 5, want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.source, func(t *testing.T) {
			got := minRules.Limit(tc.up, tc.current, nil, hpaNow)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
		})
	}
}

// hpaPods is one CPU sample per pod, usage and request in millicores; the
// HPA's tests list the pods' usage and their requests.
func hpaPods(usage, request []int64) []policy.PodCPU {
	out := make([]policy.PodCPU, len(usage))
	for i := range usage {
		out[i] = policy.PodCPU{Ready: true, HasMetric: true, UsageMilli: usage[i], RequestMilli: request[i]}
	}
	return out
}

// The HPA controller's tests that reconcile a CPU-scaled workload whose
// answer depends on behaviour, tolerance or bounds. The CPU signal gets the
// HPA's pod samples; the queue is empty (its depth recommends 0) or, for
// the tests where the HPA's other metric fails, unavailable. The HPA's
// default tolerance is 0.1, as rabbitscale's. A row with behavior sets
// rabbitscale.io/behavior; one without decides as an HPA without
// spec.behavior (hpaLegacyUp, hpaLegacyDown).
func TestHPAController(t *testing.T) {
	m := time.Minute
	upscaleCap := `{"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",` +
		` "policies": [{"type": "Percent", "value": 700, "periodSeconds": 60}]}}`
	tests := []struct {
		source, name string
		min, max     int32
		behavior     string
		current      int32
		cpuTarget    int32 // 0: no CPU target
		usage, req   []int64
		queueFails   bool
		recs         []policy.Recommendation
		// newWorkload: the HPA's recommendations are missing (nil), not
		// empty; it records the current size as recommended now.
		newWorkload bool
		want        int32
	}{
		{source: "TestConfigurableTolerance", name: "Scaling up because of a 1% configurable tolerance",
			min: 1, max: 5, behavior: `{"scaleUp": {"tolerance": "0.01"}}`,
			current: 3, cpuTarget: 100, usage: []int64{1010, 1030, 1020}, req: []int64{900, 1000, 1100},
			want: 4},
		{source: "TestConfigurableTolerance", name: "No scale-down because of a 90% configurable tolerance",
			min: 1, max: 5, behavior: `{"scaleDown": {"tolerance": "0.9"}}`,
			current: 3, cpuTarget: 100, usage: []int64{300, 300, 300}, req: []int64{1000, 1000, 1000},
			want: 3},
		{source: "TestConfigurableTolerance", name: "No scaling because of the large default tolerance",
			min: 1, max: 5,
			current: 3, cpuTarget: 100, usage: []int64{1010, 1030, 1020}, req: []int64{900, 1000, 1100},
			want: 3},
		{source: "TestUpscaleCap", name: "capped by scale up rules",
			min: 1, max: 100, behavior: upscaleCap,
			current: 3, cpuTarget: 10, usage: []int64{100, 200, 300}, req: []int64{100, 100, 100},
			want: 24},
		{source: "TestUpscaleCap", name: "capped by max replicas when scale up limit exceeds max",
			min: 1, max: 20, behavior: upscaleCap,
			current: 3, cpuTarget: 10, usage: []int64{100, 200, 300}, req: []int64{100, 100, 100},
			want: 20},
		{source: "TestScaleTimingBehavior", name: "stabilize downscale",
			min: 1, max: 5,
			current: 4, cpuTarget: 100, usage: []int64{50, 50, 50}, req: []int64{100, 100, 100},
			recs: []policy.Recommendation{hpaRec(10, 10*m), hpaRec(4, 1*m)},
			want: 4},
		{source: "TestScaleDown", name: "TestScaleDown",
			min: 2, max: 6,
			current: 5, cpuTarget: 50, usage: []int64{100, 300, 500, 250, 250}, req: []int64{1000, 1000, 1000, 1000, 1000},
			want: 3},
		{source: "TestScaleDownStabilizeInitialSize", name: "TestScaleDownStabilizeInitialSize",
			min: 2, max: 6, newWorkload: true,
			current: 5, cpuTarget: 50, usage: []int64{100, 300, 500, 250, 250}, req: []int64{1000, 1000, 1000, 1000, 1000},
			want: 5},
		{source: "TestScaleUpOneMetricEmpty", name: "TestScaleUpOneMetricEmpty",
			min: 2, max: 6, queueFails: true,
			current: 3, cpuTarget: 30, usage: []int64{300, 400, 500}, req: []int64{1000, 1000, 1000},
			want: 4},
		{source: "TestNoScaleDownOneMetricEmpty", name: "TestNoScaleDownOneMetricEmpty",
			min: 2, max: 6, queueFails: true,
			current: 5, cpuTarget: 50, usage: []int64{100, 300, 500, 250, 250}, req: []int64{1000, 1000, 1000, 1000, 1000},
			want: 5},
		{source: "TestReplicaLimits", name: "scale down clamped to min replicas",
			min: 2, max: 5,
			current: 3, cpuTarget: 90, usage: []int64{10, 95, 10}, req: []int64{900, 1000, 1100},
			want: 2},
		{source: "TestReplicaLimits", name: "scale down to zero when min replicas is zero",
			min: 0, max: 5,
			current: 3, cpuTarget: 90, usage: []int64{0, 0, 0}, req: []int64{900, 1000, 1100},
			want: 0},
		{source: "TestReplicaLimits", name: "scale down clamped to min when desired is zero",
			min: 2, max: 5,
			current: 3, cpuTarget: 90, usage: []int64{0, 0, 0}, req: []int64{900, 1000, 1100},
			want: 2},
		// Outside [min, max] the HPA moves to the bound without reading
		// any metric (these tests report none): the queue cannot be read.
		{source: "TestReplicaLimits", name: "scale up to min when below min replicas",
			min: 3, max: 5, queueFails: true,
			current: 2, cpuTarget: 90,
			want: 3},
		{source: "TestReplicaLimits", name: "scale down to max when above max replicas",
			min: 3, max: 5, queueFails: true,
			current: 10, cpuTarget: 90,
			want: 5},
		{source: "TestReplicaLimits", name: "scale up clamped to max replicas",
			min: 2, max: 5,
			current: 3, cpuTarget: 90, usage: []int64{8000, 9500, 1000}, req: []int64{900, 1000, 1100},
			want: 5},
		{source: "TestScaleUpRCImmediately", name: "TestScaleUpRCImmediately",
			min: 2, max: 6, queueFails: true,
			current: 1,
			want:    2},
		{source: "TestScaleDownRCImmediately", name: "TestScaleDownRCImmediately",
			min: 2, max: 5,
			current: 6, cpuTarget: 50, usage: []int64{8000, 9500, 1000}, req: []int64{900, 1000, 1100},
			want: 5},
	}
	for _, tc := range tests {
		t.Run(tc.source+"/"+tc.name, func(t *testing.T) {
			var spec policy.Spec
			if tc.behavior != "" {
				spec = mustSpec(t,
					policy.KeyMinReplicas, strconv.Itoa(int(tc.min)),
					policy.KeyMaxReplicas, strconv.Itoa(int(tc.max)),
					policy.KeyBehavior, tc.behavior)
			} else {
				spec = hpaSpec(tc.min, tc.max, hpaLegacyUp, hpaLegacyDown)
				spec.Tolerance = 0.1
			}
			spec.TargetCPUUtilization = tc.cpuTarget
			spec.ScaleToZeroAfter = 0

			o := hpaObs(tc.current, 0)
			if tc.queueFails {
				o.Queue = policy.QueueObservation{}
			}
			o.CPU = policy.CPUObservation{Available: true, Pods: hpaPods(tc.usage, tc.req)}
			state := hpaState(tc.recs)
			if tc.newWorkload {
				state = policy.State{}
			}
			d, _ := policy.Decide(spec, o, state, hpaNow)
			if diff := cmp.Diff(tc.want, d.Desired); diff != "" {
				t.Errorf("%s\ndiff (-want +got):\n%s", d.Reason, diff)
			}
		})
	}
}
