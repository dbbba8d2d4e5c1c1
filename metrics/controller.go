package metrics

import (
	"errors"
	"net/http"
	"strings"
	"sync"
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
)

// workloadLabels identify a workload; every per-workload series has them.
var workloadLabels = []string{"kind", "namespace", "workload"}

// queueLabels add the workload's broker and queue selection (a queue name,
// a comma-separated list, or a pattern) to the series read from the broker.
var queueLabels = []string{"kind", "namespace", "workload", "broker", "queue"}

// Controller holds the collectors of the controller. Its methods are safe
// for concurrent use. A nil *Controller ignores every call, so that code
// without metrics need not test for it.
type Controller struct {
	ready, unacked, consumers        *prometheus.GaugeVec
	arrival, processing, perPodRate  *prometheus.GaugeVec
	queueAvailable, ratesAvailable   *prometheus.GaugeVec
	signal, recommendation           *prometheus.GaugeVec
	desired, current, minRep, maxRep *prometheus.GaugeVec
	paused, dryRun                   *prometheus.GaugeVec
	decisions, clipped, scaleEvents  *prometheus.CounterVec
	errs                             *prometheus.CounterVec
	tick, apply                      prometheus.Histogram
	brokerLatency                    *prometheus.HistogramVec
	brokerErrors                     *prometheus.CounterVec
	brokerUp                         *prometheus.GaugeVec
	lastTick                         prometheus.Gauge

	// workloadVecs are the vectors with workload labels, for ForgetWorkload.
	workloadVecs []*prometheus.MetricVec

	mu sync.Mutex
	// queueOf remembers each workload's queue labels, so that a changed
	// selection does not leave the old series behind.
	queueOf map[workloadKey]queueRef
}

type workloadKey struct{ kind, namespace, name string }
type queueRef struct{ broker, queue string }

// NewController creates the controller's collectors and registers them with
// reg (nil registers nothing). Like promauto, it panics when reg already
// holds collectors of the same names: registration happens once at start.
// Go and process collectors are not included; NewRegistry adds them.
func NewController(reg prometheus.Registerer) *Controller {
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	with := func(extra ...string) []string { return append(append([]string(nil), workloadLabels...), extra...) }

	c := &Controller{
		ready:          gauge("workload_queue_messages_ready", "Messages ready for delivery in the workload's queues, summed.", queueLabels),
		unacked:        gauge("workload_queue_messages_unacked", "Messages delivered and not yet acknowledged in the workload's queues, summed.", queueLabels),
		consumers:      gauge("workload_queue_consumers", "Consumers on the workload's queues, summed.", queueLabels),
		arrival:        gauge("workload_arrival_rate_messages_per_second", "Messages published into the workload's queues per second, computed from the broker's counters.", queueLabels),
		processing:     gauge("workload_processing_rate_messages_per_second", "Messages the workload's consumers acknowledge (or receive, with auto-ack) per second.", queueLabels),
		perPodRate:     gauge("workload_per_pod_rate_messages_per_second", "Messages per second one pod processes: the learned rate, or the per-pod-rate annotation until one is learned. Absent when the rate signal is off.", workloadLabels),
		queueAvailable: gauge("workload_queue_available", "1 when the workload's queues could be read this tick, 0 when the controller holds or falls back.", queueLabels),
		ratesAvailable: gauge("workload_rates_available", "1 when arrival and processing rates could be computed this tick.", queueLabels),
		signal:         gauge("workload_signal_recommendation_replicas", "Replicas each enabled signal with data asks for, before tolerance, cooldowns, steps and bounds.", with("signal")),
		recommendation: gauge("workload_recommendation_replicas", "Combined recommendation of the signals before cooldowns, steps and bounds.", workloadLabels),
		desired:        gauge("workload_desired_replicas", "Replicas the last decision chose (what would be applied when paused or in dry-run).", workloadLabels),
		current:        gauge("workload_current_replicas", "Replicas the workload had when the last decision was made.", workloadLabels),
		minRep:         gauge("workload_min_replicas", "The workload's min-replicas annotation.", workloadLabels),
		maxRep:         gauge("workload_max_replicas", "The workload's max-replicas annotation.", workloadLabels),
		paused:         gauge("workload_paused", "1 when the workload's paused annotation is true.", workloadLabels),
		dryRun:         gauge("workload_dry_run", "1 when the workload is in dry-run (annotation or controller flag).", workloadLabels),
		decisions:      counter("decisions_total", "Decisions made, by what drove the recommendation (depth, rate, cpu, hold, fallback, idle, activation).", with("driven_by")),
		clipped:        counter("decisions_clipped_total", "Decisions a limit moved away from what the signals asked for, by limit kind.", with("limit")),
		scaleEvents:    counter("scale_events_total", "Replica changes applied, by direction and by what drove the decision.", with("direction", "driven_by")),
		errs:           counter("errors_total", "Errors of the controller, by kind (broker, queue, spec, cpu, apply, state, other).", []string{"kind"}),
		tick: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "tick_duration_seconds",
			Help: "Time one tick takes: every broker read, every decision and every apply.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "apply_duration_seconds",
			Help: "Time to set one workload's replicas through the scale subresource.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		brokerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "broker_request_duration_seconds",
			Help: "Time one broker read takes (all its pages or declares), successful or not.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"broker"}),
		brokerErrors: counter("broker_request_errors_total", "Failed broker reads, by reason (unavailable, unauthorized, invalid_response, other).", []string{"broker", "reason"}),
		brokerUp:     gauge("broker_up", "1 when the last read of the broker succeeded.", []string{"broker"}),
		lastTick: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "last_tick_timestamp_seconds",
			Help: "Unix time at which the last tick finished."}),
		queueOf: map[workloadKey]queueRef{},
	}
	c.workloadVecs = []*prometheus.MetricVec{
		c.ready.MetricVec, c.unacked.MetricVec, c.consumers.MetricVec, c.arrival.MetricVec, c.processing.MetricVec,
		c.perPodRate.MetricVec, c.queueAvailable.MetricVec, c.ratesAvailable.MetricVec, c.signal.MetricVec,
		c.recommendation.MetricVec, c.desired.MetricVec, c.current.MetricVec, c.minRep.MetricVec, c.maxRep.MetricVec,
		c.paused.MetricVec, c.dryRun.MetricVec, c.decisions.MetricVec, c.clipped.MetricVec, c.scaleEvents.MetricVec,
	}
	for _, k := range errorKinds {
		c.errs.WithLabelValues(k) // every kind exported from the start, so that rate() sees the first error
	}
	if reg != nil {
		reg.MustRegister(c.collectors()...)
	}
	return c
}

func (c *Controller) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		c.ready, c.unacked, c.consumers, c.arrival, c.processing, c.perPodRate, c.queueAvailable, c.ratesAvailable,
		c.signal, c.recommendation, c.desired, c.current, c.minRep, c.maxRep, c.paused, c.dryRun,
		c.decisions, c.clipped, c.scaleEvents, c.errs, c.tick, c.apply, c.brokerLatency, c.brokerErrors, c.brokerUp, c.lastTick,
	}
}

// NewRegistry returns a registry holding the Go and process collectors, for
// NewController and Handler.
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
func (c *Controller) ObserveWorkload(kind, namespace, name, broker, queueSel string, obs policy.Observation, d policy.Decision, spec policy.Spec) {
	if c == nil {
		return
	}
	wk := workloadKey{kind, namespace, name}
	c.mu.Lock()
	old, known := c.queueOf[wk]
	if known && old != (queueRef{broker, queueSel}) {
		c.deleteQueueSeries(wk, old)
	}
	c.queueOf[wk] = queueRef{broker, queueSel}
	c.mu.Unlock()
	if !known {
		// Start the scale event counters at 0: increase() over a series
		// whose first sample is already 1 is 0, so the first scale-up of a
		// workload would never show on a dashboard or in an alert.
		for _, dir := range []string{DirectionUp, DirectionDown} {
			for _, by := range scalingDrivers {
				c.scaleEvents.WithLabelValues(kind, namespace, name, dir, string(by))
			}
		}
	}

	ql := []string{kind, namespace, name, broker, queueSel}
	q := obs.Queue
	c.queueAvailable.WithLabelValues(ql...).Set(boolValue(q.Available))
	c.ratesAvailable.WithLabelValues(ql...).Set(boolValue(q.Available && q.RatesAvailable))
	if q.Available {
		c.ready.WithLabelValues(ql...).Set(float64(q.Ready))
		c.unacked.WithLabelValues(ql...).Set(float64(q.Unacked))
		c.consumers.WithLabelValues(ql...).Set(float64(q.Consumers))
	} else {
		// A value that is not known is absent, not zero: a dashboard must
		// not draw an outage as an empty queue.
		c.ready.DeleteLabelValues(ql...)
		c.unacked.DeleteLabelValues(ql...)
		c.consumers.DeleteLabelValues(ql...)
	}
	if q.Available && q.RatesAvailable {
		c.arrival.WithLabelValues(ql...).Set(q.PublishRate)
		processed := q.AckRate
		if processed == 0 {
			processed = q.DeliverRate // auto-ack consumers never ack
		}
		c.processing.WithLabelValues(ql...).Set(processed)
	} else {
		c.arrival.DeleteLabelValues(ql...)
		c.processing.DeleteLabelValues(ql...)
	}

	wl := []string{kind, namespace, name}
	if rate := d.Signals.Rate; rate.Enabled && rate.Target > 0 {
		c.perPodRate.WithLabelValues(wl...).Set(rate.Target)
	} else {
		c.perPodRate.DeleteLabelValues(wl...)
	}
	for sig, s := range map[string]policy.Signal{SignalDepth: d.Signals.Depth, SignalRate: d.Signals.Rate, SignalCPU: d.Signals.CPU} {
		if s.Enabled && s.Available {
			c.signal.WithLabelValues(kind, namespace, name, sig).Set(float64(s.Recommendation))
		} else {
			c.signal.DeleteLabelValues(kind, namespace, name, sig)
		}
	}
	c.recommendation.WithLabelValues(wl...).Set(float64(d.Recommendation))
	c.desired.WithLabelValues(wl...).Set(float64(d.Desired))
	c.current.WithLabelValues(wl...).Set(float64(d.Current))
	c.minRep.WithLabelValues(wl...).Set(float64(spec.MinReplicas))
	c.maxRep.WithLabelValues(wl...).Set(float64(spec.MaxReplicas))
	c.paused.WithLabelValues(wl...).Set(boolValue(spec.Paused))
	c.dryRun.WithLabelValues(wl...).Set(boolValue(spec.DryRun || d.Limited(policy.LimitDryRun)))

	c.decisions.WithLabelValues(kind, namespace, name, string(d.DrivenBy)).Inc()
	seen := map[policy.LimitKind]bool{}
	for _, l := range d.Limits {
		if !seen[l.Kind] {
			seen[l.Kind] = true
			c.clipped.WithLabelValues(kind, namespace, name, string(l.Kind)).Inc()
		}
	}
}

// ObserveScale counts one applied replica change: direction is DirectionUp
// or DirectionDown, drivenBy the decision's DrivenBy.
func (c *Controller) ObserveScale(kind, namespace, name, direction string, drivenBy policy.Driver) {
	if c == nil {
		return
	}
	c.scaleEvents.WithLabelValues(kind, namespace, name, direction, string(drivenBy)).Inc()
}

// scalingDrivers are the drivers that can change replicas (hold cannot).
var scalingDrivers = []policy.Driver{policy.DrivenByDepth, policy.DrivenByRate, policy.DrivenByCPU,
	policy.DrivenByFallback, policy.DrivenByIdle, policy.DrivenByActivation}

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
func (c *Controller) ObserveError(kind string) {
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
func (c *Controller) ObserveTick(d time.Duration, end time.Time) {
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
func (c *Controller) ObserveBrokerRequest(broker string, d time.Duration, err error) {
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
func (c *Controller) ObserveApply(d time.Duration) {
	if c == nil {
		return
	}
	c.apply.Observe(d.Seconds())
}

// ForgetWorkload deletes every series of a workload that is gone or no
// longer configured for rabbitscale.
func (c *Controller) ForgetWorkload(kind, namespace, name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.queueOf, workloadKey{kind, namespace, name})
	c.mu.Unlock()
	match := prometheus.Labels{"kind": kind, "namespace": namespace, "workload": name}
	for _, v := range c.workloadVecs {
		v.DeletePartialMatch(match)
	}
}

// ForgetBroker deletes the series of a broker that left the configuration.
func (c *Controller) ForgetBroker(broker string) {
	if c == nil {
		return
	}
	match := prometheus.Labels{"broker": broker}
	c.brokerLatency.DeletePartialMatch(match)
	c.brokerErrors.DeletePartialMatch(match)
	c.brokerUp.DeletePartialMatch(match)
}

func (c *Controller) deleteQueueSeries(wk workloadKey, old queueRef) {
	lv := []string{wk.kind, wk.namespace, wk.name, old.broker, old.queue}
	for _, v := range []*prometheus.GaugeVec{c.ready, c.unacked, c.consumers, c.arrival, c.processing, c.queueAvailable, c.ratesAvailable} {
		v.DeleteLabelValues(lv...)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// QueueLabel is the queue label of a workload's series: its queue pattern,
// or its queue names joined with commas.
func QueueLabel(spec policy.Spec) string {
	if spec.QueuePattern != nil {
		return spec.QueuePattern.String()
	}
	return strings.Join(spec.Queues, ",")
}
