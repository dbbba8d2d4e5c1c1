// Package deploy holds what users install, and the code that reads it for
// the tests:
//
//   - base/: the controller (kustomize): Namespace, ServiceAccount, the
//     least-privilege ClusterRole and leader-election Role, the broker
//     ConfigMap, the Deployment, PodDisruptionBudget and Service;
//   - examples/: annotated worker Deployments and a broker Secret example.
//
// Build runs kustomize through its Go library (there is no kubectl here), so
// the integration tests apply exactly what `kubectl apply -k` would. Nothing
// here is linked into the rabbitscale binary.
package deploy
