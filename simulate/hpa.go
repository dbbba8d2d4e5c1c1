package simulate

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// validateRules applies the API server's checks on one direction of a
// behavior (policy.ParseBehavior applies them to YAML): a window of 0 to
// 3600 s, a known selectPolicy, at least one policy unless Disabled, each
// of a known type with a value above zero and a period of 1 to 1800 s.
// The errors are named as ParseHPARules spells the knobs.
func validateRules(r policy.ScalingRules) error {
	var errs []error
	w := r.StabilizationWindow
	if w < 0 || w > time.Hour || w%time.Second != 0 {
		errs = append(errs, fmt.Errorf("window: %s must be whole seconds from 0s to 1h", w))
	}
	switch r.Select {
	case "", policy.SelectMax, policy.SelectMin, policy.SelectDisabled:
	default:
		errs = append(errs, fmt.Errorf("select: %q is not Max, Min or Disabled", r.Select))
	}
	if len(r.Policies) == 0 && r.Select != policy.SelectDisabled {
		errs = append(errs, errors.New("needs at least one pods= or percent= policy"))
	}
	for _, p := range r.Policies {
		if p.Type != policy.PodsPolicy && p.Type != policy.PercentPolicy {
			errs = append(errs, fmt.Errorf("policy type %q is not Pods or Percent", p.Type))
			continue
		}
		if p.Value <= 0 {
			errs = append(errs, fmt.Errorf("%s: the value must be above zero", policyKnob(p)))
		}
		if p.Period < time.Second || p.Period > 30*time.Minute || p.Period%time.Second != 0 {
			errs = append(errs, fmt.Errorf("%s: the period must be whole seconds from 1s to 30m", policyKnob(p)))
		}
	}
	return errors.Join(errs...)
}

// validateBehavior checks both directions, each error prefixed with it.
func validateBehavior(b policy.Behavior) error {
	var errs []error
	if err := validateRules(b.ScaleUp); err != nil {
		errs = append(errs, fmt.Errorf("scale-up: %w", err))
	}
	if err := validateRules(b.ScaleDown); err != nil {
		errs = append(errs, fmt.Errorf("scale-down: %w", err))
	}
	return errors.Join(errs...)
}

// HPA is the HorizontalPodAutoscaler's replica normalisation with a
// behavior (policy.Behavior, the type rabbitscale's own engine follows;
// autoscaling/v2's default unless set), as in kubernetes
// pkg/controller/podautoscaler/horizontal.go:
//
//   - stabilizeRecommendationWithBehaviors: every sync's unstabilised
//     recommendation is recorded; a scale-up takes the lowest
//     recommendation of the scale-up window (the new one included), a
//     scale-down the highest of the scale-down window;
//   - convertDesiredReplicasWithBehaviorRate with
//     calculateScaleUpLimitWithScalingRules and
//     calculateScaleDownLimitWithBehaviors (policy.ScalingRules.Limit,
//     the same code rabbitscale's engine uses): each policy proposes a limit
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
	// Tolerance is the replica calculator's dead band (0.1) unless the
	// behavior sets one for the direction.
	Tolerance float64
	Behavior  policy.Behavior

	recs   []hpaRecommendation
	events []policy.ScaleEvent
	inited bool
}

type hpaRecommendation struct {
	at       time.Time
	replicas int32
}

// NewHPA returns an HPA with autoscaling/v2's default behavior.
func NewHPA(minReplicas, maxReplicas int32) *HPA {
	return &HPA{Min: minReplicas, Max: maxReplicas, Tolerance: 0.1, Behavior: policy.HPADefaultBehavior()}
}

// PerPodReplicas is the replica calculator for an external metric with an
// AverageValue target (GetExternalPerPodMetricReplicas in
// replica_calculator.go): keep the replicas while the metric over the
// current capacity is within tolerance of 1 (the behavior's tolerance for
// that direction, else Tolerance), else ceil(metric / target).
func (h *HPA) PerPodReplicas(current int32, metric, target float64) int32 {
	if target <= 0 {
		return current
	}
	if current > 0 {
		ratio := metric / (target * float64(current))
		tol, dir := h.Tolerance, h.Behavior.ScaleDown
		if ratio > 1 {
			dir = h.Behavior.ScaleUp
		}
		if dir.Tolerance != nil {
			tol = *dir.Tolerance
		}
		if math.Abs(1-ratio) <= tol {
			return current
		}
	}
	return int32(math.Ceil(metric/target - 1e-9))
}

// Normalize applies the stabilisation windows, the scaling policies and
// the bounds to a recommendation at time now, and records the scale event
// if the result differs from current. Call it once per sync.
func (h *HPA) Normalize(now time.Time, current, desired int32) int32 {
	if !h.inited {
		h.inited = true
		if h.Behavior.ScaleDown.StabilizationWindow > 0 {
			h.recs = append(h.recs, hpaRecommendation{now, current})
		}
	}
	stabilized := h.stabilize(now, current, desired)
	out := h.limit(now, current, stabilized)
	h.events = recent(h.events, now, max(longestPeriod(h.Behavior.ScaleUp), longestPeriod(h.Behavior.ScaleDown)))
	if out != current {
		h.events = append(h.events, policy.ScaleEvent{Time: now, Change: out - current})
	}
	return out
}

func (h *HPA) stabilize(now time.Time, current, desired int32) int32 {
	up, down := desired, desired
	upCut, downCut := now.Add(-h.Behavior.ScaleUp.StabilizationWindow), now.Add(-h.Behavior.ScaleDown.StabilizationWindow)
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
		desired = min(desired, h.Behavior.ScaleUp.Limit(true, current, h.events, now), h.Max)
	case desired < current:
		desired = max(desired, h.Behavior.ScaleDown.Limit(false, current, h.events, now), h.Min)
	}
	// A current count outside the bounds goes to the nearest bound (the
	// HPA does that before it normalises).
	return min(max(desired, h.Min), h.Max)
}

func longestPeriod(r policy.ScalingRules) time.Duration {
	var p time.Duration
	for _, q := range r.Policies {
		p = max(p, q.Period)
	}
	return p
}

// recent drops the events that no policy can count any more
// (markScaleEventsOutdated).
func recent(events []policy.ScaleEvent, now time.Time, period time.Duration) []policy.ScaleEvent {
	cut := now.Add(-period)
	keep := events[:0]
	for _, e := range events {
		if e.Time.After(cut) {
			keep = append(keep, e)
		}
	}
	return keep
}
