package policy

import (
	"math"
	"strconv"
	"time"
)

// Decide chooses a workload's replica count from its spec, this tick's
// observation, the state returned by the previous call and the time. It is
// pure: it reads no clock, does no I/O and does not modify its arguments.
//
// In order:
//
//  1. Signals. Depth: ceil(depth / target-depth-per-pod). Rate (with
//     target-drain-seconds): ceil((arrivals + depth / drain) / per-pod
//     rate), never below ceil(arrivals / per-pod rate). Wait (with
//     target-wait): ceil(max(arrivals, ready / target-wait) / per-pod
//     rate). CPU (with target-cpu-utilization): the HPA's calculation. A
//     signal whose ratio to the current capacity is within the direction's
//     tolerance asks for the current replicas.
//  2. Combine: the highest available recommendation, kept at or above
//     the rate floor (the pods the arrivals need, at most the current
//     replicas). When the queue cannot be read, hold the current replicas
//     (CPU may still scale up), and after fallback-after apply
//     fallback-replicas if set. At zero replicas, stay there until depth
//     exceeds activation-depth or messages have waited
//     activation-max-wait. With min-replicas 0, recommend zero once the
//     queue, unacked messages included, is empty and its publish counter
//     has stood still for scale-to-zero-after.
//  3. Behaviour, in the HPA's order: the stabilization windows (a
//     scale-up to the lowest recommendation of its window, a scale-down to
//     the highest of its own), the scale-up cooldown and the scale-down
//     delay after a scale-up (neither holds a scale to zero), the
//     direction's policies budgeted over their periods from the changes in
//     State.Events, one replica kept while arrivals are recent; then
//     [min-replicas, max-replicas].
//  4. Paused and dry-run report Desired without applying it.
func Decide(spec Spec, obs Observation, state State, now time.Time) (Decision, State) {
	t := tick{
		spec:  spec.normalized(),
		now:   now.Round(0).UTC(),
		cur:   max(obs.Replicas, 0),
		q:     obs.Queue.sanitize(),
		state: state,
		next:  state,
	}
	t.d.Current = t.cur
	t.depth = t.q.Ready
	if t.spec.CountUnacked {
		t.depth += t.q.Unacked
	}
	t.all = t.q.Ready + t.q.Unacked
	if t.depth < 0 || t.all < 0 { // overflow
		t.depth, t.all = math.MaxInt64, math.MaxInt64
	}
	t.observe()
	t.d.Signals.Depth = t.depthSignal()
	t.d.Signals.Rate = t.rateSignal()
	t.d.Signals.CPU = cpuSignal(t.spec, obs.CPU, t.cur)
	t.d.Signals.Wait = t.waitSignal()
	t.combine()
	t.behave()
	t.finish()
	return t.d, t.next
}

// tick is one Decide call in progress.
type tick struct {
	spec  Spec
	now   time.Time
	cur   int32
	q     QueueObservation
	depth int64 // as the spec counts it
	all   int64 // ready + unacked, for scale to zero
	state State // as passed in
	next  State // as returned
	d     Decision

	arrivedNow bool  // arrivals seen (or not excluded) in this tick
	direct     bool  // fallback: skip cooldowns, window and steps
	idle       bool  // quiet long enough to scale to zero
	wokeByWait bool  // woken from zero by activation-max-wait
	desired    int32 // after behaviour and bounds
}

// normalized makes a Spec that did not come from ParseSpec safe to use.
func (s Spec) normalized() Spec {
	s.MinReplicas = max(s.MinReplicas, 0)
	s.MaxReplicas = max(s.MaxReplicas, s.MinReplicas)
	s.TargetDepthPerPod = max(s.TargetDepthPerPod, 1)
	s.ActivationDepth = max(s.ActivationDepth, 0)
	if !(s.Tolerance >= 0 && s.Tolerance < 1) {
		s.Tolerance = 0
	}
	if !usableRate(s.PerPodRate) {
		s.PerPodRate = 0
	}
	s.TargetDrain = max(s.TargetDrain, 0)
	s.TargetCPUUtilization = max(s.TargetCPUUtilization, 0)
	if s.TargetRateUtilization < 1 || s.TargetRateUtilization > 100 {
		s.TargetRateUtilization = DefaultTargetRateUtilization
	}
	s.ActivationMaxWait = max(s.ActivationMaxWait, 0)
	s.ScaleUpCooldown = max(s.ScaleUpCooldown, 0)
	s.ScaleUp = s.ScaleUp.normalized()
	s.ScaleDown = s.ScaleDown.normalized()
	s.ScaleDownDelay = max(s.ScaleDownDelay, 0)
	s.ScaleToZeroAfter = max(s.ScaleToZeroAfter, 0)
	s.TargetWait = max(s.TargetWait, 0)
	s.FallbackAfter = max(s.FallbackAfter, 0)
	return s
}

// normalized makes rules that did not come from ParseSpec safe to use.
func (r ScalingRules) normalized() ScalingRules {
	r.StabilizationWindow = max(r.StabilizationWindow, 0)
	if t := r.Tolerance; t != nil && !(*t >= 0 && *t < math.MaxInt32) {
		r.Tolerance = nil
	}
	return r
}

// tolerances is the spec's tolerance per direction.
func (s Spec) tolerances() Tolerance {
	return Tolerance{Up: s.ScaleUp.tolerance(s.Tolerance), Down: s.ScaleDown.tolerance(s.Tolerance)}
}

// observe updates the state's trackers from the observation.
func (t *tick) observe() {
	q, next := t.q, &t.next
	if !q.Available {
		if next.QueueFailingSince.IsZero() {
			next.QueueFailingSince = t.now
		}
	} else {
		next.QueueFailingSince = time.Time{}
	}

	// What cannot be seen counts as an arrival: scale to zero needs proof
	// of quiet, which is the publish counter standing still between the
	// two newest samples (or over the whole rate span) with nothing in the
	// queue, unacked messages included.
	//
	// The counters prove the quiet over the span they were still, so the
	// quiet is counted from the start of that span, but never from before
	// the first tick that saw the queue empty: waiting for the first still
	// span to be seen whole cost up to a statistics sample more, on top of
	// scale-to-zero-after, for nothing.
	var still time.Duration // the span the publish counter is proved still over
	if q.Available && q.RecentRateSpan > 0 && q.RecentPublishRate == 0 {
		still = q.RecentRateSpan
	}
	if q.Available && q.RatesAvailable && q.PublishRate == 0 {
		still = max(still, q.RateSpan, time.Nanosecond)
	}
	t.arrivedNow = still == 0 || t.all > 0
	if t.arrivedNow || next.LastArrival.IsZero() {
		next.LastArrival = t.now
	}
	switch {
	case !q.Available || t.all > 0:
		next.EmptySince = time.Time{}
	case unstarted(next.EmptySince, t.now):
		next.EmptySince = t.now
	}
	switch {
	case t.arrivedNow:
		next.QuietSince = time.Time{}
	case unstarted(next.QuietSince, t.now):
		next.QuietSince = t.now.Add(-still)
		if next.QuietSince.Before(next.EmptySince) {
			next.QuietSince = next.EmptySince
		}
	}

	// Learn the per-pod rate only while consumers are saturated: every pod
	// consumes and at least one message per pod is ready. One ready
	// message would do in theory (the broker found no consumer with room
	// under its prefetch), but at high rates a sample catches messages
	// not yet dispatched, and pods that seem slower than they are would
	// let the floor hold them all.
	saturated := q.Available && t.cur > 0 && q.Ready >= int64(t.cur) && q.Consumers >= int64(t.cur)
	switch {
	case !saturated:
		next.SaturatedSince, next.SaturatedReplicas = time.Time{}, 0
	case unstarted(next.SaturatedSince, t.now) || next.SaturatedReplicas != t.cur:
		next.SaturatedSince, next.SaturatedReplicas = t.now, t.cur
	}
	if next.PerPodRateBound {
		// A lower bound stored by an earlier version: never an estimate.
		next.PerPodRate, next.PerPodRateAt, next.PerPodRateBound = 0, time.Time{}, false
	}

	if done, span, ok := q.recentProcessed(); saturated && ok && done > 0 {
		sample := done / float64(t.cur)
		switch {
		case t.now.Sub(next.SaturatedSince) >= span:
			// Saturated with these replicas since before the rates'
			// span began (one sampling step with the recent rates): an
			// unbiased sample.
			next.learnRate(sample, t.now)
		case t.now.Sub(next.LastScaleDown) < span:
			// Pods now gone did part of the work: the sample overstates.
		case next.PerPodRate > 0 && sample > next.PerPodRate:
			// Part of the span saw fewer pods, or idle ones, so the
			// sample understates one pod's rate; even so it says the
			// estimate is low.
			next.learnRate(sample, t.now)
		}
	}
	t.probeSeed()
	switch {
	case t.cur > 0:
		next.WaitingSince = time.Time{}
	case !q.Available:
		// Unknown: keep what we had.
	case t.depth > 0:
		if next.WaitingSince.IsZero() {
			next.WaitingSince = t.now
		}
	default:
		next.WaitingSince = time.Time{}
	}
}

// unstarted reports whether a "since" tracker has yet to start at now:
// never started, or started after now (a stored state from a clock ahead).
func unstarted(since, now time.Time) bool {
	return since.IsZero() || since.After(now)
}

func (t *tick) perPodRate() float64 {
	if t.next.PerPodRate > 0 && usableRate(t.next.PerPodRate) {
		return t.next.PerPodRate
	}
	return t.spec.PerPodRate * t.next.seedScale()
}

// Probing the per-pod-rate annotation. A seed that is too low would never
// be corrected: the pods it plans keep up without ever being saturated,
// and only saturation teaches a rate, so the floor (or the rate signal)
// would hold too many pods for good. While the seed is in use, each time
// the pods it plans have kept up for seedProbeHold (nothing ready, every
// pod consuming), the rules plan with seedProbeStep times the rate; the
// scale-down window then takes one step down. It stops when the pods no
// longer keep up: a message waits for each, which is saturation, and
// saturation teaches the real rate, which replaces the seed for good.
const (
	seedProbeHold  = time.Minute
	seedProbeStep  = 1.25
	seedProbeLimit = 100 // at most this many times the annotation
)

// probeSeed advances the probe of the per-pod-rate annotation (see
// seedProbeHold).
func (t *tick) probeSeed() {
	q, next, spec := t.q, &t.next, &t.spec
	usesRate := spec.RateFloor || spec.TargetDrain > 0 || spec.TargetWait > 0
	if next.PerPodRate > 0 || spec.PerPodRate <= 0 || !usesRate {
		// Learned (or nothing to probe): the seed is done with.
		next.SeedScale, next.SeedHeldSince = 0, time.Time{}
		return
	}
	rate := t.perPodRate() * float64(spec.TargetRateUtilization) / 100 // the seed, probed
	plan := int32(0)
	if q.Available && q.RatesAvailable {
		plan = ceilReplicas(q.PublishRate / rate)
	}
	// At the seed's plan (not above it: held there by the window or another
	// signal, the pods would prove nothing about the seed), with a pod to
	// spare, keeping up.
	if plan < 2 || t.cur > plan || q.Ready > 0 || q.Consumers < int64(t.cur) {
		next.SeedHeldSince = time.Time{}
		return
	}
	switch {
	case unstarted(next.SeedHeldSince, t.now):
		next.SeedHeldSince = t.now
	case t.now.Sub(next.SeedHeldSince) >= seedProbeHold:
		next.SeedScale = min(next.seedScale()*seedProbeStep, seedProbeLimit)
		next.SeedHeldSince = time.Time{}
	}
}

func (t *tick) depthSignal() Signal {
	target := t.spec.TargetDepthPerPod
	s := Signal{Enabled: true, Target: float64(target)}
	if !t.q.Available {
		s.Note = NoteQueueUnavailable
		return s
	}
	s.Available = true
	s.Value = float64(t.depth)
	rec := t.depth / target
	if t.depth%target != 0 {
		rec++
	}
	s.Recommendation = int32(min(rec, math.MaxInt32))
	if t.cur > 0 && s.Recommendation != t.cur {
		ratio := float64(t.depth) / (float64(t.cur) * float64(target))
		s.WithinTolerance = t.spec.tolerances().within(ratio)
	}
	return s
}

// DefaultTargetRateUtilization is the default percentage of its per-pod
// rate (learned or seeded) the rate signal plans each pod to run at. Pods
// planned at their full rate have no room for arrivals that grow between
// ticks: every such growth becomes a backlog, a scale-up, and a scale-down
// once it is gone (rabbitscale simulate's ramp flapped at 100).
const DefaultTargetRateUtilization = 90

// plannedRate is the per-pod rate the rate-based rules plan each pod at:
// target-rate-utilization of the learned (or annotated) rate; 0 when none
// is known. It records the per-pod rate in the decision.
func (t *tick) plannedRate() float64 {
	t.d.PerPodRate = t.perPodRate()
	if f := t.next.seedScale(); f > 1 && t.next.PerPodRate <= 0 && t.d.PerPodRate > 0 {
		t.d.SeedProbe = f
	}
	return t.planned()
}

// planned is the per-pod rate plannedRate recorded, at
// target-rate-utilization.
func (t *tick) planned() float64 {
	return t.d.PerPodRate * float64(t.spec.TargetRateUtilization) / 100
}

// rateFloor is the fewest pods the arrivals need at the planned per-pod
// rate, at most the current replicas; ok is false when rate-floor is off
// or the arrivals or a per-pod rate are unknown.
//
// The floor only keeps pods; it never adds them. A backlog that grows
// scales up through depth anyway, and a floor that could scale up would
// feed on itself whenever the learned rate is low: pods that split the
// arrivals between them each seem to manage less, which would ask for
// more pods still.
func (t *tick) rateFloor() (floor int32, ok bool) {
	if !t.spec.RateFloor || !t.q.Available || !t.q.RatesAvailable {
		return 0, false
	}
	rate := t.plannedRate()
	if rate <= 0 {
		return 0, false
	}
	return min(ceilReplicas(t.q.PublishRate/rate), t.cur), true
}

// waitSignal sizes for target-wait: a message arriving now waits for the
// backlog ahead of it, depth / processing rate, so the pods must process
// at least depth / target-wait, and at least the arrivals so that the wait
// does not grow. When the wait seen (the oldest ready message's age when
// publishers stamp their messages, else the backlog over the current
// processing rate) is already above the target, the backlog is planned to
// clear in less: target-wait x target-wait / seen, at least a second.
func (t *tick) waitSignal() Signal {
	if t.spec.TargetWait <= 0 {
		return Signal{Note: NoteOff}
	}
	target := t.spec.TargetWait.Seconds()
	s := Signal{Enabled: true, Target: target}
	if !t.q.Available {
		s.Note = NoteQueueUnavailable
		return s
	}
	seen, known := t.waitSeen()
	s.Value = seen
	if !t.q.RatesAvailable {
		s.Note = NoteRatesUnavailable
		return s
	}
	rate := t.plannedRate()
	if rate <= 0 {
		s.Note = NoteNoRate
		return s
	}
	s.Available = true
	drain := target
	if known && seen > target {
		drain = max(target*target/seen, 1)
	}
	need := max(t.q.PublishRate, float64(t.q.Ready)/drain)
	s.Recommendation = ceilReplicas(need / rate)
	if t.cur > 0 && s.Recommendation != t.cur {
		s.WithinTolerance = t.spec.tolerances().within(need / (float64(t.cur) * rate))
	}
	return s
}

// waitSeen is the wait of the queue's oldest ready message in seconds:
// its age from its publish timestamp, or else the ready messages over the
// rate the consumers finish them. known is false when neither can tell
// (nothing is processed while messages wait).
func (t *tick) waitSeen() (seconds float64, known bool) {
	if t.q.Ready == 0 {
		return 0, true
	}
	if at := t.q.OldestReadyAt; !at.IsZero() {
		return max(t.now.Sub(at).Seconds(), 0), true
	}
	if done := t.q.processed(); t.q.RatesAvailable && done > 0 {
		return float64(t.q.Ready) / done, true
	}
	return 0, false
}

func (t *tick) rateSignal() Signal {
	if t.spec.TargetDrain <= 0 {
		return Signal{Note: NoteOff}
	}
	rate := t.plannedRate()
	s := Signal{Enabled: true, Target: rate}
	switch {
	case !t.q.Available:
		s.Note = NoteQueueUnavailable
		return s
	case !t.q.RatesAvailable:
		s.Note = NoteRatesUnavailable
		return s
	case rate <= 0:
		s.Note = NoteNoRate
		return s
	}
	s.Available = true
	arrival := t.q.PublishRate
	need := arrival + float64(t.depth)/t.spec.TargetDrain.Seconds()
	s.Value = need
	// need >= arrival already; the floor is kept explicit so that no
	// future change to need can let the queue grow without bound.
	s.Recommendation = max(ceilReplicas(need/rate), ceilReplicas(arrival/rate))
	if t.cur > 0 && s.Recommendation != t.cur {
		s.WithinTolerance = t.spec.tolerances().within(need / (float64(t.cur) * rate))
	}
	return s
}

// highest returns the highest recommendation among the available signals,
// with tolerance applied (effective) or not (raw), and the signal giving
// the effective one. ok is false when no signal is available.
func (t *tick) highest() (effective, raw int32, by Driver, ok bool) {
	sigs := [...]Signal{t.d.Signals.Depth, t.d.Signals.Rate, t.d.Signals.CPU, t.d.Signals.Wait}
	for i, s := range sigs {
		if !s.Available {
			continue
		}
		e := s.effective(t.cur)
		if !ok || e > effective {
			effective, by = e, signalDrivers[i]
		}
		if !ok || s.Recommendation > raw {
			raw = s.Recommendation
		}
		ok = true
	}
	return effective, raw, by, ok
}

// signalDrivers names the signals in the order highest sees them; a tie goes
// to the first.
var signalDrivers = [...]Driver{DrivenByDepth, DrivenByRate, DrivenByCPU, DrivenByWait}

// combine sets the recommendation and what drove it.
func (t *tick) combine() {
	spec, d := &t.spec, &t.d
	cpu := &d.Signals.CPU
	switch {
	case !t.q.Available:
		cpuRec := int32(-1)
		if cpu.Available {
			cpuRec = cpu.effective(t.cur)
		}
		failing := t.now.Sub(t.next.QueueFailingSince)
		if fb := spec.FallbackReplicas; fb != nil && failing >= spec.FallbackAfter {
			if cpuRec > *fb {
				d.Recommendation, d.DrivenBy = cpuRec, DrivenByCPU
				return
			}
			d.Recommendation, d.DrivenBy, t.direct = *fb, DrivenByFallback, true
			if *fb != t.cur {
				t.limit(Limit{Kind: LimitFallback, From: t.cur, To: *fb})
			}
			return
		}
		d.Recommendation, d.DrivenBy = t.cur, DrivenByHold
		switch {
		case cpuRec > t.cur:
			d.Recommendation, d.DrivenBy = cpuRec, DrivenByCPU
		case cpuRec >= 0 && cpuRec < t.cur:
			t.limit(Limit{Kind: LimitQueueUnavailable, From: cpuRec, To: t.cur})
		}

	case t.cur == 0 && spec.MinReplicas == 0:
		want, _, by, _ := t.highest()
		want = max(want, 1)
		waited := t.now.Sub(t.next.WaitingSince)
		switch {
		case t.depth == 0:
			d.Recommendation, d.DrivenBy = 0, DrivenByIdle
		case t.depth > spec.ActivationDepth:
			d.Recommendation, d.DrivenBy = want, by
		case !t.next.WaitingSince.IsZero() && waited >= spec.ActivationMaxWait:
			d.Recommendation, d.DrivenBy, t.wokeByWait = want, by, true
		default:
			d.Recommendation, d.DrivenBy = 0, DrivenByActivation
			t.limit(Limit{Kind: LimitActivation, From: want, To: 0,
				Until: t.next.WaitingSince.Add(spec.ActivationMaxWait)})
		}

	default:
		quiet := t.now.Sub(t.next.QuietSince)
		if spec.MinReplicas == 0 && t.all == 0 && !t.arrivedNow && quiet >= spec.ScaleToZeroAfter {
			t.idle = true
			if cpu.Available && cpu.effective(t.cur) > 0 {
				cpu.Note = NoteIgnoredWhenIdle
			}
			d.Recommendation, d.DrivenBy = 0, DrivenByIdle
			return
		}
		eff, raw, by, _ := t.highest() // depth is always available here
		d.Recommendation, d.DrivenBy = eff, by
		if raw != eff {
			t.limit(Limit{Kind: LimitTolerance, From: raw, To: eff})
		}
		if floor, ok := t.rateFloor(); ok && floor > eff {
			t.limit(Limit{Kind: LimitRateFloor, From: eff, To: floor})
			d.Recommendation = floor
		}
	}
}

// behave applies the stabilization windows, the cooldown and delay, the
// policies budgeted over their periods, and the bounds, in the HPA's order
// (kubernetes pkg/controller/podautoscaler, normalizeDesiredReplicasWithBehaviors):
// stabilize, then limit the rate, then bound.
func (t *tick) behave() {
	spec, cur := &t.spec, t.cur
	rec := t.d.Recommendation
	history := t.state.History
	if len(history) == 0 && cur > 0 {
		// A new workload: nothing has been seen for a whole window yet,
		// so count the current replicas as seen now.
		history = []Recommendation{{Time: t.now, Replicas: cur}}
	}
	r := Recommendation{Time: t.now, Replicas: rec}
	t.next.History = record(history, r, spec.ScaleDown.StabilizationWindow)
	t.next.UpHistory = recordLow(t.state.UpHistory, r, spec.ScaleUp.StabilizationWindow)
	t.next.Events = trimEvents(t.state.Events, max(spec.ScaleUp.longestPeriod(), spec.ScaleDown.longestPeriod()), t.now)
	desired := rec
	switch {
	case t.direct:
	case rec > cur:
		if w := windowMin(t.next.UpHistory); w < rec {
			desired = max(w, cur)
			t.limit(Limit{Kind: LimitScaleUpWindow, From: rec, To: desired})
		}
		last := t.next.LastScaleUp
		if until := last.Add(spec.ScaleUpCooldown); desired > cur && !last.IsZero() && t.now.Before(until) {
			t.limit(Limit{Kind: LimitScaleUpCooldown, From: desired, To: cur, Until: until})
			desired = cur
		}
		if lim := spec.ScaleUp.Limit(true, cur, t.next.Events, t.now); desired > cur && desired > lim {
			t.limit(Limit{Kind: LimitScaleUpStep, From: desired, To: lim})
			desired = lim
		}
	case rec < cur:
		if !t.idle {
			if w := windowMax(t.next.History); w > rec {
				desired = min(w, cur)
				t.limit(Limit{Kind: LimitScaleDownWindow, From: rec, To: desired})
			}
			last := t.next.LastScaleUp
			if until := last.Add(spec.ScaleDownDelay); desired < cur && !last.IsZero() && t.now.Before(until) {
				t.limit(Limit{Kind: LimitScaleDownDelay, From: desired, To: cur, Until: until})
				desired = cur
			}
		}
		if lim := spec.ScaleDown.Limit(false, cur, t.next.Events, t.now); desired < cur && desired < lim {
			t.limit(Limit{Kind: LimitScaleDownStep, From: desired, To: lim})
			desired = lim
		}
		if desired == 0 && spec.MinReplicas == 0 && !t.idle {
			until := t.now.Add(spec.ScaleToZeroAfter) // not quiet yet
			if !t.next.QuietSince.IsZero() {
				until = t.next.QuietSince.Add(spec.ScaleToZeroAfter)
			}
			t.limit(Limit{Kind: LimitRecentArrivals, From: 0, To: 1, Until: until})
			desired = 1
		}
	}
	switch {
	case desired < spec.MinReplicas:
		t.limit(Limit{Kind: LimitMinReplicas, From: desired, To: spec.MinReplicas})
		desired = spec.MinReplicas
	case desired > spec.MaxReplicas:
		t.limit(Limit{Kind: LimitMaxReplicas, From: desired, To: spec.MaxReplicas})
		desired = spec.MaxReplicas
	}
	t.desired = desired
}

// finish applies paused and dry-run, records the change and writes Reason.
func (t *tick) finish() {
	d := &t.d
	d.Desired = t.desired
	switch {
	case t.spec.Paused:
		if d.Desired != t.cur {
			t.limit(Limit{Kind: LimitPaused, From: d.Desired, To: t.cur})
		}
	case t.spec.DryRun:
		if d.Desired != t.cur {
			t.limit(Limit{Kind: LimitDryRun, From: d.Desired, To: t.cur})
		}
	default:
		d.Apply = d.Desired != t.cur
	}
	if d.Apply {
		if d.Desired > t.cur {
			t.next.LastScaleUp = t.now
		} else {
			t.next.LastScaleDown = t.now
		}
		if max(t.spec.ScaleUp.longestPeriod(), t.spec.ScaleDown.longestPeriod()) > 0 {
			t.next.Events = append(t.next.Events, ScaleEvent{Time: t.now, Change: d.Desired - t.cur})
		}
	}
	if t.d.Signals.Wait.Available && d.Desired > 0 { // available: a per-pod rate is known
		d.Wait = time.Duration(float64(t.q.Ready) / (t.planned() * float64(d.Desired)) * float64(time.Second)).Round(time.Second)
	}
	d.Reason = t.reason()
}

func (t *tick) limit(l Limit) {
	if t.d.Limits == nil {
		t.d.Limits = make([]Limit, 0, 4)
	}
	t.d.Limits = append(t.d.Limits, l)
}

// reason renders the one-line explanation:
// "<cause>[; <limit> <from> -> <to>]...; <outcome>".
func (t *tick) reason() string {
	var buf [256]byte
	b := t.appendCause(buf[:0])
	for _, l := range t.d.Limits {
		switch l.Kind {
		case LimitPaused, LimitDryRun, LimitFallback, LimitActivation:
			continue // said by the cause or the outcome
		}
		b = append(b, "; "...)
		b = append(b, l.Kind...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(l.From), 10)
		b = append(b, " -> "...)
		b = strconv.AppendInt(b, int64(l.To), 10)
		if !l.Until.IsZero() {
			b = append(b, " ("...)
			b = appendDuration(b, l.Until.Sub(t.now))
			b = append(b, " left)"...)
		}
		if l.Kind == LimitRateFloor {
			b = append(b, " (arrivals "...)
			b = strconv.AppendFloat(b, t.q.PublishRate, 'f', 1, 64)
			b = append(b, "/s at "...)
			b = strconv.AppendFloat(b, t.planned(), 'f', 1, 64)
			b = append(b, "/s per pod"...)
			b = t.appendSeedProbe(b)
			b = append(b, ')')
		}
	}
	if t.d.Wait > 0 {
		b = append(b, "; plans wait "...)
		b = appendDuration(b, t.d.Wait)
	}
	b = append(b, "; "...)
	switch {
	case t.spec.Paused:
		b = append(b, "paused: "...)
	case t.spec.DryRun:
		b = append(b, "dry-run: "...)
	}
	if t.d.Desired == t.cur {
		b = append(b, "hold "...)
		b = strconv.AppendInt(b, int64(t.cur), 10)
	} else {
		if !t.d.Apply {
			b = append(b, "would "...)
		}
		b = append(b, "scale "...)
		b = strconv.AppendInt(b, int64(t.cur), 10)
		b = append(b, " -> "...)
		b = strconv.AppendInt(b, int64(t.d.Desired), 10)
	}
	return string(b)
}

// appendSeedProbe says, while the per-pod-rate annotation is probed, what
// the per-pod rate comes from: ", per-pod-rate 5 probed x1.56".
func (t *tick) appendSeedProbe(b []byte) []byte {
	if t.d.SeedProbe <= 1 {
		return b
	}
	b = append(b, ", per-pod-rate "...)
	b = strconv.AppendFloat(b, t.spec.PerPodRate, 'g', -1, 64)
	b = append(b, " probed x"...)
	return strconv.AppendFloat(b, t.d.SeedProbe, 'f', 2, 64)
}

func (t *tick) appendCause(b []byte) []byte {
	d, sig := &t.d, &t.d.Signals
	switch d.DrivenBy {
	case DrivenByDepth:
		b = append(b, "depth "...)
		b = strconv.AppendInt(b, t.depth, 10)
		b = appendCompare(b, sig.Depth.Value, float64(t.cur)*sig.Depth.Target)
		b = strconv.AppendInt(b, int64(t.cur), 10)
		b = append(b, " pods x "...)
		b = strconv.AppendInt(b, t.spec.TargetDepthPerPod, 10)
		b = appendWants(b, sig.Depth.Recommendation)
	case DrivenByRate:
		b = append(b, "need "...)
		b = strconv.AppendFloat(b, sig.Rate.Value, 'f', 1, 64)
		b = append(b, "/s (arrivals "...)
		b = strconv.AppendFloat(b, t.q.PublishRate, 'f', 1, 64)
		b = append(b, "/s + backlog "...)
		b = strconv.AppendInt(b, t.depth, 10)
		b = append(b, " in "...)
		b = appendDuration(b, t.spec.TargetDrain)
		b = append(b, ')')
		b = appendCompare(b, sig.Rate.Value, float64(t.cur)*sig.Rate.Target)
		b = strconv.AppendInt(b, int64(t.cur), 10)
		b = append(b, " pods x "...)
		b = strconv.AppendFloat(b, sig.Rate.Target, 'f', 1, 64)
		b = append(b, "/s ("...)
		b = strconv.AppendInt(b, int64(t.spec.TargetRateUtilization), 10)
		b = append(b, "% of "...)
		b = strconv.AppendFloat(b, t.d.PerPodRate, 'f', 1, 64)
		b = append(b, "/s"...)
		b = t.appendSeedProbe(b)
		b = append(b, ')')
		b = appendWants(b, sig.Rate.Recommendation)
	case DrivenByWait:
		b = append(b, "wait "...)
		b = appendSeconds(b, sig.Wait.Value)
		if t.q.OldestReadyAt.IsZero() || t.q.Ready == 0 {
			b = append(b, " (expected)"...)
		} else {
			b = append(b, " (oldest ready)"...)
		}
		b = appendCompare(b, sig.Wait.Value, sig.Wait.Target)
		b = append(b, "target-wait "...)
		b = appendDuration(b, t.spec.TargetWait)
		b = append(b, ": ready "...)
		b = strconv.AppendInt(b, t.q.Ready, 10)
		b = append(b, ", arrivals "...)
		b = strconv.AppendFloat(b, t.q.PublishRate, 'f', 1, 64)
		b = append(b, "/s at "...)
		b = strconv.AppendFloat(b, t.planned(), 'f', 1, 64)
		b = append(b, "/s per pod"...)
		b = appendWants(b, sig.Wait.Recommendation)
	case DrivenByCPU:
		b = append(b, "cpu "...)
		b = strconv.AppendFloat(b, sig.CPU.Value, 'f', 0, 64)
		b = append(b, '%')
		b = appendCompare(b, sig.CPU.Value, sig.CPU.Target)
		b = append(b, "target "...)
		b = strconv.AppendFloat(b, sig.CPU.Target, 'f', 0, 64)
		b = append(b, '%')
		b = appendWants(b, sig.CPU.Recommendation)
		if !t.q.Available {
			b = append(b, " (queue unavailable for "...)
			b = appendDuration(b, t.now.Sub(t.next.QueueFailingSince))
			b = append(b, ')')
		}
	case DrivenByHold:
		b = append(b, "queue unavailable for "...)
		b = appendDuration(b, t.now.Sub(t.next.QueueFailingSince))
		if t.spec.FallbackReplicas != nil {
			b = append(b, " (fallback after "...)
			b = appendDuration(b, t.spec.FallbackAfter)
			b = append(b, ')')
		}
	case DrivenByFallback:
		b = append(b, "queue unavailable for "...)
		b = appendDuration(b, t.now.Sub(t.next.QueueFailingSince))
		b = append(b, ": fallback-replicas "...)
		b = strconv.AppendInt(b, int64(d.Recommendation), 10)
	case DrivenByIdle:
		if t.cur == 0 {
			b = append(b, "queue empty at zero replicas"...)
			break
		}
		b = append(b, "queue empty, no arrivals for "...)
		b = appendDuration(b, t.now.Sub(t.next.QuietSince))
		b = appendWants(b, 0)
	case DrivenByActivation:
		b = append(b, "depth "...)
		b = strconv.AppendInt(b, t.depth, 10)
		b = append(b, " <= activation-depth "...)
		b = strconv.AppendInt(b, t.spec.ActivationDepth, 10)
		b = append(b, " at zero replicas, waiting "...)
		b = appendDuration(b, t.now.Sub(t.next.WaitingSince))
		b = append(b, " of activation-max-wait "...)
		b = appendDuration(b, t.spec.ActivationMaxWait)
	}
	if t.wokeByWait {
		b = append(b, " (waited "...)
		b = appendDuration(b, t.now.Sub(t.next.WaitingSince))
		b = append(b, " >= activation-max-wait)"...)
	}
	return b
}

func appendCompare(b []byte, value, capacity float64) []byte {
	switch {
	case value > capacity:
		return append(b, " > "...)
	case value < capacity:
		return append(b, " < "...)
	}
	return append(b, " = "...)
}

func appendWants(b []byte, n int32) []byte {
	b = append(b, " wants "...)
	return strconv.AppendInt(b, int64(n), 10)
}

// appendSeconds writes a number of seconds as appendDuration does, below a
// minute with a tenth ("0.4s").
func appendSeconds(b []byte, secs float64) []byte {
	if secs < 60 {
		b = strconv.AppendFloat(b, max(secs, 0), 'f', 1, 64)
		return append(b, 's')
	}
	return appendDuration(b, time.Duration(min(secs, 1e9)*float64(time.Second)))
}

// appendDuration writes d rounded to the second, as time.Duration.String
// would ("1h2m3s", "5m0s", "15s"), without allocating.
func appendDuration(b []byte, d time.Duration) []byte {
	d = max(d, 0).Round(time.Second)
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	if h > 0 {
		b = strconv.AppendInt(b, h, 10)
		b = append(b, 'h')
	}
	if h > 0 || m > 0 {
		b = strconv.AppendInt(b, m, 10)
		b = append(b, 'm')
	}
	b = strconv.AppendInt(b, s, 10)
	return append(b, 's')
}
