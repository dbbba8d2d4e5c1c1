package policy

import "math"

// cpuSignal is the CPU signal of spec: CPURecommendation with the spec's
// target and tolerance, off when the spec has no CPU target.
func cpuSignal(spec Spec, obs CPUObservation, current int32) Signal {
	if spec.TargetCPUUtilization <= 0 {
		return Signal{Note: NoteOff}
	}
	return CPURecommendation(spec.TargetCPUUtilization, spec.tolerances(), obs, current)
}

// CPURecommendation applies the HPA's replica calculation for an average
// CPU utilisation target in percent of the pods' requests (kubernetes
// pkg/controller/podautoscaler, GetResourceReplicas). The controller's CPU
// signal and the simulator's CPU-only HPA baseline both use it:
//
//   - utilisation is whole percent of the requests of ready pods with a
//     sample, and the ratio to the target is taken from it;
//   - without unready or missing pods the recommendation is
//     ceil(ratio x ready pods);
//   - otherwise the ratio is recomputed with missing pods at 100% of their
//     request or the target, whichever is higher, when pointing down and 0%
//     when pointing up, and with unready
//     pods at 0% when pointing up (ignored when pointing down); the signal
//     holds the current replicas when that recomputation reverses the
//     direction or the new count contradicts it;
//   - a ratio within tolerance of 1 holds the current replicas
//     (WithinTolerance: the caller keeps current instead of Recommendation).
func CPURecommendation(targetPercent int32, tolerance Tolerance, obs CPUObservation, current int32) Signal {
	s := Signal{Target: float64(targetPercent), Enabled: true}
	if !obs.Available {
		s.Note = NoteCPUUnavailable
		return s
	}
	var (
		readyUse, readyReq float64
		missingReq         float64
		unreadyReq         float64
		ready, missing     int
		unready            int
	)
	for _, p := range obs.Pods {
		if p.RequestMilli <= 0 {
			s.Note = NoteNoCPURequest
			return s
		}
		req := float64(p.RequestMilli)
		switch {
		case !p.Ready:
			unready++
			unreadyReq += req
		case !p.HasMetric:
			missing++
			missingReq += req
		default:
			ready++
			readyUse += float64(max(p.UsageMilli, 0))
			readyReq += req
		}
	}
	if ready == 0 {
		s.Note = NoteNoReadyPods
		return s
	}
	target := float64(targetPercent)
	util := wholePercent(readyUse, readyReq)
	ratio := util / target
	s.Available = true
	s.Value = util

	rebalanceUnready := unready > 0 && ratio > 1
	if !rebalanceUnready && missing == 0 {
		s.Recommendation = ceilReplicas(ratio * float64(ready))
		s.WithinTolerance = s.Recommendation != current && tolerance.within(ratio)
		return s
	}
	if ratio == 1 {
		s.Recommendation = current
		return s
	}
	use, req, n := readyUse, readyReq, ready
	if missing > 0 {
		if ratio < 1 {
			// Missing pods at 100% of their request, or the target
			// when it is above 100%.
			use += missingReq * max(1, target/100)
		}
		req += missingReq
		n += missing
	}
	if rebalanceUnready {
		req += unreadyReq // unready pods at 0%
		n += unready
	}
	newRatio := wholePercent(use, req) / target
	if (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		s.Recommendation = current
		s.Note = NoteDirectionFlip
		return s
	}
	rec := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1 && rec > current) || (newRatio > 1 && rec < current) {
		s.Recommendation = current
		s.Note = NoteDirectionFlip
		return s
	}
	s.Recommendation = rec
	s.WithinTolerance = rec != current && tolerance.within(newRatio)
	return s
}

// wholePercent is use/req in whole percent, truncated like the HPA's.
func wholePercent(use, req float64) float64 {
	return math.Floor(use * 100 / req)
}

// Tolerance is how far the ratio of need to capacity may stray from 1
// without a change: up to 1+Up above, down to 1-Down below (the HPA's
// per-direction tolerance).
type Tolerance struct{ Up, Down float64 }

// Symmetric is a tolerance of t both ways.
func Symmetric(t float64) Tolerance { return Tolerance{Up: t, Down: t} }

// within reports whether ratio is within the tolerance; the epsilon keeps
// a ratio of exactly 1.1 within a tolerance of 0.1.
func (t Tolerance) within(ratio float64) bool {
	if ratio >= 1 {
		return ratio-1 <= t.Up+1e-9
	}
	return 1-ratio <= t.Down+1e-9
}

// ceilReplicas rounds a replica count up, forgiving floating-point noise
// (1.1/0.1 is 11.000000000000002, which must give 11), and bounds it to
// [0, MaxInt32].
func ceilReplicas(x float64) int32 {
	if !(x > 0) {
		return 0
	}
	x = math.Ceil(x - 1e-9*max(1, x))
	if x >= math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(x)
}
