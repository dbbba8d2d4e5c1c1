// Package observe turns what a broker read returned into what the engine
// sees: from a queue.Snapshot and a workload's policy.QueueSelector it
// builds the policy.QueueObservation, rates included, and from a set of
// selectors the queue.Scope of the broker's one read.
//
// It also owns the fast wake rule: which workloads want a fresh read of
// their ready count (Workload.WantsFresh: those at zero replicas), what
// the broker's one fresh read covers (FreshScope: their queues as the main
// read resolved them, a pattern's matches included), and how its figure
// enters the observation (QueueFresh: Ready is the fresh sum when the
// fresh read answered for every queue, else the statistics stand).
//
// The controller (package autoscaler) and the simulator (package simulate)
// both call it, so that a what-if run sees a queue exactly as the
// controller would. It reports problems as errors and emits nothing: the
// caller decides what a person is told.
//
// It sits between queue (the readers, which know nothing of workloads) and
// policy (the pure engine, which knows nothing of brokers), and imports
// neither client-go nor anything of Kubernetes' API machinery.
package observe
