package queue

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"
)

const testPassword = "s3cret-Pa55"

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mgmtServer serves GET /api/queues... with a handler per request; it
// checks basic auth and records the queries it saw.
type mgmtServer struct {
	*httptest.Server
	mu      sync.Mutex
	queries []string
	conns   atomic.Int64
}

func newMgmtServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *mgmtServer {
	t.Helper()
	s := &mgmtServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.queries = append(s.queries, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		s.mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != "scaler" || p != testPassword {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"not_authorized","reason":"Login failed"}`))
			return
		}
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *mgmtServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// pagesHandler serves the recorded pages of vhost v2, at /api/queues and
// /api/queues/v2.
func pagesHandler(t *testing.T, page1, page2 string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page") {
		case "1":
			_, _ = w.Write([]byte(page1))
		case "2":
			_, _ = w.Write([]byte(page2))
		default:
			t.Errorf("unexpected page %q", r.URL.Query().Get("page"))
			http.Error(w, "no such page", http.StatusBadRequest)
		}
	}
}

func testBroker(url string, mutate ...func(*BrokerConfig)) BrokerConfig {
	bc := BrokerConfig{Name: "main", ManagementURL: url, PageSize: 2,
		Credentials: Credentials{Username: "scaler", PasswordEnv: "RABBITSCALE_TEST_PASSWORD"},
		Timeout:     Duration{time.Second}}
	for _, m := range mutate {
		m(&bc)
	}
	bc.Default()
	return bc
}

func newTestManagement(t *testing.T, bc BrokerConfig, clk *testingclock.FakeClock) *ManagementSource {
	t.Helper()
	t.Setenv("RABBITSCALE_TEST_PASSWORD", testPassword)
	m, err := NewManagementSource(bc, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestManagementSnapshotRecordedPages(t *testing.T) {
	srv := newMgmtServer(t, pagesHandler(t, readTestdata(t, "mgmt-page1.json"), readTestdata(t, "mgmt-page2.json")))
	clk := testingclock.NewFakeClock(t0)
	m := newTestManagement(t, testBroker(srv.URL), clk)

	snap, err := m.Snapshot(context.Background(), Scope{})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if snap.Requests != 2 {
		t.Errorf("Requests = %d, want 2 (one per page)", snap.Requests)
	}
	got := map[QueueKey]QueueStats{}
	for _, k := range snap.Keys() {
		got[k], _ = snap.Queue(k)
	}
	bucket := time.UnixMilli(1795688315000) // the newest *_details.samples timestamp
	want := map[QueueKey]QueueStats{
		{"v2", "emails"}: {Ready: 0, Unacked: 0, UnackedAvailable: true, Consumers: 1, Utilisation: 0.9861169023131005, UtilisationAvailable: true,
			Counters: Counters{Publish: 291, Deliver: 320, Ack: 320}, CountersAvailable: true, CountersTime: bucket, SampleTime: t0},
		{"v2", "invoices"}: {UnackedAvailable: true, UtilisationAvailable: true, CountersAvailable: true, SampleTime: t0},
		{"v2", "orders"}: {Ready: 942, Unacked: 10, UnackedAvailable: true, Consumers: 1, Utilisation: 1.0727359406205424e-5, UtilisationAvailable: true,
			Counters: Counters{Publish: 728, Deliver: 30, Ack: 0}, CountersAvailable: true, CountersTime: bucket, SampleTime: t0},
		{"v2", "x"}: {UnackedAvailable: true, UtilisationAvailable: true, CountersAvailable: true, SampleTime: t0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queues diff (-want +got):\n%s", diff)
	}
	cols := "/api/queues?columns=" + strings.ReplaceAll(managementColumns, ",", "%2C") + "&msg_rates_age=5&msg_rates_incr=5"
	wantQueries := []string{cols + "&page=1&page_size=2", cols + "&page=2&page_size=2"}
	if diff := cmp.Diff(wantQueries, srv.seen()); diff != "" {
		t.Errorf("requests diff (-want +got):\n%s", diff)
	}
}

func TestManagementPerVhost(t *testing.T) {
	srv := newMgmtServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/api/queues/v2":
			pagesHandler(t, readTestdata(t, "mgmt-page1.json"), readTestdata(t, "mgmt-page2.json"))(w, r)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(readTestdata(t, "mgmt-404.json")))
		}
	})
	m := newTestManagement(t, testBroker(srv.URL), testingclock.NewFakeClock(t0))
	var scope Scope
	scope.Add("v2", "orders")
	scope.Add("/", "gone") // vhost "/" does not exist on this broker: 404
	snap, err := m.Snapshot(context.Background(), scope)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	wantPaths := []string{"/api/queues/%2F", "/api/queues/v2", "/api/queues/v2"}
	var gotPaths []string
	for _, q := range srv.seen() {
		gotPaths = append(gotPaths, strings.SplitN(q, "?", 2)[0])
	}
	if diff := cmp.Diff(wantPaths, gotPaths); diff != "" {
		t.Errorf("paths diff (-want +got):\n%s", diff)
	}
	if _, err := snap.Queue(QueueKey{"/", "gone"}); !errors.Is(err, ErrQueueNotFound) {
		t.Errorf("queue in a missing vhost: err = %v, want ErrQueueNotFound", err)
	}
	if _, err := snap.Queue(QueueKey{"other", "q"}); !errors.Is(err, ErrNotInScope) {
		t.Errorf("queue in a vhost outside the scope: err = %v, want ErrNotInScope", err)
	}
	if got, err := snap.Queue(QueueKey{"v2", "orders"}); err != nil || got.Ready != 942 {
		t.Errorf("orders = %+v, %v; want 942 ready", got, err)
	}
}

func TestManagementErrors(t *testing.T) {
	page1 := readTestdata(t, "mgmt-page1.json")
	tests := []struct {
		name     string
		handler  func(w http.ResponseWriter, r *http.Request)
		password string
		want     error
		notWant  error
		status   int
		// wantText is in the error: the field and the value at fault.
		wantText string
	}{
		{
			name:     "401 wrong password",
			handler:  pagesHandler(t, page1, page1),
			password: "wrong-" + testPassword,
			want:     ErrUnauthorized,
			notWant:  ErrBrokerUnavailable,
			status:   401,
		},
		{
			name: "403 no monitoring tag",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"error":"not_authorised","reason":"Not monitor user"}`))
			},
			want: ErrUnauthorized, notWant: ErrBrokerUnavailable, status: 403,
		},
		{
			name: "404 whole listing",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(readTestdata(t, "mgmt-404.json")))
			},
			want: ErrInvalidResponse, notWant: ErrBrokerUnavailable, status: 404,
		},
		{
			name: "500",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, `{"error":"internal_server_error"}`, http.StatusInternalServerError)
			},
			want: ErrBrokerUnavailable, notWant: ErrUnauthorized, status: 500,
		},
		{
			name: "500 on the second page",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("page") == "2" {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				_, _ = w.Write([]byte(page1))
			},
			want: ErrBrokerUnavailable, notWant: ErrUnauthorized, status: 503,
		},
		{
			name: "malformed JSON",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(page1[:len(page1)/2]))
			},
			want: ErrInvalidResponse, notWant: ErrBrokerUnavailable,
		},
		{
			name: "HTML instead of JSON",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("<html>proxy login</html>"))
			},
			want: ErrInvalidResponse, notWant: ErrBrokerUnavailable,
		},
		{
			name:    "negative count",
			handler: pageOf(`{"name":"orders","vhost":"/","messages_ready":-100,"messages_unacknowledged":0}`),
			want:    ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: `queue "orders" in vhost "/": messages_ready is -100, a negative count`,
		},
		{
			name:    "negative counter",
			handler: pageOf(`{"name":"orders","vhost":"/","messages_ready":1,"message_stats":{"publish":-5}}`),
			want:    ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: "message_stats.publish is -5",
		},
		{
			name:    "absurd count",
			handler: pageOf(`{"name":"orders","vhost":"/","messages_ready":1,"consumers":9000000000000000}`),
			want:    ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: "consumers is 9000000000000000, beyond any plausible count",
		},
		{
			name:    "number as a string",
			handler: pageOf(`{"name":"orders","vhost":"/","messages_ready":"12"}`),
			want:    ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: "messages_ready",
		},
		{
			name:    "consumer utilisation above 1",
			handler: pageOf(`{"name":"orders","vhost":"/","messages_ready":1,"consumer_utilisation":7}`),
			want:    ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: "consumer_utilisation is 7, outside 0..1",
		},
		{
			name:    "queue named twice in a page",
			handler: pageOf(`{"name":"orders","vhost":"/","messages_ready":1},{"name":"orders","vhost":"/","messages_ready":5}`),
			want:    ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: `names queue "orders" in vhost "/" twice`,
		},
		{
			name: "huge page_count and no items",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"items":[],"page":1,"page_count":1000000,"page_size":500}`))
			},
			want: ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: "page_count is 1000000, beyond the cap of 1000 pages",
		},
		{
			name: "page_count beyond filtered_count",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"items":[{"name":"a","vhost":"/","messages_ready":1}],"page":1,"page_count":40,"page_size":500,"filtered_count":1}`))
			},
			want: ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: "page_count is 40, but filtered_count 1 needs 1 pages of 500",
		},
		{
			name: "empty page before the last",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("page") == "2" {
					_, _ = w.Write([]byte(`{"items":[],"page":2,"page_count":3,"page_size":1}`))
					return
				}
				_, _ = w.Write([]byte(`{"items":[{"name":"a","vhost":"/","messages_ready":1}],"page":1,"page_count":3,"page_size":1}`))
			},
			want: ErrInvalidResponse, notWant: ErrBrokerUnavailable,
			wantText: "page 2 of 3 is empty",
		},
		{
			name:    "empty body",
			handler: func(http.ResponseWriter, *http.Request) {},
			want:    ErrInvalidResponse, notWant: ErrBrokerUnavailable,
		},
		{
			name: "slow response past the timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				_, _ = w.Write([]byte(page1))
			},
			want: ErrBrokerUnavailable, notWant: ErrUnauthorized,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMgmtServer(t, tt.handler)
			bc := testBroker(srv.URL, func(b *BrokerConfig) { b.Timeout = Duration{200 * time.Millisecond} })
			m := newTestManagement(t, bc, testingclock.NewFakeClock(t0))
			if tt.password != "" {
				t.Setenv("RABBITSCALE_TEST_PASSWORD", tt.password)
			}
			start := time.Now()
			snap, err := m.Snapshot(context.Background(), Scope{})
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("Snapshot took %s, want the 200ms timeout to bound it", elapsed)
			}
			if snap != nil || err == nil {
				t.Fatalf("Snapshot = %v, %v; want an error", snap, err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v; want errors.Is %v", err, tt.want)
			}
			if errors.Is(err, tt.notWant) {
				t.Errorf("err = %v; must not be %v", err, tt.notWant)
			}
			var be *BrokerError
			if !errors.As(err, &be) || be.Broker != "main" || be.Status != tt.status {
				t.Errorf("err = %#v; want a *BrokerError for broker main with status %d", err, tt.status)
			}
			for _, secret := range []string{testPassword, "scaler:", "columns"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
			if !strings.HasPrefix(err.Error(), `broker "main": `) || strings.Count(err.Error(), `"main"`) != 1 {
				t.Errorf("error %q must name the broker once, first", err)
			}
		})
	}
}

// pageOf serves one page holding items.
func pageOf(items string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"items":[` + items + `],"page":1,"page_count":1,"page_size":500,"filtered_count":1}`))
	}
}

func TestManagementMissingMessageStats(t *testing.T) {
	// A broker whose statistics collection is off (or that never saw
	// traffic) lists queues without message_stats: counters are
	// unavailable, not zero.
	stats := regexp.MustCompile(`"message_stats":\{.*?"publish_details":\{"samples":\[[^]]*\]\}\},`)
	strip := func(s string) string { return stats.ReplaceAllString(s, "") }
	p1, p2 := strip(readTestdata(t, "mgmt-page1.json")), strip(readTestdata(t, "mgmt-page2.json"))
	if strings.Contains(p1+p2, "message_stats") {
		t.Fatal("test data still has message_stats")
	}
	srv := newMgmtServer(t, pagesHandler(t, p1, p2))
	clk := testingclock.NewFakeClock(t0)
	r := NewReader(newTestManagement(t, testBroker(srv.URL), clk), ReaderOptions{RateWindow: 30 * time.Second, MinRateSpan: 10 * time.Second})
	var snap *Snapshot
	for range 3 {
		var err error
		if snap, err = r.Snapshot(context.Background(), Scope{}); err != nil {
			t.Fatal(err)
		}
		clk.Step(10 * time.Second)
	}
	got, err := snap.Queue(QueueKey{"v2", "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if got.CountersAvailable || got.Rates.Available {
		t.Errorf("CountersAvailable = %v, Rates.Available = %v; want both false", got.CountersAvailable, got.Rates.Available)
	}
	want := Rates{TrendAvailable: true, DepthTrend: 0, Span: 20 * time.Second}
	if diff := cmp.Diff(want, got.Rates); diff != "" {
		t.Errorf("rates diff (-want +got):\n%s", diff)
	}
}

func TestManagementStatsNotYetEmitted(t *testing.T) {
	srv := newMgmtServer(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"items":[{"name":"fresh","vhost":"/"},{"name":"old","vhost":"/","messages_ready":3,"messages_unacknowledged":1}],"page":1,"page_count":1}`))
	})
	m := newTestManagement(t, testBroker(srv.URL), testingclock.NewFakeClock(t0))
	snap, err := m.Snapshot(context.Background(), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Queue(QueueKey{"/", "fresh"}); !errors.Is(err, ErrStatsUnavailable) {
		t.Errorf("fresh: err = %v, want ErrStatsUnavailable", err)
	}
	tot, err := snap.Lookup("/", "old")
	if err != nil || tot.Ready != 3 || tot.Unacked != 1 {
		t.Errorf("old = %+v, %v; want 3 ready and 1 unacked", tot, err)
	}
}

// TestManagementCounterReset replays a queue that is deleted and re-created
// between two reads: its counters go back to small values. The rates must
// never be negative, become unavailable right after the reset, and come
// back with the right value.
func TestManagementCounterReset(t *testing.T) {
	type sample struct{ publish, ack int64 }
	samples := []sample{{1000, 900}, {1100, 1000}, {1200, 1100}, {1300, 1200}, {30, 20}, {130, 120}, {230, 220}}
	var i atomic.Int64
	srv := newMgmtServer(t, func(w http.ResponseWriter, _ *http.Request) {
		s := samples[i.Add(1)-1]
		_, _ = w.Write([]byte(`{"items":[{"name":"jobs","vhost":"/","messages_ready":5,"messages_unacknowledged":0,"consumers":1,` +
			`"message_stats":{"publish":` + itoa(s.publish) + `,"deliver_get":` + itoa(s.ack) + `,"ack":` + itoa(s.ack) + `}}],"page":1,"page_count":1}`))
	})
	clk := testingclock.NewFakeClock(t0)
	r := NewReader(newTestManagement(t, testBroker(srv.URL), clk), ReaderOptions{RateWindow: 20 * time.Second, MinRateSpan: 10 * time.Second})
	var got []Rates
	for range samples {
		snap, err := r.Snapshot(context.Background(), Scope{})
		if err != nil {
			t.Fatal(err)
		}
		q, _ := snap.Queue(QueueKey{"/", "jobs"})
		got = append(got, q.Rates)
		clk.Step(10 * time.Second)
	}
	const ten = 10 * time.Second
	want := []Rates{
		{},
		{Available: true, Publish: 10, Deliver: 10, Ack: 10, TrendAvailable: true, Span: ten, RecentPublish: 10, RecentDeliver: 10, RecentAck: 10, RecentSpan: ten},
		{Available: true, Publish: 10, Deliver: 10, Ack: 10, TrendAvailable: true, Span: 2 * ten, RecentPublish: 10, RecentDeliver: 10, RecentAck: 10, RecentSpan: ten},
		{Available: true, Publish: 10, Deliver: 10, Ack: 10, TrendAvailable: true, Span: 2 * ten, RecentPublish: 10, RecentDeliver: 10, RecentAck: 10, RecentSpan: ten},
		{}, // reset: history restarts
		{Available: true, Publish: 10, Deliver: 10, Ack: 10, TrendAvailable: true, Span: ten, RecentPublish: 10, RecentDeliver: 10, RecentAck: 10, RecentSpan: ten},
		{Available: true, Publish: 10, Deliver: 10, Ack: 10, TrendAvailable: true, Span: 2 * ten, RecentPublish: 10, RecentDeliver: 10, RecentAck: 10, RecentSpan: ten},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rates diff (-want +got):\n%s", diff)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestManagementPaging checks concurrency, a page count that grows while
// paging, and that a queue shifted onto the next page is counted once.
func TestManagementPaging(t *testing.T) {
	var inFlight, maxInFlight atomic.Int64
	srv := newMgmtServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		page := r.URL.Query().Get("page")
		pageCount := "4"
		if page == "1" {
			pageCount = "3" // a queue was declared after page 1 was served
		}
		items := map[string]string{
			"1": `{"name":"q1","vhost":"/","messages_ready":1},{"name":"q2","vhost":"/","messages_ready":1}`,
			"2": `{"name":"q2","vhost":"/","messages_ready":1},{"name":"q3","vhost":"/","messages_ready":1}`,
			"3": `{"name":"q4","vhost":"/","messages_ready":1},{"name":"q5","vhost":"/","messages_ready":1}`,
			"4": `{"name":"q6","vhost":"/","messages_ready":1}`,
		}[page]
		_, _ = w.Write([]byte(`{"items":[` + items + `],"page":` + page + `,"page_count":` + pageCount + `}`))
	})
	m := newTestManagement(t, testBroker(srv.URL, func(b *BrokerConfig) { b.PageConcurrency = 2 }), testingclock.NewFakeClock(t0))
	snap, err := m.Snapshot(context.Background(), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	tot, err := snap.Match("/", regexp.MustCompile(`^q\d$`))
	if err != nil {
		t.Fatal(err)
	}
	if tot.Ready != 6 || len(tot.Queues) != 6 {
		t.Errorf("matched %d queues with %d ready; want 6 and 6", len(tot.Queues), tot.Ready)
	}
	if snap.Requests != 4 {
		t.Errorf("Requests = %d, want 4", snap.Requests)
	}
	if got := maxInFlight.Load(); got > 2 {
		t.Errorf("%d pages in flight at once, want at most PageConcurrency 2", got)
	}
}

// TestManagementReusesConnections reads 20 times: the HTTP client must reuse
// its connections instead of opening one per read.
func TestManagementReusesConnections(t *testing.T) {
	srv := newMgmtServer(t, pagesHandler(t, readTestdata(t, "mgmt-page1.json"), readTestdata(t, "mgmt-page2.json")))
	m := newTestManagement(t, testBroker(srv.URL), testingclock.NewFakeClock(t0))
	for range 20 {
		if _, err := m.Snapshot(context.Background(), Scope{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.conns.Load(); got > DefaultPageConcurrency {
		t.Errorf("%d TCP connections for 20 reads (40 requests), want at most %d", got, DefaultPageConcurrency)
	}
}

// TestManagementRotatedPassword re-reads the password file on every read.
func TestManagementRotatedPassword(t *testing.T) {
	srv := newMgmtServer(t, pagesHandler(t, readTestdata(t, "mgmt-page1.json"), readTestdata(t, "mgmt-page2.json")))
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte("old-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bc := testBroker(srv.URL, func(b *BrokerConfig) {
		b.Credentials = Credentials{Username: "scaler", PasswordFile: pwFile}
	})
	m := newTestManagement(t, bc, testingclock.NewFakeClock(t0))
	_, err := m.Snapshot(context.Background(), Scope{})
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "old-password") {
		t.Fatalf("with the old password: err = %v, want ErrUnauthorized without the password in it", err)
	}
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Snapshot(context.Background(), Scope{}); err != nil {
		t.Fatalf("after rotating the Secret: %v", err)
	}
	if err := os.Remove(pwFile); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Snapshot(context.Background(), Scope{}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "credentials.passwordFile") {
		t.Errorf("with the file gone: err = %v, want ErrInvalidConfig naming credentials.passwordFile", err)
	}
}

// TestManagementCountersFromSamples: the counters and their time come from
// the same (newest) sample, even when the top-level counter is fresher
// (a broker with 1 s buckets answering 5 s samples).
func TestManagementCountersFromSamples(t *testing.T) {
	tests := []struct {
		name     string
		stats    string
		want     Counters
		wantTime time.Time
	}{
		{
			name:     "samples newest first",
			stats:    `{"publish":300,"ack":290,"publish_details":{"samples":[{"sample":280,"timestamp":1795688320000},{"sample":230,"timestamp":1795688315000}]},"ack_details":{"samples":[{"sample":270,"timestamp":1795688320000}]}}`,
			want:     Counters{Publish: 280, Ack: 270},
			wantTime: time.UnixMilli(1795688320000),
		},
		{
			name:     "samples oldest first",
			stats:    `{"publish":300,"publish_details":{"samples":[{"sample":230,"timestamp":1795688315000},{"sample":280,"timestamp":1795688320000}]}}`,
			want:     Counters{Publish: 280},
			wantTime: time.UnixMilli(1795688320000),
		},
		{
			name:  "no samples: top-level counters, time unknown",
			stats: `{"publish":300,"deliver_get":20,"ack":10}`,
			want:  Counters{Publish: 300, Deliver: 20, Ack: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s msgStats
			if err := json.Unmarshal([]byte(tt.stats), &s); err != nil {
				t.Fatal(err)
			}
			got, at := s.counters()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("counters diff (-want +got):\n%s", diff)
			}
			if !at.Equal(tt.wantTime) {
				t.Errorf("time = %v, want %v", at, tt.wantTime)
			}
		})
	}
}

// TestManagementHeadMessageTimestamp reads head_message_timestamp (whole
// seconds) and treats a value that cannot be true as unknown, never as a
// reason to fail the queue; the totals give the oldest, or nothing when a
// queue with ready messages has no timestamp.
func TestManagementHeadMessageTimestamp(t *testing.T) {
	secs := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).Unix(), 10) }
	items := []struct{ name, ready, head string }{
		{"old", "2", secs(-30 * time.Second)},
		{"empty", "0", "null"},
		{"unstamped", "3", ""}, // no field at all
		{"negative", "1", "-5"},
		{"future", "1", secs(2 * time.Minute)},
		{"blank", "1", `""`},
		{"skewed", "1", secs(30 * time.Second)}, // a publisher's clock a little ahead
		{"text", "1", `"yesterday"`},
		{"millis", "1", strconv.FormatInt(t0.UnixMilli(), 10)},
		{"fraction", "1", secs(-10*time.Second) + ".5"},
	}
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"name":"` + it.name + `","vhost":"/","messages_ready":` + it.ready + `,"messages_unacknowledged":0,"consumers":0`)
		if it.head != "" {
			b.WriteString(`,"head_message_timestamp":` + it.head)
		}
		b.WriteString("}")
	}
	body := `{"items":[` + b.String() + `],"page":1,"page_count":1,"page_size":500,"filtered_count":` + strconv.Itoa(len(items)) + `}`
	srv := newMgmtServer(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Query().Get("columns"), "head_message_timestamp") {
			t.Errorf("columns=%q does not ask for head_message_timestamp", r.URL.Query().Get("columns"))
		}
		_, _ = w.Write([]byte(body))
	})
	m := newTestManagement(t, testBroker(srv.URL, func(bc *BrokerConfig) { bc.PageSize = 500 }), testingclock.NewFakeClock(t0))
	snap, err := m.Snapshot(context.Background(), Scope{})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	want := map[string]time.Time{
		"old": t0.Add(-30 * time.Second), "skewed": t0.Add(30 * time.Second), "fraction": t0.Add(-10 * time.Second),
	}
	for _, it := range items {
		q, err := snap.Queue(QueueKey{"/", it.name})
		if err != nil {
			t.Errorf("queue %s: %v, want its figures", it.name, err)
			continue
		}
		if !q.HeadMessageTimestamp.Equal(want[it.name]) {
			t.Errorf("queue %s with head_message_timestamp %s: HeadMessageTimestamp = %v, want %v", it.name, it.head, q.HeadMessageTimestamp, want[it.name])
		}
	}
	for _, tt := range []struct {
		names []string
		want  time.Time
	}{
		{[]string{"old", "empty"}, t0.Add(-30 * time.Second)},
		{[]string{"old", "skewed", "fraction"}, t0.Add(-30 * time.Second)},
		{[]string{"old", "unstamped"}, time.Time{}}, // ready messages without a timestamp
		{[]string{"fraction", "millis"}, time.Time{}},
		{[]string{"empty"}, time.Time{}},
	} {
		tot, err := snap.Lookup("/", tt.names...)
		if err != nil {
			t.Fatal(err)
		}
		if !tot.OldestReadyAt.Equal(tt.want) {
			t.Errorf("Lookup(%v).OldestReadyAt = %v, want %v", tt.names, tot.OldestReadyAt, tt.want)
		}
	}
}
