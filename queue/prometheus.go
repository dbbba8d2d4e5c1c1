package queue

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Metric families of rabbitmq_prometheus's /metrics/detailed endpoint.
//
// Depth and consumers come from queue_coarse_metrics and
// queue_consumer_count on every version. The counters differ:
//
//   - RabbitMQ 3.x (checked on 3.10.8) has them per channel only:
//     channel_queue_exchange_metrics (rabbitmq_detailed_queue_messages_published_total,
//     labels channel, queue_vhost, queue, exchange_vhost, exchange) and
//     channel_queue_metrics (rabbitmq_detailed_channel_messages_{delivered,delivered_ack,acked}_total
//     and channel_get{,_ack}_total, labels channel, vhost, queue). A series
//     disappears when its channel closes.
//   - RabbitMQ 4.0 added per-queue families, queue_delivery_metrics and
//     queue_exchange_metrics, summed over the live channels at scrape time
//     (so they too drop when a channel closes).
//
// Either way the source keeps its own monotonic per-queue counters: each
// series contributes its increase since the previous scrape; a series seen
// for the first time contributes its whole value (it started after the
// previous scrape, or this is the first one); a series that went down
// contributes its new value if it is per channel (the queue was re-created
// under a live channel) and nothing if it is a per-queue sum (a channel
// closed). Counters read this way start at the broker's totals for the live
// channels at the first read, and never go backwards.
const (
	famCoarse          = "queue_coarse_metrics"
	famConsumers       = "queue_consumer_count"
	famChannelQueue    = "channel_queue_metrics"
	famChannelQueueExc = "channel_queue_exchange_metrics"
	famQueueDelivery   = "queue_delivery_metrics"
	famQueueExchange   = "queue_exchange_metrics"

	metricReady     = "rabbitmq_detailed_queue_messages_ready"
	metricUnacked   = "rabbitmq_detailed_queue_messages_unacked"
	metricConsumers = "rabbitmq_detailed_queue_consumers"
	metricBuildInfo = "rabbitmq_build_info"
)

type counterKind int

const (
	kindPublish counterKind = iota
	kindDeliver
	kindAck
)

// counterMetrics maps each counter metric to what it counts and whether it
// is per channel.
var counterMetrics = map[string]struct {
	kind       counterKind
	perChannel bool
}{
	// RabbitMQ 3.x, per channel.
	"rabbitmq_detailed_queue_messages_published_total":       {kindPublish, true},
	"rabbitmq_detailed_channel_messages_delivered_ack_total": {kindDeliver, true},
	"rabbitmq_detailed_channel_messages_delivered_total":     {kindDeliver, true},
	"rabbitmq_detailed_channel_get_ack_total":                {kindDeliver, true},
	"rabbitmq_detailed_channel_get_total":                    {kindDeliver, true},
	"rabbitmq_detailed_channel_messages_acked_total":         {kindAck, true},
	// RabbitMQ 4.x, per queue.
	"rabbitmq_detailed_queue_exchange_messages_published_total": {kindPublish, false},
	"rabbitmq_detailed_queue_messages_delivered_ack_total":      {kindDeliver, false},
	"rabbitmq_detailed_queue_messages_delivered_total":          {kindDeliver, false},
	"rabbitmq_detailed_queue_get_ack_total":                     {kindDeliver, false},
	"rabbitmq_detailed_queue_get_total":                         {kindDeliver, false},
	"rabbitmq_detailed_queue_messages_acked_total":              {kindAck, false},
}

// PrometheusSource reads the rabbitmq_prometheus endpoint of every node,
// one GET /metrics/detailed per node per read. That endpoint reports only
// its own node's queues, so a cluster needs every node's URL; one node
// failing fails the read (its queues would otherwise look deleted).
type PrometheusSource struct {
	name      string
	urls      []*url.URL
	http      httpEndpoint
	creds     credentialFunc
	clock     clock.PassiveClock
	maxVhosts int

	mu           sync.Mutex // one read at a time: the counter state below
	nodes        []promNode
	totals       map[QueueKey]*[3]float64
	countersSeen bool
}

var _ Source = (*PrometheusSource)(nil)

// promNode is what the source remembers of one node between reads.
type promNode struct {
	// perQueue is true once the node said it runs RabbitMQ 4 or later.
	perQueue, versionKnown bool
	last                   map[string]float64
}

// NewPrometheusSource returns a source for cfg.PrometheusURLs. Credentials,
// when configured, are sent as basic auth.
func NewPrometheusSource(cfg BrokerConfig, clk clock.PassiveClock) (*PrometheusSource, error) {
	cfg.Default() // a copy: unset fields get their defaults
	if len(cfg.PrometheusURLs) == 0 {
		return nil, fmt.Errorf("%w: broker %q: prometheusURLs is empty", ErrInvalidConfig, cfg.Name)
	}
	var urls []*url.URL
	for i, raw := range cfg.PrometheusURLs {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil {
			return nil, fmt.Errorf("%w: broker %q: prometheusURLs[%d] is not a URL", ErrInvalidConfig, cfg.Name, i)
		}
		u.User = nil
		urls = append(urls, u)
	}
	tlsCfg, err := cfg.TLS.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("broker %q: %w", cfg.Name, err)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &PrometheusSource{
		name:      cfg.Name,
		urls:      urls,
		http:      httpEndpoint{broker: cfg.Name, client: newHTTPClient(tlsCfg, 1), timeout: cfg.Timeout.Duration, maxBody: defaultMaxBody},
		creds:     cfg.Credentials.resolver(),
		clock:     clk,
		maxVhosts: cfg.MaxVhostRequests,
		nodes:     make([]promNode, len(urls)),
		totals:    map[QueueKey]*[3]float64{},
	}, nil
}

// Close closes idle connections.
func (p *PrometheusSource) Close() error {
	p.http.client.CloseIdleConnections()
	return nil
}

// nodeRead is one node's parsed answer.
type nodeRead struct {
	at       time.Time
	families map[string]*dto.MetricFamily
}

// Snapshot scrapes every node and merges their queues.
func (p *PrometheusSource) Snapshot(ctx context.Context, scope Scope) (*Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	up, ok, err := p.creds()
	if err != nil {
		return nil, &BrokerError{Broker: p.name, Op: "reading credentials", Kind: ErrInvalidConfig, Err: err}
	}
	var auth *userPass
	if ok {
		auth = &up
	}
	vhosts := scope.vhostSet()
	cov := Coverage{Listed: true}
	if len(vhosts) > 0 && len(vhosts) <= p.maxVhosts {
		cov.Vhosts = vhosts
	}

	reads := make([]nodeRead, len(p.urls))
	for i, base := range p.urls {
		u := p.scrapeURL(base, i, cov.Vhosts)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		err := p.http.get(ctx, u, "GET "+displayURL(u), auth, "text/plain;version=0.0.4", func(r io.Reader) error {
			fams, err := parser.TextToMetricFamilies(r)
			reads[i].families = fams
			return err
		})
		if err != nil {
			return nil, err
		}
		reads[i].at = p.clock.Now()
	}

	// All nodes answered: only now touch the counter state.
	snap := NewSnapshot(p.name, SourcePrometheus, p.clock.Now(), cov)
	snap.Requests = len(p.urls)
	stats := map[QueueKey]*QueueStats{}
	var invalid error
	for _, rd := range reads {
		gauge := func(name string, set func(*QueueStats, int64)) {
			for _, m := range rd.families[name].GetMetric() {
				k, ok := queueOf(m)
				if !ok {
					continue
				}
				v := sampleValue(m)
				if err := checkSample(name, v); err != nil {
					invalid = lesserErr(invalid, fmt.Errorf("queue %s: %w", k, err))
					continue
				}
				st := stats[k]
				if st == nil {
					st = &QueueStats{UnackedAvailable: true, SampleTime: rd.at}
					stats[k] = st
				}
				set(st, int64(math.Round(v)))
			}
		}
		// A queue is reported by the node that hosts it; should two nodes
		// report one, the larger figure wins rather than a double count.
		gauge(metricReady, func(s *QueueStats, v int64) { s.Ready = max(s.Ready, v) })
		gauge(metricUnacked, func(s *QueueStats, v int64) { s.Unacked = max(s.Unacked, v) })
		gauge(metricConsumers, func(s *QueueStats, v int64) { s.Consumers = max(s.Consumers, v) })
	}
	// Counters are checked before any of them touches the counter state.
	for _, rd := range reads {
		for name, fam := range rd.families {
			if _, ok := counterMetrics[name]; !ok {
				continue
			}
			for _, m := range fam.GetMetric() {
				if k, ok := queueOf(m); ok {
					if err := checkSample(name, sampleValue(m)); err != nil {
						invalid = lesserErr(invalid, fmt.Errorf("queue %s: %w", k, err))
					}
				}
			}
		}
	}
	if invalid != nil {
		return nil, &BrokerError{Broker: p.name, Op: "GET " + displayURL(p.urls[0].JoinPath("metrics", "detailed")), Kind: ErrInvalidResponse, Err: invalid}
	}

	totals := make(map[QueueKey]*[3]float64, len(stats))
	for k := range stats {
		t := p.totals[k]
		if t == nil {
			t = new([3]float64)
		}
		totals[k] = t
	}
	for i, rd := range reads {
		node := &p.nodes[i]
		if v, ok := rabbitVersion(rd.families); ok {
			node.versionKnown, node.perQueue = true, v >= 4
		}
		next := map[string]float64{}
		for name, fam := range rd.families {
			cm, ok := counterMetrics[name]
			if !ok || cm.perChannel == node.perQueue {
				continue
			}
			for _, m := range fam.GetMetric() {
				k, ok := queueOf(m)
				if !ok {
					continue
				}
				p.countersSeen = true
				v := sampleValue(m)
				id := seriesID(name, m)
				next[id] = v
				t := totals[k]
				if t == nil {
					continue // no depth figures for it: not a queue of this read
				}
				prev, seen := node.last[id]
				var inc float64
				switch {
				case !seen:
					inc = v
				case v >= prev:
					inc = v - prev
				case cm.perChannel:
					inc = v
				}
				t[cm.kind] += inc
			}
		}
		node.last = next
	}
	p.totals = totals

	for k, st := range stats {
		t := totals[k]
		st.CountersAvailable = p.countersSeen
		st.Counters = Counters{Publish: int64(math.Round(t[kindPublish])), Deliver: int64(math.Round(t[kindDeliver])), Ack: int64(math.Round(t[kindAck]))}
		snap.Set(k, *st)
	}
	klog.FromContext(ctx).V(4).Info("Read Prometheus endpoint", "broker", p.name, "queues", snap.Len(), "requests", snap.Requests)
	return snap, nil
}

// scrapeURL asks for the queue families and the counter families the node
// is known (or not yet known) to have, filtered by vhost when given.
func (p *PrometheusSource) scrapeURL(base *url.URL, node int, vhosts []string) *url.URL {
	fams := []string{famCoarse, famConsumers}
	n := p.nodes[node]
	if !n.versionKnown || !n.perQueue {
		fams = append(fams, famChannelQueue, famChannelQueueExc)
	}
	if !n.versionKnown || n.perQueue {
		fams = append(fams, famQueueDelivery, famQueueExchange)
	}
	q := url.Values{"family": fams}
	if len(vhosts) > 0 {
		q["vhost"] = vhosts
	}
	u := base.JoinPath("metrics", "detailed")
	u.RawQuery = q.Encode()
	return u
}

func queueOf(m *dto.Metric) (QueueKey, bool) {
	var k QueueKey
	var vhost, queueVhost string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "queue":
			k.Name = l.GetValue()
		case "vhost":
			vhost = l.GetValue()
		case "queue_vhost":
			queueVhost = l.GetValue()
		}
	}
	k.Vhost = vhost
	if queueVhost != "" {
		k.Vhost = queueVhost
	}
	return k, k.Name != "" && k.Vhost != ""
}

func sampleValue(m *dto.Metric) float64 {
	var v float64
	switch {
	case m.Counter != nil:
		v = m.GetCounter().GetValue()
	case m.Gauge != nil:
		v = m.GetGauge().GetValue()
	case m.Untyped != nil:
		v = m.GetUntyped().GetValue()
	}
	return v
}

// seriesID identifies a series by metric name and its sorted labels.
func seriesID(name string, m *dto.Metric) string {
	labels := m.GetLabel()
	pairs := make([]string, 0, len(labels))
	for _, l := range labels {
		pairs = append(pairs, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// rabbitVersion reads the major version from rabbitmq_build_info.
func rabbitVersion(fams map[string]*dto.MetricFamily) (int, bool) {
	for _, m := range fams[metricBuildInfo].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() != "rabbitmq_version" {
				continue
			}
			major, _, _ := strings.Cut(l.GetValue(), ".")
			if v, err := strconv.Atoi(major); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// lesserErr keeps, of two errors, the one whose text sorts first, so that a
// read with several bad figures names the same one every time whatever the
// order in which they were met.
func lesserErr(cur, next error) error {
	if cur == nil || next.Error() < cur.Error() {
		return next
	}
	return cur
}
