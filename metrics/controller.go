package metrics

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// Namespace prefixes every series this package defines.
const Namespace = "rabbitscale"

// Scale directions, the direction label of rabbitscale_scale_events_total.
const (
	DirectionUp   = "up"
	DirectionDown = "down"
)

// Error kinds, the kind label of rabbitscale_errors_total. ObserveError
// counts any other kind as ErrorKindOther so that the label stays bounded.
const (
	// ErrorKindBroker: a broker read failed (the whole broker, not one
	// queue).
	ErrorKindBroker = "broker"
	// ErrorKindQueue: a workload's queues could not be found or read in an
	// otherwise good snapshot.
	ErrorKindQueue = "queue"
	// ErrorKindSpec: a workload's annotations do not parse.
	ErrorKindSpec = "spec"
	// ErrorKindCPU: the resource metrics API could not be read.
	ErrorKindCPU = "cpu"
	// ErrorKindApply: setting the replicas through the scale subresource
	// failed.
	ErrorKindApply = "apply"
	// ErrorKindState: writing the decision and state annotations failed.
	ErrorKindState = "state"
	ErrorKindOther = "other"
)

var errorKinds = []string{ErrorKindBroker, ErrorKindQueue, ErrorKindSpec, ErrorKindCPU, ErrorKindApply, ErrorKindState, ErrorKindOther}

// Broker request error reasons, the reason label of
// rabbitscale_broker_request_errors_total, from the queue package's
// sentinels.
const (
	ReasonUnavailable     = "unavailable"
	ReasonUnauthorized    = "unauthorized"
	ReasonInvalidResponse = "invalid_response"
	ReasonOther           = "other"
)

// Signals, the signal label of rabbitscale_workload_signal_recommendation_replicas.
const (
	SignalDepth = "depth"
	SignalRate  = "rate"
	SignalCPU   = "cpu"
	SignalWait  = "wait"
)

// workloadLabels identify a workload; every per-workload series has them.
var workloadLabels = []string{"kind", "namespace", "workload"}

// queueLabels add the workload's broker and queue selection (a queue name,
// a comma-separated list, or a pattern) to the series read from the broker.
var queueLabels = []string{"kind", "namespace", "workload", "broker", "queue"}

// Collectors are the controller's Prometheus collectors. Their methods are safe
// for concurrent use. A nil *Collectors ignores every call, so that code
// without metrics need not test for it.
type Collectors struct {
	workloads *workloadCollector
	errs      *prometheus.CounterVec
	tick      prometheus.Histogram
	apply     prometheus.Histogram

	brokerLatency *prometheus.HistogramVec
	brokerErrors  *prometheus.CounterVec
	brokerUp      *prometheus.GaugeVec
	freshLatency  *prometheus.HistogramVec
	freshErrors   *prometheus.CounterVec
	lastTick      prometheus.Gauge
}

// NewCollectors creates the controller's collectors and registers them with
// reg (nil registers nothing). Like promauto, it panics when reg already
// holds collectors of the same names: registration happens once at start.
// Go and process collectors are not included; NewRegistry adds them.
func NewCollectors(reg prometheus.Registerer) *Collectors {
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	c := &Collectors{
		workloads: newWorkloadCollector(),
		errs:      counter("errors_total", "Errors of the controller, by kind (broker, queue, spec, cpu, apply, state, other).", []string{"kind"}),
		tick: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "tick_duration_seconds",
			Help: "Time one tick takes: every broker read, every decision and every apply.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "apply_duration_seconds",
			Help: "Time to set one workload's replicas through the scale subresource.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		brokerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "broker_request_duration_seconds",
			Help: "Time one broker read takes (all its pages or declares), successful or not.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"broker"}),
		brokerErrors: counter("broker_request_errors_total", "Failed broker reads, by reason (unavailable, unauthorized, invalid_response, other).", []string{"broker", "reason"}),
		brokerUp:     gauge("broker_up", "1 when the last read of the broker succeeded.", []string{"broker"}),
		freshLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "fresh_read_duration_seconds",
			Help: "Time one fresh read takes (the AMQP passive declares of the queues of workloads at zero replicas), successful or not.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"broker"}),
		freshErrors: counter("fresh_read_errors_total", "Failed fresh reads, by reason (unavailable, unauthorized, invalid_response, other); the statistics figures stand in.", []string{"broker", "reason"}),
		lastTick: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "last_tick_timestamp_seconds",
			Help: "Unix time at which the last tick finished."}),
	}
	for _, k := range errorKinds {
		c.errs.WithLabelValues(k) // every kind exported from the start, so that rate() sees the first error
	}
	if reg != nil {
		reg.MustRegister(c.collectors()...)
	}
	return c
}

func (c *Collectors) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		c.workloads, c.errs, c.tick, c.apply, c.brokerLatency, c.brokerErrors, c.brokerUp, c.freshLatency, c.freshErrors, c.lastTick,
	}
}

// NewRegistry returns a registry holding the Go and process collectors, for
// NewCollectors and Handler.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics in the Prometheus exposition formats, for
// /metrics.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// ObserveWorkload records one workload's decision: what the controller saw
// (obs), what it chose and why (d), and its bounds (spec). broker and
// queueSel are the workload's broker name and queue selection as the
// annotations give them (a name, a comma-separated list or a pattern):
// bounded by the workloads, never by message or reason text. It counts the
// decision by its driver and by every limit that clipped it; it does not
// count a scale event (ObserveScale does, once the change is applied).
func (c *Collectors) ObserveWorkload(kind, namespace, name, broker, queueSel string, obs policy.Observation, d policy.Decision, spec policy.Spec) {
	if c == nil {
		return
	}
	c.workloads.observe(workloadKey{kind, namespace, name}, broker, queueSel, obs, d, spec)
}

// ObserveScale counts one applied replica change: direction is DirectionUp
// or DirectionDown, drivenBy the decision's DrivenBy.
func (c *Collectors) ObserveScale(kind, namespace, name, direction string, drivenBy policy.Driver) {
	if c == nil {
		return
	}
	c.workloads.scaled(workloadKey{kind, namespace, name}, direction, drivenBy)
}

// Direction returns DirectionUp or DirectionDown for a change from current
// to desired replicas, and "" when they are equal.
func Direction(current, desired int32) string {
	switch {
	case desired > current:
		return DirectionUp
	case desired < current:
		return DirectionDown
	}
	return ""
}

// ObserveError counts one error of the given kind (an ErrorKind* constant;
// anything else counts as ErrorKindOther).
func (c *Collectors) ObserveError(kind string) {
	if c == nil {
		return
	}
	for _, k := range errorKinds {
		if k == kind {
			c.errs.WithLabelValues(k).Inc()
			return
		}
	}
	c.errs.WithLabelValues(ErrorKindOther).Inc()
}

// ObserveTick records the duration of one tick and that it finished at
// end.
func (c *Collectors) ObserveTick(d time.Duration, end time.Time) {
	if c == nil {
		return
	}
	c.tick.Observe(d.Seconds())
	c.lastTick.Set(float64(end.UnixNano()) / 1e9)
}

// ObserveBrokerRequest records one read of a broker (Reader.Snapshot): its
// latency, whether the broker is up, and for a failure its reason, taken
// from the queue package's sentinels. Only the broker's configured name
// becomes a label, never its URL.
func (c *Collectors) ObserveBrokerRequest(broker string, d time.Duration, err error) {
	if c == nil {
		return
	}
	c.brokerLatency.WithLabelValues(broker).Observe(d.Seconds())
	if err == nil {
		c.brokerUp.WithLabelValues(broker).Set(1)
		return
	}
	c.brokerUp.WithLabelValues(broker).Set(0)
	c.brokerErrors.WithLabelValues(broker, reason(err)).Inc()
}

// ObserveFreshRead records one fresh read of a broker (the AMQP passive
// declares that wake workloads at zero between statistics samples): its
// latency and, for a failure, its reason. A failed fresh read leaves the
// broker up: its statistics figures stand in.
func (c *Collectors) ObserveFreshRead(broker string, d time.Duration, err error) {
	if c == nil {
		return
	}
	c.freshLatency.WithLabelValues(broker).Observe(d.Seconds())
	if err != nil {
		c.freshErrors.WithLabelValues(broker, reason(err)).Inc()
	}
}

func reason(err error) string {
	switch {
	case errors.Is(err, queue.ErrUnauthorized):
		return ReasonUnauthorized
	case errors.Is(err, queue.ErrBrokerUnavailable):
		return ReasonUnavailable
	case errors.Is(err, queue.ErrInvalidResponse):
		return ReasonInvalidResponse
	}
	return ReasonOther
}

// ObserveApply records the duration of one scale subresource update.
func (c *Collectors) ObserveApply(d time.Duration) {
	if c == nil {
		return
	}
	c.apply.Observe(d.Seconds())
}

// ObserveAnnotationsInvalid records that a workload's annotations do not
// parse, so that it is not scaled: rabbitscale_workload_annotations_invalid
// is 1 for it, and its other series go (there is no decision to show). The
// gauge stays until ObserveWorkload (the annotations parse again) or
// ForgetWorkload (the workload is gone, or no longer configured).
func (c *Collectors) ObserveAnnotationsInvalid(kind, namespace, name string) {
	if c == nil {
		return
	}
	c.workloads.markInvalid(workloadKey{kind, namespace, name})
}

// ForgetWorkload deletes every series of a workload that is gone or no
// longer configured for rabbitscale, rabbitscale_workload_annotations_invalid
// included.
func (c *Collectors) ForgetWorkload(kind, namespace, name string) {
	if c == nil {
		return
	}
	c.workloads.forget(workloadKey{kind, namespace, name})
}

// ForgetBroker deletes the series of a broker that left the configuration.
func (c *Collectors) ForgetBroker(broker string) {
	if c == nil {
		return
	}
	match := prometheus.Labels{"broker": broker}
	c.brokerLatency.DeletePartialMatch(match)
	c.brokerErrors.DeletePartialMatch(match)
	c.brokerUp.DeletePartialMatch(match)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
