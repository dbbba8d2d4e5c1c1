package simulate

import (
	"math"
	"time"
)

// HPA is the HorizontalPodAutoscaler's replica normalisation with the
// default behavior of autoscaling/v2, as in kubernetes
// pkg/controller/podautoscaler/horizontal.go:
//
//   - stabilizeRecommendationWithBehaviors: every sync's unstabilised
//     recommendation is recorded; a scale-up takes the lowest
//     recommendation of the scale-up window (0 s by default, so the new
//     one), a scale-down the highest of the scale-down window (300 s);
//   - convertDesiredReplicasWithBehaviorRate with
//     calculateScaleUpLimitWithScalingRules and
//     calculateScaleDownLimitWithBehaviors: each policy proposes a limit
//     from the replicas at the start of its period (current minus the
//     changes of getReplicasChangePerPeriod), the selectPolicy Max keeps
//     the largest change, then [min, max] bound the result;
//   - maybeInitScaleDownStabilizationWindow: the first sync records the
//     current replicas as a recommendation, so a new HPA does not scale
//     down at once.
//
// The zero HPA is not usable; build one with NewHPA.
type HPA struct {
	Min, Max int32
	// Tolerance is the replica calculator's dead band (0.1).
	Tolerance float64
	// ScaleUpWindow and ScaleDownWindow are the stabilisation windows (0
	// and 300 s).
	ScaleUpWindow, ScaleDownWindow time.Duration
	// ScaleUp are the scale-up policies (4 pods and 100% per 15 s);
	// ScaleDown the scale-down ones (100% per 15 s). Both use the
	// selectPolicy Max.
	ScaleUp, ScaleDown []HPAPolicy

	recs   []hpaRecommendation
	ups    []hpaEvent
	downs  []hpaEvent
	inited bool
}

// HPAPolicy is one HPAScalingPolicy: at most Pods pods, or Percent percent
// of the replicas at the start of the period, per Period.
type HPAPolicy struct {
	Pods    int32
	Percent int32
	Period  time.Duration
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
	return &HPA{
		Min: minReplicas, Max: maxReplicas,
		Tolerance:       0.1,
		ScaleDownWindow: 300 * time.Second,
		ScaleUp: []HPAPolicy{
			{Pods: 4, Period: 15 * time.Second},
			{Percent: 100, Period: 15 * time.Second},
		},
		ScaleDown: []HPAPolicy{{Percent: 100, Period: 15 * time.Second}},
	}
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
		h.recs = append(h.recs, hpaRecommendation{now, current})
	}
	stabilized := h.stabilize(now, current, desired)
	out := h.limit(now, current, stabilized)
	h.ups, h.downs = recent(h.ups, now, h.longestPeriod()), recent(h.downs, now, h.longestPeriod())
	if out != current {
		if out > current {
			h.ups = append(h.ups, hpaEvent{now, out - current})
		} else {
			h.downs = append(h.downs, hpaEvent{now, current - out})
		}
	}
	return out
}

func (h *HPA) stabilize(now time.Time, current, desired int32) int32 {
	up, down := desired, desired
	upCut, downCut := now.Add(-h.ScaleUpWindow), now.Add(-h.ScaleDownWindow)
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
		limit := int32(math.MinInt32)
		for _, p := range h.ScaleUp {
			start := current - changes(h.ups, now, p.Period) + changes(h.downs, now, p.Period)
			proposed := start + p.Pods
			if p.Percent > 0 {
				proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Percent)/100)))
			}
			limit = max(limit, proposed)
		}
		limit = max(limit, current)
		desired = min(desired, limit, h.Max)
	case desired < current:
		limit := int32(math.MaxInt32)
		for _, p := range h.ScaleDown {
			start := current - changes(h.ups, now, p.Period) + changes(h.downs, now, p.Period)
			proposed := start - p.Pods
			if p.Percent > 0 {
				proposed = int32(float64(start) * (1 - float64(p.Percent)/100))
			}
			limit = min(limit, proposed)
		}
		limit = min(limit, current)
		desired = max(desired, limit, h.Min)
	}
	return min(max(desired, h.Min), h.Max)
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

func (h *HPA) longestPeriod() time.Duration {
	var p time.Duration
	for _, q := range append(append([]HPAPolicy(nil), h.ScaleUp...), h.ScaleDown...) {
		p = max(p, q.Period)
	}
	return p
}

// recent drops the events that no period can count any more.
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
