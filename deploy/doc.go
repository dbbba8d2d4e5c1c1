// Package deploy holds what users install, and the code that reads it for
// the tests:
//
//   - base/: the controller (kustomize): Namespace, ServiceAccount, the
//     least-privilege ClusterRole and leader-election Role, the broker
//     ConfigMap, the Deployment, PodDisruptionBudget and Service;
//   - examples/: annotated worker Deployments and a broker Secret example.
//   - helm/rabbitscale/: the Helm chart, which renders what base/ (and,
//     when enabled, adapter/ and monitoring/) install; its files/ copies
//     the dashboard and alert rules (go generate ./deploy), and RenderChart
//     and RunHelm drive the helm CLI that hack/helm.sh builds.
//
// Build runs kustomize through its Go library (there is no kubectl here), so
// the integration tests apply exactly what `kubectl apply -k` would. Nothing
// here is linked into the rabbitscale binary.
package deploy
