// Package adapter owns the external metrics API (external.metrics.k8s.io/
// v1beta1) for clusters that scale with a stock HorizontalPodAutoscaler:
// the provider that answers queries (provider.go) and its server wiring on
// sigs.k8s.io/custom-metrics-apiserver (server.go). It is its own binary,
// cmd/rabbitscale-adapter, so that the controller does not link
// k8s.io/apiserver (make check-layering keeps it that way).
//
// # Provider (provider.go)
//
// Provider implements the custom-metrics-apiserver ExternalMetricsProvider.
// Run reads every broker once per interval (Reader.Snapshot with an empty
// Scope: every queue listed); GetExternalMetric answers from Reader.Latest
// and never makes a request. Metrics: rabbitmq_queue_messages (ready +
// unacked), rabbitmq_queue_messages_ready, rabbitmq_queue_messages_unacked,
// rabbitmq_queue_consumers, rabbitmq_queue_publish_rate (messages per second
// from the queue package's own counter samples, with its window). The HPA's
// metric selector picks the queue with the labels queue (required;
// `queue in (a,b)` sums), vhost (absent means "/", which is not a valid
// label value) and broker (absent means the only broker, or "default").
// Queue and vhost names that are not valid label values (more than 63
// characters, or characters other than alphanumerics, '-', '_' and '.')
// cannot be selected. Errors are API statuses the HPA reports in its
// conditions: NotFound for an unknown metric or queue, BadRequest for a bad
// selector, ServiceUnavailable before the first read, for a snapshot older
// than maxAge, and for rates not computed yet.
//
// The brokers come from a BrokerSet (FileBrokers: the broker file as
// queue.File last reloaded it, so ConfigMap edits apply without a restart;
// Brokers for a fixed set), taken once per refresh and once per query. Its
// allow lists apply to the namespace of the HPA that asks, with the
// namespace's labels from LabelsFrom (the binary's metadata-only Namespace
// informer) for allow.namespaceSelector: a refused query is Forbidden.
//
// Each read is reported to a BrokerObserver; the binary passes the metrics
// package's collectors, registered on the API server's own /metrics, so the
// adapter exports the same rabbitscale_broker_* series as the controller.
//
// The AMQP source reads only the queues of its Scope, so with an empty
// Scope it lists nothing: brokers served by the adapter need the
// management or Prometheus source.
//
// # Server (server.go)
//
// Serve runs the aggregated API server (serving, delegated authentication
// and authorization, audit: the options the binary's flags fill) and the
// provider's refresh loop together until the context ends. The manifests
// are deploy/adapter (APIService, Service, RBAC, Deployment running
// /rabbitscale-adapter); deploy_test.go checks their wiring, and
// integration/adapter_test.go serves them to a real kube-apiserver and a
// stock HPA.
package adapter
