// Package queue reads RabbitMQ brokers: the management HTTP API, AMQP 0-9-1
// passive declares, and the rabbitmq_prometheus endpoint. One read per broker
// per tick produces a snapshot shared by every workload on that broker, and
// rates are computed here from the package's own counter samples rather than
// the broker's *_details.rate fields.
//
// It knows nothing of Kubernetes and nothing of scaling decisions.
//
// # What the controller calls
//
// Configuration comes from a file (LoadConfig, ParseConfig: YAML or JSON,
// strict, defaulted, validated with errors that name the field and value)
// and becomes one Reader per broker (Open, Brokers.Reader, Brokers.Readers;
// OpenFile does LoadConfig and Open in one call). The controller and the
// external metrics adapter both hold the file as a File (OpenFileWatched):
// Watch reads it again every period, a changed file is opened with
// Brokers.Reopen (unchanged brokers keep their readers, connections and
// rate history), and a file that does not load keeps the brokers in use
// and is logged, naming the field, once per content. Each tick takes
// File.Brokers once.
//
// # Who may read a broker
//
// A broker's allow (Access) lists the namespaces that may use it by name
// (allow.namespaces) or by label (allow.namespaceSelector, a LabelSelector:
// the Kubernetes shape and meaning, matchLabels and matchExpressions with
// In, NotIn, Exists, DoesNotExist, kept as plain data and matched here
// because this package imports nothing of Kubernetes), and the vhosts
// (allow.vhosts). Brokers.Allowed checks a Namespace (its name, and its
// labels when the caller knows them: unknown labels match no selector)
// and returns an error wrapping ErrNotAllowed that names the rule. Every tick the controller builds a
// Scope from the workloads on a broker (Scope.Add) and calls Reader.Snapshot
// once; each workload then asks the Snapshot with Lookup (a list of queue
// names, summed) or Match (a regexp over the queue names of a vhost). Neither makes a request. Reader.Latest returns the last
// snapshot for readers between ticks, such as an external metrics API.
//
//	brokers, err := queue.Open(cfg, clock.RealClock{})
//	r, err := brokers.Reader("main")
//	snap, err := r.Snapshot(ctx, scope)       // one read for every workload
//	tot, err := snap.Lookup("/", "orders", "orders-retry")
//	tot, err = snap.Match("/", regexp.MustCompile(`^orders-`))
//
// Totals carry Ready, Unacked (with UnackedAvailable), Consumers, Rates
// (publish, deliver and ack per second, with Available, the depth trend
// with TrendAvailable, and the recent publish rate with RecentSpan) and
// OldestReadyAt (the oldest head_message_timestamp, zero when unknown).
//
// # Sources
//
// Source is the one interface the three readers implement (and Reader, which
// wraps one and adds rates):
//
//   - ManagementSource (the default): GET /api/queues?page=N&page_size=500
//     &columns=..., one request per page, PageConcurrency pages at a time;
//     per vhost (GET /api/queues/{vhost}) when the Scope names at most
//     MaxVhostRequests vhosts. Pagination and columns= were checked against
//     RabbitMQ 3.10.8: both work, the largest page is 500, and every page
//     costs the broker a listing of the whole vhost, so 10,000 queues take 20
//     requests. Counters come with their bucket timestamps (msg_rates_age and
//     msg_rates_incr), because the management plugin refreshes them only
//     once per sample bucket (5 s by default). head_message_timestamp (whole seconds, the
//     head ready message's AMQP timestamp property) becomes
//     QueueStats.HeadMessageTimestamp; a value that cannot be true
//     (negative, over a minute after the sample) is unknown, never an
//     error.
//   - PrometheusSource: GET /metrics/detailed with the queue_coarse_metrics
//     and queue_consumer_count families, and the counter families of the
//     broker's version: channel_queue_metrics and
//     channel_queue_exchange_metrics (per channel) on 3.x,
//     queue_delivery_metrics and queue_exchange_metrics on 4.x. One request
//     per node: the endpoint reports only its own node, so list every node.
//   - AMQPSource: passive declares over at most one connection per broker,
//     for brokers without the management plugin. It reads ready messages and
//     consumers of the Scope's queues in the vhost of its URL; unacked
//     messages and counters are reported unavailable, never as zero.
//
// # Fresh reads, for workloads at zero
//
// The management and Prometheus figures are the broker's last statistics
// sample (collect_statistics_interval, 5 s by default). A broker whose
// configuration has an amqpURL beside its management or Prometheus source
// also gets a fresh source (ReaderOptions.Fresh, an AMQPSource: at most one
// connection, dialed by its first read), and Reader.Fresh passively
// declares the queues of a Scope at once, bounded by the broker's timeout:
// ready messages and consumers as they are now, in the AMQP URL's vhost
// only. Its snapshot has no rates and does not replace Latest. Without a
// fresh source, Fresh returns ErrFreshUnsupported. Which queues are read
// fresh, and how the figure is used, is package observe's rule.
//
// # Consumers, for idle-first scale-down
//
// ManagementSource.Consumers (and Reader.Consumers) list a vhost's
// consumers with their channel's peer address and unacknowledged count:
// two requests (GET /api/consumers/{vhost} and the vhost's channels), made
// only when the controller is about to scale a Deployment down, never per
// tick. Other sources return ErrConsumersUnsupported. See consumers.go.
//
// # Rates
//
// A Reader keeps, per queue, a few samples spaced over RateWindow and divides
// counter differences by the time between the samples (the broker's bucket
// times with the management API). A counter that goes back (queue
// re-created, broker restarted) restarts the history: rates are unavailable
// until MinRateSpan has passed, never negative. A failed read adds no sample,
// so the next rate spans the gap. Without counters (AMQP, statistics off) only
// the depth trend is reported.
//
// Rates.RecentPublish is the publish rate between the two newest samples
// whose counters the broker took at different times (the bucket times with
// the management API, the sample times otherwise), kept apart from the
// windowed samples: what a "quiet" decision needs (the counter did not
// move over the broker's last step). Two reads of one broker bucket are
// one sample; a reset, a backward counter time or a change of source
// restart it (RecentSpan 0). Without the broker's own sample times (the
// Prometheus endpoint) the span is at least MinRateSpan, so that two reads
// within one refresh of the endpoint do not look like a counter standing
// still. RecentDeliver and RecentAck cover the same span: what the consumers
// did in the broker's last step, from which policy learns the per-pod rate.
//
// # Errors
//
// Errors wrap one sentinel each, tested with errors.Is: ErrQueueNotFound and
// ErrStatsUnavailable concern one queue and come from lookups, never from a
// read; ErrBrokerUnavailable (unreachable, timeout, 5xx, AMQP connection
// down) and ErrUnauthorized (401, 403, ACCESS_REFUSED) are distinct;
// ErrInvalidResponse, ErrNotInScope, ErrInvalidConfig, ErrUnknownBroker,
// ErrFreshUnsupported and ErrNotAllowed complete the set. *BrokerError and
// *QueueError carry the broker, the request and the queue. URLs in
// configuration must not carry credentials
// (validation refuses them and shows the URL without them); passwords come
// from environment variables or files, re-read on every read, and appear in
// no error or log line.
//
// # What is not trusted
//
// Every source checks an answer before it becomes a Snapshot (validate.go):
// a negative count, one beyond 2^40, NaN, a consumer utilisation outside
// 0..1, a management page count beyond the cap (1,000 pages) or beyond what
// its filtered_count needs, more items than the page size, an empty page
// before the last, a queue listed twice in one page. Any of them fails the
// whole read with ErrInvalidResponse, naming the queue and the field, so
// that the broker's workloads hold. The management read as a whole is
// bounded by the broker's timeout, whatever the number of pages. Error
// texts are stable for the same problem: the request is named without its
// page or query, and a transport error without the URL it repeats.
//
// # Connections and time
//
// Each HTTP source holds one http.Client whose connections are reused and
// bounded per host. The AMQP source holds at most one connection; when it is
// found closed the next read dials again, and failed dials back off from
// DefaultRedialInitial to DefaultRedialMax. Nothing runs between reads: no
// goroutine per workload or per broker. Sample times and the re-dial backoff
// come from an injected k8s.io/utils/clock.
package queue
