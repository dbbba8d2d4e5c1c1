package adapter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/klog/v2"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"k8s.io/utils/clock"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/rabbitscale/rabbitscale/internal/nslabels"
	"github.com/rabbitscale/rabbitscale/queue"
)

// External metric names served by Provider.
const (
	// MetricMessages is ready plus unacked messages (ready alone when the
	// source cannot tell unacked, as with AMQP).
	MetricMessages = "rabbitmq_queue_messages"
	// MetricMessagesReady is messages waiting for a consumer.
	MetricMessagesReady = "rabbitmq_queue_messages_ready"
	// MetricMessagesUnacked is messages delivered and not acknowledged.
	MetricMessagesUnacked = "rabbitmq_queue_messages_unacked"
	// MetricConsumers is the number of consumers.
	MetricConsumers = "rabbitmq_queue_consumers"
	// MetricPublishRate is messages published per second, computed from
	// the broker's counters by the queue package.
	MetricPublishRate = "rabbitmq_queue_publish_rate"
)

var metricNames = []string{MetricMessages, MetricMessagesReady, MetricMessagesUnacked, MetricConsumers, MetricPublishRate}

// Selector labels of an external metric query (the HPA's
// metric.selector.matchLabels).
const (
	// LabelQueue names the queue; required. `queue in (a,b)` sums queues.
	LabelQueue = "queue"
	// LabelVhost is the queue's vhost; "/" when absent.
	LabelVhost = "vhost"
	// LabelBroker is the broker's configured name; when absent, the only
	// configured broker, or the one named "default".
	LabelBroker = "broker"
)

// SnapshotReader is what the provider needs from a queue.Reader.
type SnapshotReader interface {
	Snapshot(ctx context.Context, scope queue.Scope) (*queue.Snapshot, error)
	Latest() *queue.Snapshot
}

// BrokerObserver records every broker read. The metrics package's
// collectors implement it, so the adapter exports the same broker series
// (rabbitscale_broker_up and the request latency and errors) as the
// controller.
type BrokerObserver interface {
	ObserveBrokerRequest(broker string, d time.Duration, err error)
}

type noObserver struct{}

func (noObserver) ObserveBrokerRequest(string, time.Duration, error) {}

// BrokerSet gives the brokers as they are configured now, with their allow
// lists: a reloaded configuration file changes them (FileBrokers).
type BrokerSet interface {
	Current() (readers map[string]SnapshotReader, allowed Allowed)
}

// Allowed says whether an HPA in namespace ns may read vhost on a broker
// (*queue.Brokers.Allowed, or queue.Access.Check for one broker). Nil
// allows everything.
type Allowed func(broker string, ns queue.Namespace, vhost string) error

// Brokers is a BrokerSet that does not change.
type Brokers struct {
	Readers map[string]SnapshotReader
	Allowed Allowed
}

// Current implements BrokerSet.
func (b Brokers) Current() (map[string]SnapshotReader, Allowed) { return b.Readers, b.Allowed }

// FileBrokers is the BrokerSet of a broker configuration file that the
// process reloads (queue.File.Watch), as the controller reads it.
func FileBrokers(f *queue.File) BrokerSet { return fileBrokers{f} }

type fileBrokers struct{ f *queue.File }

func (b fileBrokers) Current() (map[string]SnapshotReader, Allowed) {
	set := b.f.Brokers()
	readers := map[string]SnapshotReader{}
	for name, r := range set.Readers() {
		readers[name] = r
	}
	return readers, set.Allowed
}

// NamespaceGetter gets a namespace's metadata: client-go's metadata lister
// of namespaces (metadatalister.Lister) implements it.
type NamespaceGetter interface {
	Get(name string) (*metav1.PartialObjectMetadata, error)
}

// Provider answers external metrics API queries from the latest snapshot
// of each broker, which Run refreshes on an interval: an HPA query costs no
// broker request, however many HPAs ask.
type Provider struct {
	set        BrokerSet
	maxAge     time.Duration
	clock      clock.PassiveClock
	observe    BrokerObserver
	namespaces NamespaceGetter
}

var _ provider.ExternalMetricsProvider = (*Provider)(nil)

// NewProvider serves the snapshots of set's readers, keyed by broker name,
// to the namespaces its allow lists let read them (the same rule the
// controller applies to workloads; Forbidden otherwise). Each refresh and
// each query takes the set's current brokers once: after a reload, a
// broker whose configuration changed has a new reader, which serves once
// the next refresh has read it. A snapshot older than maxAge is refused
// (the HPA then keeps the current replicas) rather than served as if it
// were current. obs may be nil; with it Run records every broker read.
func NewProvider(set BrokerSet, maxAge time.Duration, clk clock.PassiveClock, obs BrokerObserver) *Provider {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if obs == nil {
		obs = noObserver{}
	}
	if set == nil {
		set = Brokers{}
	}
	return &Provider{set: set, maxAge: maxAge, clock: clk, observe: obs}
}

// LabelsFrom gives the provider the namespaces' labels, which the brokers'
// allow.namespaceSelector matches. Without it (or for a namespace it does
// not know) the labels are unknown, and no selector matches.
func (p *Provider) LabelsFrom(namespaces NamespaceGetter) {
	p.namespaces = namespaces
}

// namespace is what the allow lists check of namespace name.
func (p *Provider) namespace(name string) queue.Namespace {
	return nslabels.Namespace(p.namespaces, name)
}

// Refresh reads every broker once, concurrently, listing all its queues.
// It returns the read errors joined; a failed read keeps that broker's
// previous snapshot.
func (p *Provider) Refresh(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	readers, _ := p.set.Current()
	names := slices.Sorted(maps.Keys(readers))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			start := p.clock.Now()
			snap, err := readers[name].Snapshot(ctx, queue.Scope{})
			p.observe.ObserveBrokerRequest(name, p.clock.Since(start), err)
			if err != nil {
				errs[i] = fmt.Errorf("broker %q: %w", name, err)
				return
			}
			logger.V(4).Info("Refreshed broker snapshot", "broker", name, "queues", snap.Len(), "requests", snap.Requests)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Run refreshes every interval until ctx ends, starting at once. Tick
// comes from the clock handed to NewProvider when it is a
// clock.WithTicker, so tests drive it with a fake clock.
func (p *Provider) Run(ctx context.Context, interval time.Duration) {
	logger := klog.FromContext(ctx)
	ticker := newTicker(p.clock, interval)
	defer ticker.Stop()
	for {
		if err := p.Refresh(ctx); err != nil {
			logger.Error(err, "Reading brokers for the external metrics API")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

func newTicker(clk clock.PassiveClock, d time.Duration) clock.Ticker {
	if c, ok := clk.(clock.WithTicker); ok {
		return c.NewTicker(d)
	}
	return clock.RealClock{}.NewTicker(d)
}

// ListAllExternalMetrics lists the metric names served.
func (p *Provider) ListAllExternalMetrics() []provider.ExternalMetricInfo {
	out := make([]provider.ExternalMetricInfo, 0, len(metricNames))
	for _, m := range metricNames {
		out = append(out, provider.ExternalMetricInfo{Metric: m})
	}
	return out
}

// GetExternalMetric answers one query from the HPA of namespace. Queues are
// not namespaced: RBAC on external.metrics.k8s.io decides who may ask at
// all, and the brokers' allow lists (the BrokerSet's) which namespaces may read
// which broker and vhost.
func (p *Provider) GetExternalMetric(ctx context.Context, namespace string, metricSelector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	gr := schema.GroupResource{Group: external_metrics.GroupName, Resource: info.Metric}
	if !slices.Contains(metricNames, info.Metric) {
		return nil, apierrors.NewNotFound(gr, info.Metric)
	}
	sel, err := parseSelector(metricSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %v", info.Metric, err))
	}
	readers, allowed := p.set.Current()
	brokerName, err := brokerFor(readers, sel.broker)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %v", info.Metric, err))
	}
	if allowed != nil {
		if err := allowed(brokerName, p.namespace(namespace), sel.vhost); err != nil {
			return nil, apierrors.NewForbidden(gr, strings.Join(sel.queues, ","), err)
		}
	}
	snap := readers[brokerName].Latest()
	if snap == nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("broker %q has not been read yet", brokerName))
	}
	if age := p.clock.Since(snap.Time); p.maxAge > 0 && age > p.maxAge {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("broker %q was last read %s ago", brokerName, age.Round(time.Second)))
	}
	tot, err := snap.Lookup(sel.vhost, sel.queues...)
	if err != nil {
		if errors.Is(err, queue.ErrQueueNotFound) {
			return nil, apierrors.NewNotFound(gr, fmt.Sprintf("%s in vhost %s on broker %s", strings.Join(sel.queues, ","), sel.vhost, brokerName))
		}
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: %v", info.Metric, err))
	}

	var q resource.Quantity
	var window *int64
	switch info.Metric {
	case MetricMessages:
		q = *resource.NewQuantity(tot.Ready+tot.Unacked, resource.DecimalSI)
	case MetricMessagesReady:
		q = *resource.NewQuantity(tot.Ready, resource.DecimalSI)
	case MetricMessagesUnacked:
		if !tot.UnackedAvailable {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: broker %q does not report unacked messages", info.Metric, brokerName))
		}
		q = *resource.NewQuantity(tot.Unacked, resource.DecimalSI)
	case MetricConsumers:
		q = *resource.NewQuantity(tot.Consumers, resource.DecimalSI)
	case MetricPublishRate:
		if !tot.Rates.Available {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: rates are not available yet for %s", info.Metric, strings.Join(sel.queues, ",")))
		}
		q = *resource.NewMilliQuantity(int64(math.Round(tot.Rates.Publish*1000)), resource.DecimalSI)
		w := int64(tot.Rates.Span / time.Second)
		window = &w
	}
	klog.FromContext(ctx).V(4).Info("Served external metric", "metric", info.Metric, "broker", brokerName, "vhost", sel.vhost, "queues", sel.queues, "value", q.String())
	return &external_metrics.ExternalMetricValueList{Items: []external_metrics.ExternalMetricValue{{
		MetricName:    info.Metric,
		MetricLabels:  map[string]string{LabelBroker: brokerName, LabelVhost: sel.vhost, LabelQueue: strings.Join(sel.queues, ",")},
		Timestamp:     metav1.NewTime(tot.Oldest),
		WindowSeconds: window,
		Value:         q,
	}}}, nil
}

type selected struct {
	broker, vhost string
	queues        []string
}

func parseSelector(s labels.Selector) (selected, error) {
	out := selected{vhost: queue.DefaultVhost}
	if s == nil {
		return out, fmt.Errorf("a %q label is required", LabelQueue)
	}
	reqs, _ := s.Requirements()
	for _, r := range reqs {
		vals := r.Values().UnsortedList()
		slices.Sort(vals)
		op := r.Operator()
		single := (op == selection.Equals || op == selection.DoubleEquals) && len(vals) == 1
		switch r.Key() {
		case LabelQueue:
			if !single && op != selection.In {
				return out, fmt.Errorf("label %q: only = and in are supported, got %q", LabelQueue, r.String())
			}
			out.queues = vals
		case LabelVhost:
			if !single {
				return out, fmt.Errorf("label %q: only = is supported, got %q", LabelVhost, r.String())
			}
			out.vhost = vals[0]
		case LabelBroker:
			if !single {
				return out, fmt.Errorf("label %q: only = is supported, got %q", LabelBroker, r.String())
			}
			out.broker = vals[0]
		default:
			return out, fmt.Errorf("unknown label %q: use %s, %s and %s", r.Key(), LabelQueue, LabelVhost, LabelBroker)
		}
	}
	if len(out.queues) == 0 {
		return out, fmt.Errorf("a %q label is required", LabelQueue)
	}
	return out, nil
}

// brokerFor picks the broker a query names, or the only one, or the one
// named "default".
func brokerFor(readers map[string]SnapshotReader, name string) (string, error) {
	if name != "" {
		if _, ok := readers[name]; !ok {
			return "", fmt.Errorf("%w: %q", queue.ErrUnknownBroker, name)
		}
		return name, nil
	}
	if len(readers) == 1 {
		for n := range readers {
			return n, nil
		}
	}
	if _, ok := readers["default"]; ok {
		return "default", nil
	}
	return "", fmt.Errorf("label %q is required: %d brokers are configured and none is named \"default\"", LabelBroker, len(readers))
}
