// Package policy owns rabbitscale's annotation contract and its scaling
// engine. It is pure: the standard library and sigs.k8s.io/yaml only (no
// client-go, no apimachinery, no amqp091-go),
// no I/O, no clock (time is an argument), so every rule can be tested by
// replaying observations.
//
// # The pieces
//
//	annotations --ParseSpec--> Spec
//	(Spec, Observation, State, now) --Decide--> (Decision, State)
//
// keys.go is the contract: Prefix, one Key* constant per annotation, and
// Keys in the order of the README table between the annotations markers
// (readme_test.go fails when the two differ). DecisionAnnotation and
// StateAnnotation are the two keys the controller writes; ParseSpec accepts
// them silently.
//
// spec.go parses, defaults and validates (the knative config style): every
// problem at once, each a *FieldError naming the key and the bad value,
// joined with errors.Join; unknown rabbitscale.io/ keys get a did-you-mean.
// A workload without any rabbitscale.io/ configuration gets ErrNoQueue.
// lint.go's Lint finds what a valid Spec accepts but never uses (activation
// keys while min-replicas is above 0, min-replicas equal to max-replicas,
// fallback-after without fallback-replicas), for `rabbitscale validate`;
// the controller scales such a workload as its Spec says.
//
// observation.go is what the controller measures each tick: the summed
// queue depth and the rates it computed from the broker's counters, and one
// CPU sample per pod, classified as the HPA classifies pods.
//
// decide.go is the engine, in four steps: signals (depth, rate and wait
// from the observation and the learned per-pod rate, CPU in cpu.go
// following the HPA's replica calculator), combine (highest
// recommendation, tolerance, the rate floor, missing data and fallback,
// zero and activation), behaviour (windows, cooldown and delay, policies,
// bounds) and finish (paused, dry-run, Reason). The Decision says what was
// chosen, what drove it and which limits clipped it, in fields and in one
// sentence.
//
// behavior.go is the HPA's behavior model, kept faithful to kubernetes
// pkg/controller/podautoscaler (normalizeDesiredReplicasWithBehaviors and
// the two calculate*Limit functions): ScalingRules per direction, whose
// Limit budgets each policy over its period from the scale events kept in
// State, with selectPolicy Max, Min or Disabled; ParseBehavior reads an
// HPA's spec.behavior (JSON or YAML, through sigs.k8s.io/yaml, the one
// import outside the standard library) into those types, so that policy
// needs no Kubernetes types. The step annotations become policies too: a
// step without a period ("4,100%") limits each decision, as before periods
// existed. hpa_test.go replays the HPA's own unit-test cases. Where
// rabbitscale differs on purpose: it scales from zero (a scale-up from zero
// is allowed at least one pod), and it adds two holds the HPA has not,
// scale-up-cooldown and scale-down-delay, which rabbitscale.io/behavior
// sets to 0 unless annotated.
//
// Quiet (scale to zero) is decided from the counters, not from the rates'
// 30 s average: QueueObservation.RecentPublishRate is the publish rate
// between the two newest broker samples, and a 0 there with an empty queue
// starts the scale-to-zero-after clock. The clock is set back to the start
// of the span the counter was still over, but never before the first tick
// that saw the queue empty (State.EmptySince): a burst drained seconds
// after its last publish is proved quiet only by the next sample, and
// waiting for it cost up to one collect_statistics_interval more. The rate floor keeps pods only;
// it never adds them, because a floor that could scale up would feed on a
// learned rate that is low (pods that split the arrivals each seem to
// manage less) and ratchet up to max-replicas.
//
// The per-pod rate is learned only while every pod is busy (a message
// waiting for each, every pod consuming), from rates whose whole span saw
// the current replicas busy. The recent rates (QueueObservation
// RecentAckRate, over one broker sampling step) make that one step of
// saturation; without them the windowed rates (RateSpan, about 30 s) need
// the whole window. A sample from a span that began before a scale-up or
// a burst understates one pod and is used only when it exceeds the
// estimate. The rate signal then plans pods at target-rate-utilization
// (90%) of the rate. `rabbitscale simulate` showed all three: smoothing in
// understated samples held 12-40% too many pods, learning only from 30 s
// spans left the flash crowd's estimate at 11.5/s against a true 25/s,
// and planning at 100% made a ramp flap.
//
// Learning only from saturation has one trap: pods that keep up are never
// saturated, so a per-pod-rate annotation set too low would plan too many
// pods for good (diurnal at a fifth of the real rate: 3.9 times the
// replica-seconds). While the annotation is the rate in use, probeSeed
// raises it by a quarter (State.SeedScale) each time the pods it plans
// have kept up for a minute (nothing ready, every pod consuming); the
// scale-down window then takes a step down. When fewer pods no longer
// keep up they saturate, the real rate is learned, and it replaces the
// annotation and its probe. A learned rate is not probed: a burst
// re-teaches it. Steps of 1.5 and 2 made ramp flap with a low seed.
//
// state.go is the memory between ticks: the two compact stabilization
// windows, the scale events the policies budget over, the last scale
// times, the learned per-pod rate, the seed probe and five time trackers. It is
// a plain value that round-trips through JSON exactly; annotation.go encodes
// it and the Decision for their annotations.
//
// # For the controller
//
// Each tick, for each workload: ParseSpec its annotations (or reuse the
// Spec while they are unchanged), DecodeState its StateAnnotation, build an
// Observation, call Decide with the tick's time, set the replicas when
// Decision.Apply, then write EncodeDecision and EncodeState back. Keep the
// old State when the update failed. Decide costs about a microsecond and
// two allocations (BenchmarkDecide).
//
// # Changing a rule
//
// Each rule has a table test in decide_test.go and shows up in the replayed
// scenarios of scenario_test.go, which compare every tick's decision. A new
// annotation needs a Key constant, an entry in keys, parsing in ParseSpec,
// a row in the README table, and tests; FuzzParseSpec and FuzzDecide (run
// by make with -fuzztime) check that nothing panics and that Desired stays
// within [min-replicas, max-replicas].
package policy
