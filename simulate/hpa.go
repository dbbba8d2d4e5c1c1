package simulate

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// HPASelect is an HPAScalingRules selectPolicy: which policy's limit wins.
type HPASelect string

// The selectPolicy values of autoscaling/v2.
const (
	// SelectMax lets the policy that allows the largest change win (the
	// default).
	SelectMax HPASelect = "Max"
	// SelectMin lets the policy that allows the smallest change win.
	SelectMin HPASelect = "Min"
	// SelectDisabled turns scaling in that direction off.
	SelectDisabled HPASelect = "Disabled"
)

// HPAPolicyType is an HPAScalingPolicy type.
type HPAPolicyType string

// The policy types of autoscaling/v2.
const (
	PodsPolicy    HPAPolicyType = "Pods"
	PercentPolicy HPAPolicyType = "Percent"
)

// HPAPolicy is one HPAScalingPolicy: at most Value pods (Pods), or Value
// percent of the replicas at the start of the period (Percent), per
// Period.
type HPAPolicy struct {
	Type   HPAPolicyType
	Value  int32
	Period time.Duration
}

// String renders the policy as ParseHPARules reads it: pods=4/15s or
// percent=100/15s.
func (p HPAPolicy) String() string {
	if p.Type == PercentPolicy {
		return fmt.Sprintf("percent=%d/%s", p.Value, p.Period)
	}
	return fmt.Sprintf("pods=%d/%s", p.Value, p.Period)
}

// HPARules are the HPAScalingRules of one direction: the stabilisation
// window, the selectPolicy and the policies.
type HPARules struct {
	Window   time.Duration
	Select   HPASelect
	Policies []HPAPolicy
}

// HPABehavior is an HPA's spec.behavior, as a KEDA ScaledObject passes it
// through in advanced.horizontalPodAutoscalerConfig.behavior. Unlike the
// API type it has no unset fields: DefaultHPABehavior fills what a user
// leaves out, as the API server's defaulting does.
type HPABehavior struct {
	ScaleUp, ScaleDown HPARules
}

// DefaultHPABehavior is autoscaling/v2's default behavior: scale-up with no
// window, at most max(4 pods, 100%) per 15 s; scale-down with a 300 s
// window, at most 100% per 15 s; selectPolicy Max both ways.
func DefaultHPABehavior() HPABehavior {
	return HPABehavior{
		ScaleUp: HPARules{Select: SelectMax, Policies: []HPAPolicy{
			{Type: PodsPolicy, Value: 4, Period: 15 * time.Second},
			{Type: PercentPolicy, Value: 100, Period: 15 * time.Second},
		}},
		ScaleDown: HPARules{Window: 300 * time.Second, Select: SelectMax, Policies: []HPAPolicy{
			{Type: PercentPolicy, Value: 100, Period: 15 * time.Second},
		}},
	}
}

// Validate applies the API server's checks on a behavior, each error
// prefixed with its direction (scale-up or scale-down).
func (b HPABehavior) Validate() error {
	var errs []error
	if err := b.ScaleUp.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("scale-up: %w", err))
	}
	if err := b.ScaleDown.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("scale-down: %w", err))
	}
	return errors.Join(errs...)
}

// Validate applies the API server's checks on one direction: a window of
// 0 to 3600 s, a known selectPolicy, at least one policy, each of a known
// type with a value above zero and a period of 1 to 1800 s. The errors
// are named as ParseHPARules spells the knobs.
func (r HPARules) Validate() error {
	var errs []error
	if r.Window < 0 || r.Window > time.Hour || r.Window%time.Second != 0 {
		errs = append(errs, fmt.Errorf("window: %s must be whole seconds from 0s to 1h", r.Window))
	}
	switch r.Select {
	case SelectMax, SelectMin, SelectDisabled:
	default:
		errs = append(errs, fmt.Errorf("select: %q is not Max, Min or Disabled", r.Select))
	}
	if len(r.Policies) == 0 {
		errs = append(errs, errors.New("needs at least one pods= or percent= policy"))
	}
	for _, p := range r.Policies {
		if p.Type != PodsPolicy && p.Type != PercentPolicy {
			errs = append(errs, fmt.Errorf("policy type %q is not Pods or Percent", p.Type))
			continue
		}
		if p.Value <= 0 {
			errs = append(errs, fmt.Errorf("%s: the value must be above zero", p))
		}
		if p.Period < time.Second || p.Period > 30*time.Minute || p.Period%time.Second != 0 {
			errs = append(errs, fmt.Errorf("%s: the period must be whole seconds from 1s to 30m", p))
		}
	}
	return errors.Join(errs...)
}

// HPA is the HorizontalPodAutoscaler's replica normalisation with a
// behavior (autoscaling/v2's default unless set), as in kubernetes
// pkg/controller/podautoscaler/horizontal.go:
//
//   - stabilizeRecommendationWithBehaviors: every sync's unstabilised
//     recommendation is recorded; a scale-up takes the lowest
//     recommendation of the scale-up window (the new one included), a
//     scale-down the highest of the scale-down window;
//   - convertDesiredReplicasWithBehaviorRate with
//     calculateScaleUpLimitWithScalingRules and
//     calculateScaleDownLimitWithBehaviors: each policy proposes a limit
//     from the replicas at the start of its period (current minus the
//     scale-ups plus the scale-downs of getReplicasChangePerPeriod), the
//     selectPolicy keeps the largest change (Max), the smallest (Min) or
//     none (Disabled), never past current, then [min, max] bound the
//     result;
//   - maybeInitScaleDownStabilizationWindow: with a scale-down window, the
//     first sync records the current replicas as a recommendation, so a
//     new HPA does not scale down at once;
//   - storeScaleEvent: a sync that changes the replicas records the change
//     for its direction's policies.
//
// The zero HPA is not usable; build one with NewHPA.
type HPA struct {
	Min, Max int32
	// Tolerance is the replica calculator's dead band (0.1).
	Tolerance float64
	Behavior  HPABehavior

	recs   []hpaRecommendation
	ups    []hpaEvent
	downs  []hpaEvent
	inited bool
}

type hpaRecommendation struct {
	at       time.Time
	replicas int32
}

type hpaEvent struct {
	at     time.Time
	change int32
}

// NewHPA returns an HPA with autoscaling/v2's default behavior.
func NewHPA(minReplicas, maxReplicas int32) *HPA {
	return &HPA{Min: minReplicas, Max: maxReplicas, Tolerance: 0.1, Behavior: DefaultHPABehavior()}
}

// PerPodReplicas is the replica calculator for an external metric with an
// AverageValue target (GetExternalPerPodMetricReplicas in
// replica_calculator.go): keep the replicas while the metric over the
// current capacity is within tolerance of 1, else ceil(metric / target).
func (h *HPA) PerPodReplicas(current int32, metric, target float64) int32 {
	if target <= 0 {
		return current
	}
	if current > 0 && math.Abs(1-metric/(target*float64(current))) <= h.Tolerance {
		return current
	}
	return int32(math.Ceil(metric/target - 1e-9))
}

// Normalize applies the stabilisation windows, the scaling policies and
// the bounds to a recommendation at time now, and records the scale event
// if the result differs from current. Call it once per sync.
func (h *HPA) Normalize(now time.Time, current, desired int32) int32 {
	if !h.inited {
		h.inited = true
		if h.Behavior.ScaleDown.Window > 0 {
			h.recs = append(h.recs, hpaRecommendation{now, current})
		}
	}
	stabilized := h.stabilize(now, current, desired)
	out := h.limit(now, current, stabilized)
	h.ups = recent(h.ups, now, longestPeriod(h.Behavior.ScaleUp))
	h.downs = recent(h.downs, now, longestPeriod(h.Behavior.ScaleDown))
	switch {
	case out > current:
		h.ups = append(h.ups, hpaEvent{now, out - current})
	case out < current:
		h.downs = append(h.downs, hpaEvent{now, current - out})
	}
	return out
}

func (h *HPA) stabilize(now time.Time, current, desired int32) int32 {
	up, down := desired, desired
	upCut, downCut := now.Add(-h.Behavior.ScaleUp.Window), now.Add(-h.Behavior.ScaleDown.Window)
	keep := h.recs[:0]
	for _, r := range h.recs {
		if r.at.After(upCut) {
			up = min(up, r.replicas)
		}
		if r.at.After(downCut) {
			down = max(down, r.replicas)
		}
		if r.at.After(upCut) || r.at.After(downCut) {
			keep = append(keep, r)
		}
	}
	h.recs = append(keep, hpaRecommendation{now, desired})
	rec := max(current, up)
	return min(rec, down)
}

func (h *HPA) limit(now time.Time, current, desired int32) int32 {
	switch {
	case desired > current:
		limit := max(h.scaleUpLimit(now, current), current)
		desired = min(desired, limit, h.Max)
	case desired < current:
		limit := min(h.scaleDownLimit(now, current), current)
		desired = max(desired, limit, h.Min)
	}
	// A current count outside the bounds goes to the nearest bound (the
	// HPA does that before it normalises).
	return min(max(desired, h.Min), h.Max)
}

func minInt32(a, b int32) int32 { return min(a, b) }
func maxInt32(a, b int32) int32 { return max(a, b) }

// periodStart is the replicas at the start of a policy's period.
func (h *HPA) periodStart(now time.Time, current int32, period time.Duration) int32 {
	return current - changes(h.ups, now, period) + changes(h.downs, now, period)
}

// scaleUpLimit is calculateScaleUpLimitWithScalingRules.
func (h *HPA) scaleUpLimit(now time.Time, current int32) int32 {
	r := h.Behavior.ScaleUp
	if r.Select == SelectDisabled {
		return current
	}
	pick, limit := maxInt32, int32(math.MinInt32)
	if r.Select == SelectMin {
		pick, limit = minInt32, math.MaxInt32
	}
	for _, p := range r.Policies {
		start := h.periodStart(now, current, p.Period)
		proposed := start + p.Value
		if p.Type == PercentPolicy {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		limit = pick(limit, proposed)
	}
	return limit
}

// scaleDownLimit is calculateScaleDownLimitWithBehaviors.
func (h *HPA) scaleDownLimit(now time.Time, current int32) int32 {
	r := h.Behavior.ScaleDown
	if r.Select == SelectDisabled {
		return current
	}
	pick, limit := minInt32, int32(math.MaxInt32)
	if r.Select == SelectMin {
		pick, limit = maxInt32, math.MinInt32
	}
	for _, p := range r.Policies {
		start := h.periodStart(now, current, p.Period)
		proposed := start - p.Value
		if p.Type == PercentPolicy {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		limit = pick(limit, proposed)
	}
	return limit
}

// changes sums the events within period before now
// (getReplicasChangePerPeriod).
func changes(events []hpaEvent, now time.Time, period time.Duration) int32 {
	var sum int32
	cut := now.Add(-period)
	for _, e := range events {
		if e.at.After(cut) {
			sum += e.change
		}
	}
	return sum
}

func longestPeriod(r HPARules) time.Duration {
	var p time.Duration
	for _, q := range r.Policies {
		p = max(p, q.Period)
	}
	return p
}

// recent drops the events that no policy of their direction can count any
// more (markScaleEventsOutdated).
func recent(events []hpaEvent, now time.Time, period time.Duration) []hpaEvent {
	cut := now.Add(-period)
	keep := events[:0]
	for _, e := range events {
		if e.at.After(cut) {
			keep = append(keep, e)
		}
	}
	return keep
}
