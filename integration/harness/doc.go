// Package harness starts the real services the integration tests and
// `make demo` run against: a RabbitMQ broker (from the environment, a
// testcontainers container, or a private rabbitmq-server node on free
// loopback ports) and a private kube-apiserver with etcd through
// controller-runtime's envtest.
//
// It is imported only by tests and by hack/demo, never by the rabbitscale
// binary, so envtest and testcontainers stay out of what ships.
package harness
