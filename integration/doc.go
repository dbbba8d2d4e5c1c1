// Package integration holds the tests that run against real services: a
// RabbitMQ broker and a kube-apiserver with etcd, both found or started by
// the harness subpackage once per run (see main_test.go). The tests carry the
// `integration` build tag; `make test-integration` runs them with
// KUBEBUILDER_ASSETS pointing at the binaries `make tools` built.
//
// Tests share the broker and the API server, so each one isolates itself: a
// namespace of its own and queue names with a unique suffix.
package integration
