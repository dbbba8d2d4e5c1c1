package queue

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"
)

// promServer serves whatever body is current, and records the queries.
type promServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    string
	status  int
	queries []string
}

func newPromServer(t *testing.T, body string) *promServer {
	t.Helper()
	s := &promServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queries = append(s.queries, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *promServer) set(body string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

func (s *promServer) lastQuery() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[len(s.queries)-1]
}

func newTestPrometheus(t *testing.T, clk *testingclock.FakeClock, urls ...string) *PrometheusSource {
	t.Helper()
	bc := BrokerConfig{Name: "main", PrometheusURLs: urls, Timeout: Duration{time.Second}}
	bc.Default()
	p, err := NewPrometheusSource(bc, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func replaceAll(s string, oldNew ...string) string { return strings.NewReplacer(oldNew...).Replace(s) }

func queueStats(t *testing.T, snap *Snapshot) map[QueueKey]QueueStats {
	t.Helper()
	got := map[QueueKey]QueueStats{}
	for _, k := range snap.Keys() {
		q, err := snap.Queue(k)
		if err != nil {
			t.Fatal(err)
		}
		q.SampleTime, q.Rates = time.Time{}, Rates{}
		got[k] = q
	}
	return got
}

func TestPrometheusRecorded3108(t *testing.T) {
	srv := newPromServer(t, readTestdata(t, "prometheus-3.10.8.txt"))
	clk := testingclock.NewFakeClock(t0)
	p := newTestPrometheus(t, clk, srv.URL)
	var scope Scope
	scope.Add("v2", "orders")
	snap, err := p.Snapshot(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	want := map[QueueKey]QueueStats{
		{"v2", "orders"}: {Ready: 592, Unacked: 10, UnackedAvailable: true, Consumers: 1,
			Counters: Counters{Publish: 225, Deliver: 10, Ack: 0}, CountersAvailable: true},
		{"v2", "emails"}: {UnackedAvailable: true, Consumers: 1,
			Counters: Counters{Publish: 90, Deliver: 91, Ack: 91}, CountersAvailable: true},
		{"v2", "invoices"}: {UnackedAvailable: true, CountersAvailable: true},
		{"v2", "x"}:        {UnackedAvailable: true, CountersAvailable: true},
	}
	if diff := cmp.Diff(want, queueStats(t, snap)); diff != "" {
		t.Errorf("queues diff (-want +got):\n%s", diff)
	}
	if snap.Requests != 1 {
		t.Errorf("Requests = %d, want 1", snap.Requests)
	}
	wantFirst := "/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count&family=channel_queue_metrics" +
		"&family=channel_queue_exchange_metrics&family=queue_delivery_metrics&family=queue_exchange_metrics&vhost=v2"
	if got := srv.lastQuery(); got != wantFirst {
		t.Errorf("first query = %s\nwant %s", got, wantFirst)
	}
	if _, err := p.Snapshot(context.Background(), scope); err != nil {
		t.Fatal(err)
	}
	// build_info said 3.10.8: the per-queue families of 4.x are not asked again.
	wantNext := "/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count&family=channel_queue_metrics" +
		"&family=channel_queue_exchange_metrics&vhost=v2"
	if got := srv.lastQuery(); got != wantNext {
		t.Errorf("next query = %s\nwant %s", got, wantNext)
	}
}

// TestPrometheusChannelCounters3x replays how per-channel counters behave
// on 3.x: a channel closing takes its series away, a new one starts from
// zero, and a queue re-created under a live channel restarts its series.
// The source's counters must only grow, by the true number of messages.
func TestPrometheusChannelCounters3x(t *testing.T) {
	rec := readTestdata(t, "prometheus-3.10.8.txt")
	scrapes := []struct {
		name string
		body string
		want map[QueueKey]Counters
	}{
		{
			name: "recorded",
			body: rec,
			want: map[QueueKey]Counters{{"v2", "orders"}: {225, 10, 0}, {"v2", "emails"}: {90, 91, 91}},
		},
		{
			name: "orders +100 published; emails' consumer channel closed, a new one delivered and acked 20",
			body: replaceAll(rec,
				`queue="orders",exchange_vhost="v2",exchange=""} 225`, `queue="orders",exchange_vhost="v2",exchange=""} 325`,
				`queue="emails",exchange_vhost="v2",exchange=""} 90`, `queue="emails",exchange_vhost="v2",exchange=""} 110`,
				`channel="<0.28811.1>"`, `channel="<0.99999.1>"`,
				`queue="emails"} 91`, `queue="emails"} 20`),
			want: map[QueueKey]Counters{{"v2", "orders"}: {325, 10, 0}, {"v2", "emails"}: {110, 111, 111}},
		},
		{
			name: "orders re-created under the live publisher channel: its series restarts at 30",
			body: replaceAll(rec,
				`queue="orders",exchange_vhost="v2",exchange=""} 225`, `queue="orders",exchange_vhost="v2",exchange=""} 30`,
				`queue="emails",exchange_vhost="v2",exchange=""} 90`, `queue="emails",exchange_vhost="v2",exchange=""} 110`,
				`channel="<0.28811.1>"`, `channel="<0.99999.1>"`,
				`queue="emails"} 91`, `queue="emails"} 20`),
			want: map[QueueKey]Counters{{"v2", "orders"}: {355, 10, 0}, {"v2", "emails"}: {110, 111, 111}},
		},
	}
	srv := newPromServer(t, rec)
	p := newTestPrometheus(t, testingclock.NewFakeClock(t0), srv.URL)
	for _, sc := range scrapes {
		srv.set(sc.body, http.StatusOK)
		snap, err := p.Snapshot(context.Background(), Scope{})
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		got := map[QueueKey]Counters{}
		for k, q := range queueStats(t, snap) {
			if q.Counters != (Counters{}) {
				got[k] = q.Counters
			}
		}
		if diff := cmp.Diff(sc.want, got); diff != "" {
			t.Errorf("%s: counters diff (-want +got):\n%s", sc.name, diff)
		}
	}
}

// TestPrometheusPerQueueCounters4x uses the per-queue families of 4.x and
// ignores the per-channel ones; a per-queue sum that drops (a channel
// closed) adds nothing.
func TestPrometheusPerQueueCounters4x(t *testing.T) {
	rec := readTestdata(t, "prometheus-4.x-synthetic.txt")
	srv := newPromServer(t, rec)
	p := newTestPrometheus(t, testingclock.NewFakeClock(t0), srv.URL)
	steps := []struct {
		body string
		want Counters
	}{
		{rec, Counters{Publish: 1020, Deliver: 900, Ack: 880}},
		{replaceAll(rec, `queue="orders"} 880`, `queue="orders"} 500`, `queue="orders"} 900`, `queue="orders"} 520`), Counters{Publish: 1020, Deliver: 900, Ack: 880}},
		{replaceAll(rec, `queue="orders"} 880`, `queue="orders"} 560`, `queue="orders"} 900`, `queue="orders"} 580`), Counters{Publish: 1020, Deliver: 960, Ack: 940}},
	}
	for i, st := range steps {
		srv.set(st.body, http.StatusOK)
		snap, err := p.Snapshot(context.Background(), Scope{})
		if err != nil {
			t.Fatal(err)
		}
		q, err := snap.Queue(QueueKey{"/", "orders"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(st.want, q.Counters); diff != "" {
			t.Errorf("step %d: counters diff (-want +got):\n%s", i, diff)
		}
		if q.Ready != 120 || q.Unacked != 8 || q.Consumers != 2 {
			t.Errorf("step %d: ready %d unacked %d consumers %d, want 120, 8, 2", i, q.Ready, q.Unacked, q.Consumers)
		}
	}
	want := "/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count&family=queue_delivery_metrics&family=queue_exchange_metrics"
	if got := srv.lastQuery(); got != want {
		t.Errorf("query after learning the version = %s\nwant %s", got, want)
	}
}

func TestPrometheusRatesThroughReader(t *testing.T) {
	rec := readTestdata(t, "prometheus-3.10.8.txt")
	srv := newPromServer(t, rec)
	clk := testingclock.NewFakeClock(t0)
	r := NewReader(newTestPrometheus(t, clk, srv.URL), ReaderOptions{RateWindow: 10 * time.Second, MinRateSpan: 10 * time.Second})
	if _, err := r.Snapshot(context.Background(), Scope{}); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Second)
	srv.set(replaceAll(rec,
		`queue="orders",exchange_vhost="v2",exchange=""} 225`, `queue="orders",exchange_vhost="v2",exchange=""} 725`,
		`rabbitmq_detailed_queue_messages_ready{vhost="v2",queue="orders"} 592`, `rabbitmq_detailed_queue_messages_ready{vhost="v2",queue="orders"} 1092`,
	), http.StatusOK)
	snap, err := r.Snapshot(context.Background(), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	tot, err := snap.Lookup("v2", "orders", "emails")
	if err != nil {
		t.Fatal(err)
	}
	want := Rates{Available: true, Publish: 50, TrendAvailable: true, DepthTrend: 50, Span: 10 * time.Second,
		RecentPublish: 50, RecentSpan: 10 * time.Second}
	if diff := cmp.Diff(want, tot.Rates); diff != "" {
		t.Errorf("rates diff (-want +got):\n%s", diff)
	}
}

func TestPrometheusNodes(t *testing.T) {
	node1 := newPromServer(t, readTestdata(t, "prometheus-3.10.8.txt"))
	node2 := newPromServer(t, `# TYPE rabbitmq_detailed_queue_messages_ready gauge
rabbitmq_detailed_queue_messages_ready{vhost="v2",queue="on-node-2"} 7
# TYPE rabbitmq_detailed_queue_messages_unacked gauge
rabbitmq_detailed_queue_messages_unacked{vhost="v2",queue="on-node-2"} 1
`)
	p := newTestPrometheus(t, testingclock.NewFakeClock(t0), node1.URL, node2.URL)
	snap, err := p.Snapshot(context.Background(), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Requests != 2 || snap.Len() != 5 {
		t.Errorf("Requests = %d, queues = %d; want 2 and 5", snap.Requests, snap.Len())
	}
	if tot, err := snap.Lookup("v2", "on-node-2", "orders"); err != nil || tot.Ready != 599 {
		t.Errorf("Lookup = %+v, %v; want 599 ready across both nodes", tot, err)
	}

	node2.set("", http.StatusServiceUnavailable)
	if _, err := p.Snapshot(context.Background(), Scope{}); !errors.Is(err, ErrBrokerUnavailable) {
		t.Errorf("with node 2 down: err = %v, want ErrBrokerUnavailable (its queues must not look deleted)", err)
	}
}

func TestPrometheusErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		want   error
	}{
		{"malformed text", "rabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"a\" 1\n", http.StatusOK, ErrInvalidResponse},
		{"401", "", http.StatusUnauthorized, ErrUnauthorized},
		{"404 plugin path", "", http.StatusNotFound, ErrInvalidResponse},
		{"500", "", http.StatusInternalServerError, ErrBrokerUnavailable},
		{"negative depth", "rabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"a\"} -100\n", http.StatusOK, ErrInvalidResponse},
		{"NaN consumers", "rabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"a\"} 1\nrabbitmq_detailed_queue_consumers{vhost=\"/\",queue=\"a\"} NaN\n", http.StatusOK, ErrInvalidResponse},
		{"HTML", "<html>login</html>", http.StatusOK, ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newPromServer(t, tt.body)
			srv.set(tt.body, tt.status)
			p := newTestPrometheus(t, testingclock.NewFakeClock(t0), srv.URL)
			snap, err := p.Snapshot(context.Background(), Scope{})
			if !errors.Is(err, tt.want) || snap != nil {
				t.Errorf("Snapshot = %v, %v; want no snapshot and %v", snap, err, tt.want)
			}
		})
	}
	// The error names the queue, the family and the value.
	srv := newPromServer(t, "")
	srv.set("rabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"a\"} -100\n", http.StatusOK)
	_, err := newTestPrometheus(t, testingclock.NewFakeClock(t0), srv.URL).Snapshot(context.Background(), Scope{})
	if want := `queue "a" in vhost "/": rabbitmq_detailed_queue_messages_ready is -100, a negative count`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
}
