package policy

import (
	"math"
	"time"
)

// State is what Decide remembers between ticks for one workload. It is a
// plain value that round-trips through encoding/json exactly, so the
// controller can keep it in the StateAnnotation and a restart or a leader
// change loses nothing. The zero State is a valid start.
//
// Store the State returned with a Decision only once the decision has been
// applied (or when it had nothing to apply); after a failed update keep the
// previous one.
type State struct {
	// History holds the recommendations that can still matter inside the
	// scale-down window, oldest first. It is kept compact: a
	// recommendation is dropped as soon as a later one is at least as
	// high, since the later one outlives it in the window.
	History []Recommendation `json:"history,omitempty"`
	// UpHistory holds the recommendations that can still matter inside
	// the scale-up stabilization window, oldest first, kept compact the
	// other way: a recommendation is dropped once a later one is at most
	// as high.
	UpHistory []Recommendation `json:"upHistory,omitempty"`
	// Events are the changes applied within the longest period of the
	// scale-up and scale-down policies, which budget the next changes.
	Events []ScaleEvent `json:"events,omitempty"`

	// LastScaleUp and LastScaleDown are the times of the last applied
	// changes.
	LastScaleUp   time.Time `json:"lastScaleUp,omitzero"`
	LastScaleDown time.Time `json:"lastScaleDown,omitzero"`

	// PerPodRate is the learned number of messages per second one pod
	// finishes, smoothed (exponentially weighted, one-minute half-life) and
	// learned only from rates whose whole span saw the current replicas
	// saturated (a message ready for each pod, every pod consuming). It
	// survives idle periods. 0 until learned.
	PerPodRate float64 `json:"perPodRate,omitempty"`
	// PerPodRateAt is the time of the last sample learned.
	PerPodRateAt time.Time `json:"perPodRateAt,omitzero"`
	// PerPodRateBound was set by versions before 0.2 when PerPodRate was
	// only a lower bound; Decide drops such a rate rather than trust it.
	PerPodRateBound bool `json:"perPodRateBound,omitempty"`
	// SeedScale is the factor the per-pod-rate annotation is planned at
	// while no rate is learned: it grows while the pods it plans keep up,
	// so that a seed set too low is corrected (see probeSeed). 0 or 1: the
	// annotation as set.
	SeedScale float64 `json:"seedScale,omitempty"`
	// SeedHeldSince is when the pods the seed plans started keeping up;
	// zero while they do not.
	SeedHeldSince time.Time `json:"seedHeldSince,omitzero"`
	// SaturatedSince is when the consumers last became saturated (a
	// message waiting for every pod, every pod consuming) at
	// SaturatedReplicas; zero while they are not. A sample is learned only
	// once saturation has lasted the rates' whole span.
	SaturatedSince    time.Time `json:"saturatedSince,omitzero"`
	SaturatedReplicas int32     `json:"saturatedReplicas,omitempty"`

	// QueueFailingSince is when the queue signal started failing; zero
	// while it works.
	QueueFailingSince time.Time `json:"queueFailingSince,omitzero"`
	// WaitingSince is when messages started waiting at zero replicas;
	// zero otherwise.
	WaitingSince time.Time `json:"waitingSince,omitzero"`
	// LastArrival is the last time messages were seen arriving or
	// present, or the signal was unknown (which counts as activity). Scale
	// to zero needs it to be at least the scale-down cooldown ago.
	LastArrival time.Time `json:"lastArrival,omitzero"`
	// EmptySince is the first tick that saw the queue empty, unacked
	// messages included; zero while it is not.
	EmptySince time.Time `json:"emptySince,omitzero"`
	// QuietSince is when the queue became quiet (empty, unacked messages
	// included, and its publish counter still) after activity; zero while
	// it is active. Scale to zero needs it to be at least
	// scale-to-zero-after ago. It is the start of the span over which the
	// first tick that saw the quiet found the publish counter still, but
	// never earlier than EmptySince: what the counters prove, and no more.
	QuietSince time.Time `json:"quietSince,omitzero"`
}

// Recommendation is one entry of the scale-down window.
type Recommendation struct {
	Time     time.Time `json:"time"`
	Replicas int32     `json:"replicas"`
}

// seedScale is SeedScale as a factor: at least 1, and 1 when it cannot be
// true (a stored state edited by hand).
func (s *State) seedScale() float64 {
	if !(s.SeedScale >= 1 && s.SeedScale <= seedProbeLimit) {
		return 1
	}
	return s.SeedScale
}

// rateHalfLife is the half-life of the per-pod rate's exponential smoothing.
const rateHalfLife = time.Minute

// learnRate folds an unbiased per-pod processing-rate sample into the
// smoothed rate; it replaces a rate that was only a lower bound.
func (s *State) learnRate(sample float64, now time.Time) {
	if s.PerPodRate <= 0 || s.PerPodRateAt.IsZero() || s.PerPodRateBound {
		s.PerPodRate, s.PerPodRateAt, s.PerPodRateBound = sample, now, false
		return
	}
	dt := now.Sub(s.PerPodRateAt)
	if dt <= 0 {
		return
	}
	w := 1 - math.Exp2(-float64(dt)/float64(rateHalfLife))
	s.PerPodRate += w * (sample - s.PerPodRate)
	s.PerPodRateAt = now
}

// record adds a recommendation to the window and drops what cannot matter
// any more: entries older than window, and entries no higher than the new
// one. The result never shares memory with the input.
func record(history []Recommendation, r Recommendation, window time.Duration) []Recommendation {
	keep := 0
	for _, h := range history {
		if h.Replicas > r.Replicas && r.Time.Sub(h.Time) < window {
			keep++
		}
	}
	out := make([]Recommendation, 0, keep+1)
	for _, h := range history {
		if h.Replicas > r.Replicas && r.Time.Sub(h.Time) < window {
			out = append(out, h)
		}
	}
	return append(out, r)
}

// recordLow is record for the scale-up window: it keeps the entries that
// can still be the lowest.
func recordLow(history []Recommendation, r Recommendation, window time.Duration) []Recommendation {
	if window <= 0 {
		return nil // no scale-up window: nothing to remember
	}
	out := make([]Recommendation, 0, len(history)+1)
	for _, h := range history {
		if h.Replicas < r.Replicas && r.Time.Sub(h.Time) < window {
			out = append(out, h)
		}
	}
	return append(out, r)
}

// windowMin is the lowest recommendation in history, which recordLow has
// already trimmed to the window.
func windowMin(history []Recommendation) int32 {
	m := int32(math.MaxInt32)
	for _, h := range history {
		m = min(m, h.Replicas)
	}
	return m
}

// windowMax is the highest recommendation in history, which record has
// already trimmed to the window.
func windowMax(history []Recommendation) int32 {
	var m int32
	for _, h := range history {
		m = max(m, h.Replicas)
	}
	return m
}

// Resumed returns the state as a controller should use it after reading it
// back from storage (a restart, a leader change), at now with replicas
// current. Stored state may lag the last decisions (the controller does not
// write every tick), so the recommendations since are unknown: the current
// replicas count as recommended now, and no scale-down happens before one
// scale-down window has passed since the resumption. Without this, a
// recommendation the stored window is missing could let a restarted
// controller scale down earlier than the one before it would have.
func (s State) Resumed(now time.Time, replicas int32) State {
	if replicas <= 0 {
		return s
	}
	s.History = append(append([]Recommendation(nil), s.History...), Recommendation{Time: now, Replicas: replicas})
	return s
}

// Durable returns the part of the state worth storing: what a resumed
// controller would decide differently without. It leaves out what changes
// on every tick of a busy workload and is rebuilt after a resumption
// anyway: the window (Resumed restarts it), the last-arrival time (rates
// are unknown for a while after a restart, which counts as arrivals), the
// saturation tracker, and the per-pod rate's sample time. The per-pod rate
// itself is rounded to two significant digits, so that its drift from
// tick to tick does not count.
func (s State) Durable() State {
	s.History, s.UpHistory = nil, nil
	s.LastArrival, s.QuietSince, s.EmptySince = time.Time{}, time.Time{}, time.Time{}
	s.SaturatedSince, s.SaturatedReplicas = time.Time{}, 0
	s.SeedHeldSince = time.Time{}
	s.PerPodRateAt = time.Time{}
	if s.PerPodRate > 0 {
		scale := math.Pow(10, math.Floor(math.Log10(s.PerPodRate))-1)
		s.PerPodRate = math.Round(s.PerPodRate/scale) * scale
	}
	return s
}
