package policy

import (
	"fmt"
	"strings"
	"time"
)

// Decision is the outcome of one Decide call: the replica count and why.
// The controller stores it as JSON in the DecisionAnnotation and shows
// Reason in events.
type Decision struct {
	// Current is the replica count observed.
	Current int32 `json:"current"`
	// Desired is the replica count chosen, always within [min, max]. When
	// paused or in dry-run it is what would have been applied.
	Desired int32 `json:"desired"`
	// Apply is true when the controller should set the replicas to
	// Desired: they differ and the workload is neither paused nor in
	// dry-run.
	Apply bool `json:"apply"`
	// Recommendation is the combined recommendation of the signals before
	// cooldowns, the window, step limits and bounds.
	Recommendation int32 `json:"recommendation"`
	// DrivenBy names what produced Recommendation.
	DrivenBy Driver  `json:"drivenBy"`
	Signals  Signals `json:"signals"`
	// PerPodRate is the messages per second one pod processes as the rate
	// signal knows it: learned, or the per-pod-rate annotation (probed, see
	// SeedProbe) until one is learned; 0 when the signal is off or knows none. The signal's Target
	// plans each pod at Spec.TargetRateUtilization percent of it.
	PerPodRate float64 `json:"perPodRate,omitempty"`
	// SeedProbe is the factor PerPodRate stands at over the per-pod-rate
	// annotation while no rate is learned and the annotation is probed
	// (the pods it planned kept up, so the rules plan each pod to do
	// more); 0 otherwise.
	SeedProbe float64 `json:"seedProbe,omitempty"`
	// Wait is the wait the decision plans for: the backlog over the
	// Desired pods' planned rate, when the wait signal is on and knows a
	// per-pod rate; 0 otherwise.
	Wait time.Duration `json:"wait,omitempty"`
	// Limits lists, in the order applied, every rule that moved the
	// number away from what the signals asked for.
	Limits []Limit `json:"limits,omitempty"`
	// Reason is one human sentence, e.g. "depth 4200 > 10 pods x 300
	// wants 14; max-scale-up-step 14 -> 12; scale 10 -> 12".
	Reason string `json:"reason"`
}

// Summary is the decision without its figures: whether it applies, from
// and to which replicas, what drove it, which limits clipped it, and which
// signals counted or why not. Two decisions with the same Summary tell a
// person the same thing; the controller rewrites the decision annotation
// when the summary changes, and only now and then for new figures.
func (d Decision) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d apply=%v by=%s", d.Current, d.Desired, d.Apply, d.DrivenBy)
	for _, l := range d.Limits {
		fmt.Fprintf(&b, " %s", l.Kind)
	}
	for _, s := range [...]Signal{d.Signals.Depth, d.Signals.Rate, d.Signals.CPU, d.Signals.Wait} {
		fmt.Fprintf(&b, " [%v %v %v %q]", s.Enabled, s.Available, s.WithinTolerance, s.Note)
	}
	return b.String()
}

// Changed reports whether the replicas should change; it is Apply.
func (d Decision) Changed() bool { return d.Apply }

// Limited reports whether a limit of the given kind clipped the decision.
func (d Decision) Limited(kind LimitKind) bool {
	for _, l := range d.Limits {
		if l.Kind == kind {
			return true
		}
	}
	return false
}

// Driver names what produced a decision's recommendation.
type Driver string

// Drivers.
const (
	// DrivenByDepth, DrivenByRate and DrivenByCPU: that signal gave the
	// highest recommendation.
	DrivenByDepth Driver = "depth"
	DrivenByRate  Driver = "rate"
	DrivenByCPU   Driver = "cpu"
	// DrivenByWait: the wait signal (target-wait).
	DrivenByWait Driver = "wait"
	// DrivenByHold: the queue could not be read, the current replicas are
	// held.
	DrivenByHold Driver = "hold"
	// DrivenByFallback: the queue has failed for fallback-after;
	// fallback-replicas applies.
	DrivenByFallback Driver = "fallback"
	// DrivenByIdle: the queue is empty and has been quiet for the
	// scale-down cooldown (or the workload sits at zero with nothing to
	// do); the recommendation is zero.
	DrivenByIdle Driver = "idle"
	// DrivenByActivation: at zero replicas, messages are waiting but not
	// enough (activation-depth) nor for long enough (activation-max-wait).
	DrivenByActivation Driver = "activation"
)

// Signals are the inputs of a decision.
type Signals struct {
	Depth Signal `json:"depth"`
	Rate  Signal `json:"rate"`
	CPU   Signal `json:"cpu"`
	// Wait's Value is the wait seen in seconds (the oldest ready
	// message's age, or the backlog over the processing rate) and its
	// Target target-wait in seconds.
	Wait Signal `json:"wait"`
}

// Signal is one input's reading and recommendation.
type Signal struct {
	// Enabled is false when the annotations turn the signal off.
	Enabled bool `json:"enabled"`
	// Available is false when it is enabled but has no usable data;
	// Note says why.
	Available bool `json:"available"`
	// Value is the reading: messages for depth, messages per second
	// needed (arrivals plus backlog over the drain time) for rate, percent
	// of requested CPU over ready pods for cpu.
	Value float64 `json:"value"`
	// Target is per pod: target depth, processing rate in messages per
	// second planned for each pod (TargetRateUtilization percent of the per-pod rate), or
	// target CPU percent.
	Target float64 `json:"target"`
	// Recommendation is the replica count the signal asks for.
	Recommendation int32 `json:"recommendation"`
	// WithinTolerance is true when Recommendation differs from the current
	// replicas but the signal's ratio to current capacity is within
	// tolerance, so the signal counts as asking for the current replicas.
	WithinTolerance bool `json:"withinTolerance,omitempty"`
	// Note explains an unavailable signal or an HPA hold.
	Note string `json:"note,omitempty"`
}

// effective is the recommendation the signal contributes to the combination.
func (s Signal) effective(current int32) int32 {
	if s.WithinTolerance {
		return current
	}
	return s.Recommendation
}

// Notes on signals.
const (
	NoteOff              = "off"
	NoteQueueUnavailable = "queue unavailable"
	NoteRatesUnavailable = "rates unavailable"
	NoteNoRate           = "no per-pod rate learned yet"
	NoteCPUUnavailable   = "CPU metrics unavailable"
	NoteNoCPURequest     = "a pod has no CPU request"
	NoteNoReadyPods      = "no CPU metrics for ready pods"
	NoteDirectionFlip    = "missing or unready pods reverse the direction: hold"
	NoteIgnoredWhenIdle  = "ignored: the queue is idle"
)

// LimitKind names a rule that clipped a decision. Most are named after the
// annotation that sets them.
type LimitKind string

// Limit kinds.
const (
	LimitTolerance        LimitKind = "tolerance"
	LimitQueueUnavailable LimitKind = "queue-unavailable"
	LimitFallback         LimitKind = "fallback-replicas"
	LimitActivation       LimitKind = "activation-depth"
	// LimitRateFloor raised the recommendation to the pods the arrivals
	// need (rate-floor).
	LimitRateFloor       LimitKind = "rate-floor"
	LimitScaleUpCooldown LimitKind = "scale-up-cooldown"
	// LimitScaleUpWindow: the lowest recommendation of the scale-up
	// stabilization window.
	LimitScaleUpWindow LimitKind = "scale-up-window"
	// LimitScaleDownWindow: the highest recommendation of the scale-down
	// stabilization window.
	LimitScaleDownWindow LimitKind = "scale-down-window"
	LimitScaleDownDelay  LimitKind = "scale-down-delay"
	// LimitScaleUpStep and LimitScaleDownStep: the direction's policies
	// (the step annotations or rabbitscale.io/behavior), budgeted over
	// their periods.
	LimitScaleUpStep   LimitKind = "max-scale-up-step"
	LimitScaleDownStep LimitKind = "max-scale-down-step"
	// LimitRecentArrivals keeps one replica when scale to zero is allowed
	// but the queue has not been quiet for scale-to-zero-after.
	LimitRecentArrivals LimitKind = "recent-arrivals"
	LimitMinReplicas    LimitKind = "min-replicas"
	LimitMaxReplicas    LimitKind = "max-replicas"
	LimitPaused         LimitKind = "paused"
	LimitDryRun         LimitKind = "dry-run"
)

// Limit is one rule that moved the replica count From -> To.
type Limit struct {
	Kind LimitKind `json:"kind"`
	From int32     `json:"from"`
	To   int32     `json:"to"`
	// Until is when a time-based limit (cooldowns, recent arrivals) stops
	// applying.
	Until time.Time `json:"until,omitzero"`
}
