package adapter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/rabbitscale/rabbitscale/queue"
)

// fakeReader hands out prepared snapshots and counts reads.
type fakeReader struct {
	next   *queue.Snapshot
	err    error
	latest *queue.Snapshot
	reads  int
	// readDone, when set, receives after every read.
	readDone chan struct{}
}

func (f *fakeReader) Snapshot(_ context.Context, scope queue.Scope) (*queue.Snapshot, error) {
	f.reads++
	if f.readDone != nil {
		defer func() { f.readDone <- struct{}{} }()
	}
	if len(scope.Queues) > 0 || len(scope.Vhosts) > 0 {
		return nil, errors.New("the adapter must list every queue")
	}
	if f.err != nil {
		return nil, f.err
	}
	f.latest = f.next
	return f.next, nil
}

func (f *fakeReader) Latest() *queue.Snapshot { return f.latest }

// fakeObserver records, per broker, whether its last read failed and with
// which error.
type fakeObserver struct {
	mu   sync.Mutex
	last map[string]error
}

func (f *fakeObserver) ObserveBrokerRequest(broker string, _ time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string]error{}
	}
	f.last[broker] = err
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func brokerSnapshot(broker string, at time.Time) *queue.Snapshot {
	s := queue.NewSnapshot(broker, queue.SourceManagement, at, queue.Coverage{Listed: true})
	s.Set(queue.QueueKey{Vhost: "/", Name: "orders"}, queue.QueueStats{Ready: 120, Unacked: 30, UnackedAvailable: true, Consumers: 4,
		SampleTime: at, Rates: queue.Rates{Available: true, Publish: 12.25, Span: 30 * time.Second}})
	s.Set(queue.QueueKey{Vhost: "/", Name: "orders-retry"}, queue.QueueStats{Ready: 5, UnackedAvailable: true, SampleTime: at,
		Rates: queue.Rates{Available: true, Publish: 0.5, Span: 20 * time.Second}})
	s.Set(queue.QueueKey{Vhost: "billing", Name: "orders"}, queue.QueueStats{Ready: 7, UnackedAvailable: true, SampleTime: at})
	return s
}

func TestProviderAnswersFromTheLatestSnapshot(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	main := &fakeReader{next: brokerSnapshot("main", t0)}
	p := NewProvider(Brokers{Readers: map[string]SnapshotReader{"main": main}}, time.Minute, clk, nil)
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Second)

	tests := []struct {
		metric, selector string
		want             string
		wantLabels       map[string]string
	}{
		{MetricMessages, "queue=orders", "150", map[string]string{"broker": "main", "vhost": "/", "queue": "orders"}},
		{MetricMessagesReady, "queue=orders", "120", nil},
		{MetricMessagesUnacked, "queue=orders", "30", nil},
		{MetricConsumers, "queue=orders", "4", nil},
		{MetricPublishRate, "queue=orders", "12250m", nil},
		{MetricMessages, "queue in (orders,orders-retry)", "155", map[string]string{"broker": "main", "vhost": "/", "queue": "orders,orders-retry"}},
		{MetricMessages, "queue=orders,vhost=billing,broker=main", "7", nil},
	}
	for _, tt := range tests {
		t.Run(tt.metric+" "+tt.selector, func(t *testing.T) {
			got, err := p.GetExternalMetric(context.Background(), "shop", mustSelector(t, tt.selector), provider.ExternalMetricInfo{Metric: tt.metric})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Items) != 1 {
				t.Fatalf("got %d items, want 1", len(got.Items))
			}
			if v := got.Items[0].Value.String(); v != tt.want {
				t.Errorf("value = %s, want %s", v, tt.want)
			}
			if tt.wantLabels != nil {
				if diff := cmp.Diff(tt.wantLabels, got.Items[0].MetricLabels); diff != "" {
					t.Errorf("labels (-want +got):\n%s", diff)
				}
			}
		})
	}
	if main.reads != 1 {
		t.Errorf("broker reads = %d, want 1: queries must not read the broker", main.reads)
	}
}

func TestProviderErrorsTheHPACanActOn(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	readers := map[string]SnapshotReader{
		"main":   &fakeReader{next: brokerSnapshot("main", t0)},
		"backup": &fakeReader{next: brokerSnapshot("backup", t0)},
		"never":  &fakeReader{err: &queue.BrokerError{Broker: "never", Kind: queue.ErrBrokerUnavailable}},
	}
	obs := &fakeObserver{}
	p := NewProvider(Brokers{Readers: readers}, time.Minute, clk, obs)
	err := p.Refresh(context.Background())
	if !errors.Is(err, queue.ErrBrokerUnavailable) {
		t.Fatalf("Refresh error = %v, want ErrBrokerUnavailable", err)
	}
	// Every read is observed, the failed one with its error (which the
	// metrics package turns into rabbitscale_broker_up 0 and a reason).
	up := map[string]bool{}
	for name, err := range obs.last {
		up[name] = err == nil
	}
	if diff := cmp.Diff(map[string]bool{"backup": true, "main": true, "never": false}, up); diff != "" {
		t.Errorf("observed reads, broker -> succeeded (-want +got):\n%s", diff)
	}
	if err := obs.last["never"]; !errors.Is(err, queue.ErrBrokerUnavailable) {
		t.Errorf("observed error for never = %v, want ErrBrokerUnavailable", err)
	}

	tests := []struct {
		name, metric, selector string
		advance                time.Duration
		check                  func(error) bool
		wantText               string
	}{
		{"unknown metric", "rabbitmq_queue_bytes", "queue=orders", 0, apierrors.IsNotFound, ""},
		{"no queue label", MetricMessages, "vhost=billing", 0, apierrors.IsBadRequest, `a "queue" label is required`},
		{"unknown label", MetricMessages, "queue=orders,team=a", 0, apierrors.IsBadRequest, `unknown label "team"`},
		{"negated queue", MetricMessages, "queue!=orders", 0, apierrors.IsBadRequest, "only = and in"},
		{"broker needed", MetricMessages, "queue=orders", 0, apierrors.IsBadRequest, `label "broker" is required`},
		{"unknown broker", MetricMessages, "queue=orders,broker=nope", 0, apierrors.IsBadRequest, "unknown broker"},
		{"missing queue", MetricMessages, "queue=payments,broker=main", 0, apierrors.IsNotFound, "payments"},
		{"never read", MetricMessages, "queue=orders,broker=never", 0, apierrors.IsServiceUnavailable, "has not been read yet"},
		{"stale", MetricMessages, "queue=orders,broker=main", 2 * time.Minute, apierrors.IsServiceUnavailable, "last read 2m0s ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.SetTime(t0.Add(tt.advance))
			_, err := p.GetExternalMetric(context.Background(), "shop", mustSelector(t, tt.selector), provider.ExternalMetricInfo{Metric: tt.metric})
			if err == nil || !tt.check(err) {
				t.Fatalf("error = %v (%T), want another status", err, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
		})
	}
}

func TestProviderPublishRateUnavailableBeforeTwoSamples(t *testing.T) {
	s := queue.NewSnapshot("main", queue.SourceManagement, t0, queue.Coverage{Listed: true})
	s.Set(queue.QueueKey{Vhost: "/", Name: "fresh"}, queue.QueueStats{Ready: 3, UnackedAvailable: true, SampleTime: t0})
	p := NewProvider(Brokers{Readers: map[string]SnapshotReader{"main": &fakeReader{latest: s}}}, 0, clocktesting.NewFakeClock(t0), nil)
	_, err := p.GetExternalMetric(context.Background(), "", mustSelector(t, "queue=fresh"), provider.ExternalMetricInfo{Metric: MetricPublishRate})
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("error = %v, want ServiceUnavailable: a rate must not read as 0 before it is known", err)
	}
}

func TestProviderListsEveryMetric(t *testing.T) {
	p := NewProvider(nil, 0, nil, nil)
	var got []string
	for _, m := range p.ListAllExternalMetrics() {
		got = append(got, m.Metric)
	}
	want := []string{"rabbitmq_queue_messages", "rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked", "rabbitmq_queue_consumers", "rabbitmq_queue_publish_rate"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestProviderRunRefreshesOnEveryTick(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	r := &fakeReader{next: brokerSnapshot("main", t0), readDone: make(chan struct{})}
	p := NewProvider(Brokers{Readers: map[string]SnapshotReader{"main": r}}, time.Minute, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx, 5*time.Second); close(done) }()
	<-r.readDone // the first read is immediate
	for range 2 {
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clk.Step(5 * time.Second)
		select {
		case <-r.readDone:
		case <-time.After(10 * time.Second):
			t.Fatal("no broker read after an interval")
		}
	}
	cancel()
	<-done
	if r.reads != 3 {
		t.Errorf("reads = %d after 2 intervals, want 3 (one at start, one per interval)", r.reads)
	}
}

func mustSelector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatalf("selector %q: %v", s, err)
	}
	return sel
}

// The brokers' allow lists apply to the namespace of the HPA that asks:
// an HPA elsewhere gets Forbidden, and nothing of the queue.
func TestProviderAppliesTheBrokersAllowList(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	access := queue.Access{Namespaces: []string{"shop"}, Vhosts: []string{"/"}}
	p := NewProvider(Brokers{Readers: map[string]SnapshotReader{"main": &fakeReader{next: brokerSnapshot("main", t0)}}, Allowed: access.Check}, time.Minute, clk, nil)
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	info := provider.ExternalMetricInfo{Metric: MetricMessages}
	got, err := p.GetExternalMetric(context.Background(), "shop", mustSelector(t, "queue=orders"), info)
	if err != nil || got.Items[0].Value.String() != "150" {
		t.Fatalf("shop's HPA: %v, %v; want 150 messages", got, err)
	}
	for _, tc := range []struct{ namespace, selector, want string }{
		{"mail", "queue=orders", `namespace "mail": not allowed`},
		{"shop", "queue=orders,vhost=billing", `vhost "billing": not allowed`},
	} {
		got, err := p.GetExternalMetric(context.Background(), tc.namespace, mustSelector(t, tc.selector), info)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) || got != nil {
			t.Errorf("%s asking %s: %v, %v; want Forbidden saying %q and no value", tc.namespace, tc.selector, got, err, tc.want)
		}
	}
}

// fakeNamespaces is a NamespaceGetter over namespace labels.
type fakeNamespaces map[string]map[string]string

func (f fakeNamespaces) Get(name string) (*metav1.PartialObjectMetadata, error) {
	l, ok := f[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
	}
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, nil
}

// An HPA in a namespace whose labels match the broker's
// allow.namespaceSelector reads the queue; one whose labels do not, or
// whose namespace is not known, gets Forbidden.
func TestProviderAppliesTheNamespaceSelector(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	access := queue.Access{NamespaceSelector: &queue.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}
	p := NewProvider(Brokers{Readers: map[string]SnapshotReader{"main": &fakeReader{next: brokerSnapshot("main", t0)}}, Allowed: access.Check}, time.Minute, clk, nil)
	p.LabelsFrom(fakeNamespaces{"shop-eu": {"team": "shop"}, "mail": {"team": "mail"}})
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	info := provider.ExternalMetricInfo{Metric: MetricMessages}
	got, err := p.GetExternalMetric(context.Background(), "shop-eu", mustSelector(t, "queue=orders"), info)
	if err != nil || got.Items[0].Value.String() != "150" {
		t.Fatalf("shop-eu's HPA: %v, %v; want 150 messages", got, err)
	}
	for _, tc := range []struct{ namespace, want string }{
		{"mail", `namespace "mail": not allowed by the broker configuration (allow.namespaceSelector: "team=shop")`},
		{"unknown", `namespace "unknown": not allowed by the broker configuration (allow.namespaceSelector: "team=shop", which cannot match: the namespace's labels are not known)`},
	} {
		got, err := p.GetExternalMetric(context.Background(), tc.namespace, mustSelector(t, "queue=orders"), info)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) || got != nil {
			t.Errorf("%s asking: %v, %v; want Forbidden saying %q and no value", tc.namespace, got, err, tc.want)
		}
	}
}

// With FileBrokers, the provider serves the brokers and allow lists of the
// file as last reloaded, and keeps them when the new file is invalid.
func TestProviderFollowsTheReloadedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brokers.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"], allow: {namespaces: [shop]}}\n")
	f, err := queue.OpenFileWatched(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	p := NewProvider(FileBrokers(f), time.Minute, clocktesting.NewFakeClock(t0), nil)
	ask := func(namespace, selector string) error {
		_, err := p.GetExternalMetric(context.Background(), namespace, mustSelector(t, selector), provider.ExternalMetricInfo{Metric: MetricMessages})
		return err
	}
	// Before any read, an allowed query is unavailable; a refused one
	// Forbidden; an unknown broker a bad request.
	if err := ask("shop", "queue=orders,broker=a"); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("shop asking broker a: %v, want ServiceUnavailable (not read yet)", err)
	}
	if err := ask("mail", "queue=orders,broker=a"); !apierrors.IsForbidden(err) {
		t.Errorf("mail asking broker a: %v, want Forbidden", err)
	}
	if err := ask("mail", "queue=orders,broker=b"); !apierrors.IsBadRequest(err) {
		t.Errorf("asking broker b before it is configured: %v, want BadRequest", err)
	}

	write("brokers:\n- {name: a, prometheusURLs: [\"http://127.0.0.1:1\"], allow: {namespaces: [mail]}}\n- {name: b, prometheusURLs: [\"http://127.0.0.1:2\"]}\n")
	if _, err := f.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ask("shop", "queue=orders,broker=a"); !apierrors.IsForbidden(err) {
		t.Errorf("shop asking broker a after its allow list moved to mail: %v, want Forbidden", err)
	}
	for _, sel := range []string{"queue=orders,broker=a", "queue=orders,broker=b"} {
		if err := ask("mail", sel); !apierrors.IsServiceUnavailable(err) {
			t.Errorf("mail asking %s after the reload: %v, want ServiceUnavailable (configured, not read yet)", sel, err)
		}
	}

	write("brokers:\n- {name: c, prometheusURLs: [\"http://127.0.0.1:3\"], allow: {namespaceSelector: {matchLabels: {team: \"-x\"}}}}\n")
	if _, err := f.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), `brokers[0].allow.namespaceSelector.matchLabels["team"]`) {
		t.Errorf("reload of an invalid file: %v, want an error naming the field", err)
	}
	if err := ask("mail", "queue=orders,broker=b"); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("mail asking broker b after an invalid file: %v, want the previous brokers kept", err)
	}
}
