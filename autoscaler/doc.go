// Package autoscaler is the Kubernetes controller. It watches annotated
// Deployments and StatefulSets through shared informers, runs one tick for
// every workload (one queue snapshot per broker, CPU from metrics.k8s.io),
// asks policy.Decide what to do, and applies the answer through the scale
// subresource, recording the decision and policy.State in the
// rabbitscale.io/decision and rabbitscale.io/state annotations so restarts
// and leader changes lose nothing.
//
// # The tick
//
// Tick gathers, then decides and applies, broker by broker, then reports:
//
//   - gather (gather.go): parse every workload, read every broker named by
//     one concurrently under a deadline of the tick interval (readBrokers,
//     with the scope package observe builds from each policy.QueueSelector),
//     and CPU meanwhile (cpu.go). A broker that misses the deadline fails
//     like an unreachable one: its workloads hold with "queue unavailable".
//     After a broker's main read, and within the same goroutine, comes its
//     one fresh read (readFresh, observe.FreshReader: AMQP passive declares on
//     the broker's one AMQP connection, when its configuration has an
//     amqpURL beside the management or Prometheus source) of the queues
//     of its workloads at zero replicas, so that a burst wakes them within
//     the tick whatever the broker's collect_statistics_interval. Which
//     workloads want it and how its figure enters the observation are
//     package observe's (FreshScope, QueueFresh); a failed fresh read is
//     logged at V(4) and leaves the statistics figures.
//   - decide and apply (sync.go): each broker's workloads are synced as
//     soon as that broker's read completes. decideAndApply observes
//     (observe.QueueFresh), calls policy.Decide, scales and writes the
//     annotations (apply.go, writeDue); it tells nobody, and fills an
//     outcome.
//   - report (report.go): the outcome becomes the warnings, the Rescaled
//     event and the workload's metrics. Warnings are deduplicated per
//     workload on their text and recorded again every
//     Config.WarningRepeatPeriod (10 min) while they last, so that an
//     event outlives the API server's one-hour event TTL; EventSpamKey
//     gives each distinct problem its own spam-filter budget. A workload
//     whose annotations do not parse (reportSkipped) loses its decision
//     series but keeps rabbitscale_workload_annotations_invalid until it
//     parses again or is deleted.
//
// sync(ctx, key) does the same for one workload, reading its broker for it
// alone: the entry point a test calls with a fake clientset and clock. The
// mutex guards only the controller's maps; no lock is held across a read
// or a write. Broker failures and recoveries are logged once per change
// (logBroker). Global dry-run goes into the spec (Spec.DryRun), never
// edits a decision.
//
// # Tenancy
//
// Before a workload is read, parse asks Config.Allowed (the brokers' allow
// lists, taken with the brokers at the start of each tick) whether its
// namespace may use its broker and vhost. The namespace's labels, for
// allow.namespaceSelector, come from Config.Namespaces, a metadata-only
// Namespace lister that `rabbitscale run` has only when it watches every
// namespace; watching some namespaces (Roles only), it cannot read
// Namespace objects, the labels are unknown, and no selector matches. A
// refused workload is not in its broker's scope, holds, and gets a
// BrokerNotAllowed warning naming the rule.
//
// # Leadership
//
// Config.Leader is asked before every write; `rabbitscale run` passes
// LeaseGuard.Check, which refuses once the lease's last renewal was sent
// longer ago than the renew deadline, on the process's monotonic clock, so
// that a leader resumed from a pause writes nothing. A refused check ends
// the tick and Run (ErrNotLeader), and the process exits. Every write has a
// precondition as well: the scale update carries the informer's
// resourceVersion, and the state annotation is written with a JSON patch
// that tests its previous value (a merge patch with the resourceVersion
// before it exists); a failed test (ErrStateChanged) drops the memory of
// the workload, which is read again from its annotations.
//
// # Writes to the API server
//
// A change costs two calls: an update of the scale subresource carrying the
// informer's resourceVersion (the scale shares it; a conflict falls back to
// reading the scale), and a patch of the two annotations, both through the
// one workloadClient of the workload's kind. Without a change the
// annotations are patched only when the decision's Summary or the state's
// Durable part changes (at most every 30 s, minRewrite), or once per
// StateSyncPeriod at a phase derived from the workload's UID, so that a
// large fleet's refreshes do not land in one tick: writeDue is that rule.
// Writes that no scale caused are also bounded per tick
// (Config.AnnotationWritesPerTick; `rabbitscale run` gives them a quarter
// of the client's rate over a tick): when every decision is news at once
// (a first start over a fleet, a broker outage beginning or ending), the
// rest wait for later ticks, and a scale-up never waits behind 1,000
// annotation patches at 50 QPS. Because stored state may lag, remember resumes it with
// State.Resumed: no scale-down for one window after a restart.
//
// # CPU
//
// For workloads with rabbitscale.io/target-cpu-utilization, a tick lists
// PodMetrics once per namespace (PodMetricsLister; nil means CPU is
// unavailable) and classifies the workload's pods, read from a pod informer
// whose transform (StripPod) keeps only what is read, the way the HPA's
// groupPods does: pods being deleted and failed pods are left out, pending
// pods and pods within the CPU initialization period or never ready are
// unready, pods without a sample are missing. When the metrics API cannot be
// read the CPU signal holds and a deduplicated CPUMetricsUnavailable warning
// is recorded.
//
// # Idle-first scale-down
//
// Just before a Deployment's scale-down is applied, the controller asks the
// broker which consumers of the workload's queues hold unacknowledged
// messages (ConsumerLister: the management API's consumers and channels, two
// requests) and matches their channels' peer addresses to pod IPs. Busy pods
// get controller.kubernetes.io/pod-deletion-cost equal to their unacked
// count (bounded by MaxDeletionCost); idle pods lose a cost rabbitscale set
// earlier; costs set by others are left alone. StatefulSets are skipped:
// they always remove the highest ordinal. A broker without the management
// API, or any failure, skips the marking and never blocks the scale-down.
//
// It declares the small interfaces it needs from the queue readers and the
// Kubernetes clients where it uses them, so tests fake them by hand.
package autoscaler
