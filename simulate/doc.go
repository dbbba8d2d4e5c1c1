// Package simulate owns `rabbitscale simulate`: an offline, deterministic
// what-if that runs the real engine, policy.Decide, tick by tick against a
// model of a RabbitMQ queue, its consumer pods and the broker's statistics,
// and runs baselines (KEDA, a CPU HPA, a fixed count) on the same workload
// and seed. It reads no clock (time is Epoch plus simulated seconds), no
// broker and no cluster.
//
// # The pieces
//
//	workload.go    Workload: arrival rate over time, bursts, broker outages,
//	               and the settings a scenario fixes for both sides
//	               (annotations, model parameters, keda knobs); the
//	               built-in Scenario names and ParseCSV
//	model.go       Model: per-pod rate and noise, start-up delay, prefetch,
//	               broker sampling, seed, wait SLO
//	run.go         Run(workload, duration, model, autoscaler) -> *Result
//	broker.go      the broker model as a queue.Source, read like the
//	               controller reads a broker (queue.Reader, observe)
//	autoscalers.go Autoscaler, and Rabbitscale, KEDA (with KEDAConfig),
//	               HPACPU, Fixed
//	hpa.go         HPA: the HorizontalPodAutoscaler's replica normalisation
//	               with a policy.Behavior, its limits from
//	               policy.ScalingRules.Limit (the engine's own code)
//	knobs.go       ParseKEDAKnobs and ParseHPARules: the keda knobs as
//	               `rabbitscale simulate --keda` and --keda-scale-up/-down
//	               write them (--keda-behavior takes an HPA spec.behavior
//	               as YAML or JSON, through policy.ParseBehavior)
//	summary.go     Summary, WriteTable, WriteMarkdown, WriteVersus,
//	               WriteTimelineCSV
//	svg.go         Chart, WriteChart, ChartOf: a standard-library SVG time
//	               chart (also used by `make demo`)
//
// # The model
//
// The model steps one second at a time. Arrivals follow the workload's
// rate (the fractional part carries over, so a rate of 0.5 gives one
// message every other second) and join a FIFO queue as one cohort per
// second, so every message's wait is known exactly: the reported waits are
// per message, from arrival to acknowledgement, in whole seconds rounded
// up, not a Little's-law estimate. Each ready pod holds up to Prefetch
// unacked messages and finishes, each second, up to its rate times
// (1 + Noise x a standard normal draw) messages, oldest first, from its
// prefetched ones and then straight from the queue; idle capacity is not
// banked. A pod's CPU is its busy fraction over the last 15 seconds (the
// metrics-server resolution) times its request. Replicas follow the
// autoscaler's choice: new pods consume after StartupDelay; removed pods
// are the ones still starting, then the newest (as a ReplicaSet picks),
// and their unacked messages are requeued at the head of the queue. Every
// message that arrived has been processed or is still ready or unacked,
// exactly (TestConservation).
//
// The broker takes a statistics sample every Sampling
// (collect_statistics_interval): controllers see depth, consumers and
// counters as of the last sample. The broker model is a queue.Source
// (broker.go) that answers like the management API, and every tick reads
// it through a queue.Reader and package observe, the controller's own
// code: the rates are the controller's, from its own reads of those
// counters. For rabbitscale at zero replicas the broker model also answers
// the controller's fresh read (an AMQP passive declare) with the true ready
// count at the tick, through observe.ReadFresh and observe.QueueFresh as in
// the controller; the baselines read the statistics only. During a
// workload's outages both reads fail, and the queue is unavailable. CPU goes through policy.CPURecommendation for the CPU-only
// HPA baseline, as it does in the controller's CPU signal.
//
// What it leaves out: a consumer that keeps up finishes each second's
// arrivals within that second, so an idle-enough queue shows depth 0 at a
// sample (no in-flight time is modelled); every controller's scale-down
// removes the newest pods (the controller's idle-first deletion cost is
// not modelled); CPU is capped at the request.
//
// # The baselines and the sources they follow
//
// keda (KEDA): a ScaledObject with a rabbitmq trigger in QueueLength mode
// (keda.sh/docs/latest/scalers/rabbitmq-queue: value is the target
// backlog per replica; the HTTP protocol counts ready + unacked, here as
// the spec's count-unacked says), with KEDA's knobs in KEDAConfig. Two
// loops run on their own schedules (kedacore/keda
// pkg/scaling/executor/scale_scaledobjects.go): the operator every
// pollingInterval (30 s) asks whether the trigger is active (the metric
// above activationValue, 0), scales from zero to max(1, min) when it is,
// and with min-replicas 0 to zero once cooldownPeriod (300 s) has passed
// since it last was; and the HPA KEDA created syncs every 15 s while
// replicas are above zero, with an External AverageValue target and the
// behavior of advanced.horizontalPodAutoscalerConfig.behavior (the HPA's
// default unless set). The HPA's metric is a fresh read of the queue at
// each sync, as KEDA's metrics server queries the scaler per request,
// or, with useCachedMetrics, the operator's last poll.
//
// hpa-cpu: the HPA with a CPU utilisation target (the spec's
// target-cpu-utilization, else 80%), pods still starting counted as
// unready.
//
// Both follow kubernetes/kubernetes pkg/controller/podautoscaler:
//
//   - replica_calculator.go, GetExternalPerPodMetricReplicas: keep the
//     replicas while |1 - metric / (target x replicas)| <= tolerance (0.1,
//     a plain float comparison, so a ratio of exactly 1.1 scales), else
//     ceil(metric / target) (HPA.PerPodReplicas);
//   - replica_calculator.go, GetResourceReplicas and groupPods: utilisation
//     over ready pods, unready pods at 0% when scaling up, and a hold when
//     that reverses the direction (HPACPU.Decide);
//   - horizontal.go, normalizeDesiredReplicasWithBehaviors and
//     stabilizeRecommendationWithBehaviors: scale-up to the lowest
//     recommendation of the scale-up window (0 s), scale-down to the
//     highest of the 300 s scale-down window, every sync's recommendation
//     recorded, the current replicas recorded at the first sync
//     (maybeInitScaleDownStabilizationWindow);
//   - horizontal.go, convertDesiredReplicasWithBehaviorRate,
//     calculateScaleUpLimitWithScalingRules,
//     calculateScaleDownLimitWithBehaviors and getReplicasChangePerPeriod:
//     each Pods or Percent policy budgets its change over its period from
//     the replicas at the period's start (current minus the scale-ups
//     plus the scale-downs recorded within it), selectPolicy Max keeps the
//     largest change, Min the smallest, Disabled none; then [min, max].
//     The default behavior: up with no window and 4 pods or 100% per
//     15 s, down with a 300 s window and 100% per 15 s, both Max.
//
// The code is written from those descriptions, not copied; hpa_test.go
// checks the tolerance, the windows, the select policies and the budgets
// on cases worked out by hand, TestKEDAActivationAndCooldown the
// operator's loop, and TestKEDABaselineOnABurst the whole chain.
//
// # Reading the results
//
// Summary gives peak and p99 depth, the longest and p99 wait, the seconds
// during which the oldest message was older than the wait SLO and the
// messages that waited longer than it, the replica-seconds (cost), the
// scale events and the reversals within five minutes (flapping), the
// drain time after each burst, the time from the first burst to the first
// scale-up, the time from the last acknowledgement to zero replicas, and
// the messages arrived, processed and left. Golden files in testdata pin the built-in
// scenarios' tables for seed 1; regenerate them with
//
//	go test ./simulate/ -run TestGolden -update
//
// testdata/versus.golden is WriteVersus's table of rabbitscale against
// keda on flash-crowd, batches and keda-e2e, each scenario's settings on
// both sides; `make simulate-keda` prints it:
//
//	rabbitscale simulate --scenario flash-crowd,batches,keda-e2e --compare keda --format versus
//
// # The same settings on both sides
//
// A scenario may carry annotations, model settings and keda knobs
// (Workload.Annotations, Model, KEDA); `rabbitscale simulate` applies them
// under the flags given (--annotation over the annotations, a model flag
// over that parameter, --keda, --keda-scale-up and --keda-scale-down over
// the knobs). keda-e2e maps its ScaledObject onto annotations:
// minReplicaCount and maxReplicaCount to min- and max-replicas, the
// trigger's value to target-depth-per-pod, activationValue to
// activation-depth, the AMQP protocol's ready-only count to
// count-unacked false, and cooldownPeriod, KEDA's idle time before zero,
// to scale-to-zero-after (leaving scale-down-stabilization and
// scale-down-delay at rabbitscale's defaults); the rest stays at
// rabbitscale's defaults, as KEDA leaves the HPA's at its own. rabbitscale ticks every
// --interval (5 s), KEDA's pollingInterval there.
//
// flash-crowd keeps those knobs but gives every scale-down the 10 s
// cooldown on both sides: scale-down-cooldown for rabbitscale, the HPA
// behavior's scale-down stabilization window for keda. That is how the
// measurement on real components it reproduces was set (before the
// cooldown was split, one 10 s cooldown did all three jobs), so its
// figures compare with that one. It starts from one pod at the base load:
// from zero, the first wake-up's return to one pod falls under five
// minutes before the crowd and counts as a reversal whatever the engine
// does, since no per-pod rate is known then. TestCheaperAndSteadierThanKEDA
// holds both comparison scenarios to the figures.
package simulate
