// Package deploy holds what users install: kustomize manifests, RBAC, the
// Grafana dashboard, Prometheus alert rules and example workloads. The Go
// package exists so tests can load and check those files with the code
// that reads them; nothing here is linked into the rabbitscale binary.
package deploy
