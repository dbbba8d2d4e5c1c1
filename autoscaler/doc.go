// Package autoscaler is the Kubernetes controller. It watches annotated
// Deployments and StatefulSets through shared informers, runs one tick for
// every workload (one queue snapshot per broker, CPU from metrics.k8s.io),
// asks policy.Decide what to do, and applies the answer through the scale
// subresource, recording policy.State in the rabbitscale.io/status
// annotation so restarts and leader changes lose nothing.
//
// It declares the small interfaces it needs from the queue readers and the
// Kubernetes clients where it uses them, so tests fake them by hand.
package autoscaler
