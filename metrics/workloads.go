package metrics

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rabbitscale/rabbitscale/policy"
)

type workloadKey struct{ kind, namespace, name string }

// workloadCollector holds the per-workload series as one small record per
// workload and writes them out only when scraped. Metric vectors would keep
// every series' label pairs alive between scrapes: at 1,000 workloads and
// about 35 series each, that was 19 MiB of the controller's 30 MiB heap.
// A workload's series change with its record (a new queue selection
// replaces the old queue's series) and go with it (forget).
type workloadCollector struct {
	mu   sync.Mutex
	recs map[workloadKey]*workloadRecord
	// invalid holds the workloads whose annotations do not parse: they
	// have no record (no decision), only rabbitscale_workload_annotations_invalid.
	invalid map[workloadKey]bool
}

// workloadRecord is what the last decision of one workload showed, and its
// counters.
type workloadRecord struct {
	broker, queue string

	queueAvailable, ratesAvailable bool
	ready, unacked, consumers      float64 // when queueAvailable
	arrival, processing            float64 // when ratesAvailable
	perPodRate                     float64 // when > 0
	signals                        [len(signalNames)]float64
	hasSignal                      [len(signalNames)]bool
	recommendation, desired        float64
	current, minRep, maxRep        float64
	paused, dryRun                 bool

	decisions   map[policy.Driver]float64
	clipped     map[policy.LimitKind]float64
	scaleEvents [2][len(scalingDrivers)]float64 // [DirectionUp, DirectionDown][driver]
}

var signalNames = [...]string{SignalDepth, SignalRate, SignalCPU, SignalWait}

// scalingDrivers are the drivers that can change replicas (hold cannot).
var scalingDrivers = [...]policy.Driver{policy.DrivenByDepth, policy.DrivenByRate, policy.DrivenByCPU,
	policy.DrivenByWait, policy.DrivenByFallback, policy.DrivenByIdle, policy.DrivenByActivation}

var directions = [...]string{DirectionUp, DirectionDown}

// Descriptions of the per-workload series.
var (
	descReady = workloadDesc("workload_queue_messages_ready",
		"Messages ready for delivery in the workload's queues, summed.", queueLabels)
	descUnacked = workloadDesc("workload_queue_messages_unacked",
		"Messages delivered and not yet acknowledged in the workload's queues, summed.", queueLabels)
	descConsumers = workloadDesc("workload_queue_consumers",
		"Consumers on the workload's queues, summed.", queueLabels)
	descArrival = workloadDesc("workload_arrival_rate_messages_per_second",
		"Messages published into the workload's queues per second, computed from the broker's counters.", queueLabels)
	descProcessing = workloadDesc("workload_processing_rate_messages_per_second",
		"Messages the workload's consumers acknowledge (or receive, with auto-ack) per second.", queueLabels)
	descQueueAvailable = workloadDesc("workload_queue_available",
		"1 when the workload's queues could be read this tick, 0 when the controller holds or falls back.", queueLabels)
	descRatesAvailable = workloadDesc("workload_rates_available",
		"1 when arrival and processing rates could be computed this tick.", queueLabels)
	descPerPodRate = workloadDesc("workload_per_pod_rate_messages_per_second",
		"Messages per second one pod processes: the learned rate, or the per-pod-rate annotation (raised while the pods it plans keep up) until one is learned. Absent when no rule that uses it (rate floor, rate or wait signal) knows one.", workloadLabels)
	descSignal = workloadDesc("workload_signal_recommendation_replicas",
		"Replicas each enabled signal with data asks for, before tolerance, cooldowns, steps and bounds.", withLabels("signal"))
	descRecommendation = workloadDesc("workload_recommendation_replicas",
		"Combined recommendation of the signals before cooldowns, steps and bounds.", workloadLabels)
	descDesired = workloadDesc("workload_desired_replicas",
		"Replicas the last decision chose (what would be applied when paused or in dry-run).", workloadLabels)
	descCurrent = workloadDesc("workload_current_replicas",
		"Replicas the workload had when the last decision was made.", workloadLabels)
	descMinReplicas = workloadDesc("workload_min_replicas", "The workload's min-replicas annotation.", workloadLabels)
	descMaxReplicas = workloadDesc("workload_max_replicas", "The workload's max-replicas annotation.", workloadLabels)
	descPaused      = workloadDesc("workload_paused", "1 when the workload's paused annotation is true.", workloadLabels)
	descDryRun      = workloadDesc("workload_dry_run", "1 when the workload is in dry-run (annotation or controller flag).", workloadLabels)
	descDecisions   = workloadDesc("decisions_total",
		"Decisions made, by what drove the recommendation (depth, rate, wait, cpu, hold, fallback, idle, activation).", withLabels("driven_by"))
	descClipped = workloadDesc("decisions_clipped_total",
		"Decisions a limit moved away from what the signals asked for, by limit kind.", withLabels("limit"))
	descScaleEvents = workloadDesc("scale_events_total",
		"Replica changes applied, by direction and by what drove the decision.", withLabels("direction", "driven_by"))
	descAnnotationsInvalid = workloadDesc("workload_annotations_invalid",
		"1 while the workload's rabbitscale.io/ annotations do not parse and it is not scaled; absent otherwise.", workloadLabels)
)

var workloadDescs = []*prometheus.Desc{
	descReady, descUnacked, descConsumers, descArrival, descProcessing, descQueueAvailable, descRatesAvailable,
	descPerPodRate, descSignal, descRecommendation, descDesired, descCurrent, descMinReplicas, descMaxReplicas,
	descPaused, descDryRun, descDecisions, descClipped, descScaleEvents, descAnnotationsInvalid,
}

func workloadDesc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

func withLabels(extra ...string) []string {
	return append(slices.Clone(workloadLabels), extra...)
}

func newWorkloadCollector() *workloadCollector {
	return &workloadCollector{recs: map[workloadKey]*workloadRecord{}, invalid: map[workloadKey]bool{}}
}

// observe records one decision of workload k.
func (wc *workloadCollector) observe(k workloadKey, broker, queueSel string, obs policy.Observation, d policy.Decision, spec policy.Spec) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	delete(wc.invalid, k) // decided: its annotations parse
	r := wc.recs[k]
	if r == nil {
		// The scale event counters start at 0 (scaleEvents is exported
		// in full): increase() over a series whose first sample is
		// already 1 is 0, so the first scale-up of a workload would never
		// show on a dashboard or in an alert.
		r = &workloadRecord{decisions: map[policy.Driver]float64{}, clipped: map[policy.LimitKind]float64{}}
		wc.recs[k] = r
	}
	r.broker, r.queue = broker, queueSel

	q := obs.Queue
	r.queueAvailable = q.Available
	r.ratesAvailable = q.Available && q.RatesAvailable
	r.ready, r.unacked, r.consumers = float64(q.Ready), float64(q.Unacked), float64(q.Consumers)
	r.arrival, r.processing = q.PublishRate, q.AckRate
	if r.processing == 0 {
		r.processing = q.DeliverRate // auto-ack consumers never ack
	}
	r.perPodRate = d.PerPodRate // 0 when no rule that uses it knows one
	for i, s := range [...]policy.Signal{d.Signals.Depth, d.Signals.Rate, d.Signals.CPU, d.Signals.Wait} {
		r.signals[i], r.hasSignal[i] = float64(s.Recommendation), s.Enabled && s.Available
	}
	r.recommendation, r.desired, r.current = float64(d.Recommendation), float64(d.Desired), float64(d.Current)
	r.minRep, r.maxRep = float64(spec.MinReplicas), float64(spec.MaxReplicas)
	r.paused, r.dryRun = spec.Paused, spec.DryRun || d.Limited(policy.LimitDryRun)

	r.decisions[d.DrivenBy]++
	for i, l := range d.Limits {
		if !slices.ContainsFunc(d.Limits[:i], func(o policy.Limit) bool { return o.Kind == l.Kind }) {
			r.clipped[l.Kind]++ // once per decision, however often the kind applied
		}
	}
}

// scaled counts one applied change of workload k. A workload not observed
// yet, a direction or a driver that cannot scale count nothing.
func (wc *workloadCollector) scaled(k workloadKey, direction string, by policy.Driver) {
	dir := slices.Index(directions[:], direction)
	drv := slices.Index(scalingDrivers[:], by)
	if dir < 0 || drv < 0 {
		return
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if r := wc.recs[k]; r != nil {
		r.scaleEvents[dir][drv]++
	}
}

func (wc *workloadCollector) forget(k workloadKey) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	delete(wc.recs, k)
	delete(wc.invalid, k)
}

// markInvalid records that k's annotations do not parse: its decision
// series go (they would show the last decision frozen), and
// rabbitscale_workload_annotations_invalid stays until k is decided again
// or forgotten.
func (wc *workloadCollector) markInvalid(k workloadKey) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	delete(wc.recs, k)
	wc.invalid[k] = true
}

// Describe implements prometheus.Collector.
func (wc *workloadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range workloadDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A value that is not known
// (queue unreadable, rates not computed, signal off) is left out rather
// than written as 0: a dashboard must not draw an outage as an empty queue.
func (wc *workloadCollector) Collect(ch chan<- prometheus.Metric) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	for k := range wc.invalid {
		gauge(descAnnotationsInvalid, 1, k.kind, k.namespace, k.name)
	}
	for k, r := range wc.recs {
		ql := []string{k.kind, k.namespace, k.name, r.broker, r.queue}
		gauge(descQueueAvailable, boolValue(r.queueAvailable), ql...)
		gauge(descRatesAvailable, boolValue(r.ratesAvailable), ql...)
		if r.queueAvailable {
			gauge(descReady, r.ready, ql...)
			gauge(descUnacked, r.unacked, ql...)
			gauge(descConsumers, r.consumers, ql...)
		}
		if r.ratesAvailable {
			gauge(descArrival, r.arrival, ql...)
			gauge(descProcessing, r.processing, ql...)
		}

		wl := ql[:3]
		if r.perPodRate > 0 {
			gauge(descPerPodRate, r.perPodRate, wl...)
		}
		for i, name := range signalNames {
			if r.hasSignal[i] {
				gauge(descSignal, r.signals[i], k.kind, k.namespace, k.name, name)
			}
		}
		gauge(descRecommendation, r.recommendation, wl...)
		gauge(descDesired, r.desired, wl...)
		gauge(descCurrent, r.current, wl...)
		gauge(descMinReplicas, r.minRep, wl...)
		gauge(descMaxReplicas, r.maxRep, wl...)
		gauge(descPaused, boolValue(r.paused), wl...)
		gauge(descDryRun, boolValue(r.dryRun), wl...)

		for by, n := range r.decisions {
			counter(descDecisions, n, k.kind, k.namespace, k.name, string(by))
		}
		for kind, n := range r.clipped {
			counter(descClipped, n, k.kind, k.namespace, k.name, string(kind))
		}
		for i, dir := range directions {
			for j, by := range scalingDrivers {
				counter(descScaleEvents, r.scaleEvents[i][j], k.kind, k.namespace, k.name, dir, string(by))
			}
		}
	}
}
