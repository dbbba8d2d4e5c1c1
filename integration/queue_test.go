//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/rabbitscale/rabbitscale/queue"
)

const passwordEnv = "RABBITSCALE_IT_PASSWORD"

// uniqueName is a queue or connection name no other test uses.
func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// brokerConfig describes the harness broker to the queue package: URLs
// without credentials, the password from an environment variable.
func brokerConfig(t testing.TB, src queue.SourceKind) queue.BrokerConfig {
	t.Helper()
	if src == queue.SourcePrometheus && broker.PrometheusURL == "" {
		t.Skip("the broker has no Prometheus endpoint (set RABBITMQ_PROMETHEUS_URL)")
	}
	u, err := url.Parse(broker.AMQPURL)
	if err != nil {
		t.Fatal("AMQP URL does not parse")
	}
	u.User = nil
	bc := queue.BrokerConfig{
		Name:           "it",
		Source:         src,
		ManagementURL:  broker.ManagementURL,
		AMQPURL:        u.String(),
		Credentials:    queue.Credentials{Username: broker.Username, PasswordEnv: passwordEnv},
		ConnectionName: uniqueName(t, "rabbitscale-it"),
	}
	if broker.PrometheusURL != "" {
		bc.PrometheusURLs = []string{broker.PrometheusURL}
	}
	bc.Default()
	if errs := bc.Validate(); len(errs) > 0 {
		t.Fatalf("broker config: %v", errors.Join(errs...))
	}
	return bc
}

func newSource(t testing.TB, bc queue.BrokerConfig) queue.Source {
	t.Helper()
	if err := os.Setenv(passwordEnv, broker.Password); err != nil {
		t.Fatal(err)
	}
	src, err := queue.NewSource(bc, nil)
	if err != nil {
		t.Fatalf("NewSource(%s): %v", bc.Source, err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// statsWait is how long management and Prometheus figures may lag behind
// the broker: a few collect_statistics_intervals.
func statsWait() time.Duration {
	if broker.StatsInterval > 0 {
		return 10 * broker.StatsInterval
	}
	return 30 * time.Second
}

// pollQueue reads src until check accepts the queue or statsWait passes,
// and returns the number of reads it took.
func pollQueue(ctx context.Context, t *testing.T, src queue.Source, scope queue.Scope, k queue.QueueKey, check func(queue.QueueStats) bool) (queue.QueueStats, int) {
	t.Helper()
	deadline := time.Now().Add(statsWait())
	var last queue.QueueStats
	var lastErr error
	for reads := 1; ; reads++ {
		snap, err := src.Snapshot(ctx, scope)
		if err == nil {
			last, lastErr = snap.Queue(k)
			if lastErr == nil && check(last) {
				return last, reads
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s never reached the expected figures: last %+v, err %v", k, last, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// consume opens a consumer with the given prefetch; with ack false it never
// acknowledges. It returns the number of messages received so far and a
// stop function.
func consume(t *testing.T, q string, prefetch int, ack bool) (*atomic.Int64, func()) {
	t.Helper()
	conn, err := amqp.Dial(broker.AMQPURL)
	if err != nil {
		t.Fatalf("dialing the broker: %v", redactedErr(err))
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatalf("consuming %q: %v", q, err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			n.Add(1)
			if ack {
				_ = d.Ack(false)
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = conn.Close()
			<-done
		})
	}
	t.Cleanup(stop)
	return &n, stop
}

func redactedErr(err error) string {
	return strings.ReplaceAll(err.Error(), broker.Password, "xxxxx")
}

func deleteQueue(t *testing.T, q string) {
	t.Helper()
	conn, err := amqp.Dial(broker.AMQPURL)
	if err != nil {
		t.Fatalf("dialing the broker: %v", redactedErr(err))
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(q, false, false, false); err != nil {
		t.Fatalf("deleting %q: %v", q, err)
	}
}

// TestQueueDepth publishes N messages and reads depth N from every source.
func TestQueueDepth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 137
	name := uniqueName(t, "depth")
	publish(ctx, t, name, n)
	k := queue.QueueKey{Vhost: "/", Name: name}
	var scope queue.Scope
	scope.Add("/", name)

	// AMQP passive declare is immediate: the very next read has it.
	amqpSrc := newSource(t, brokerConfig(t, queue.SourceAMQP))
	snap, err := amqpSrc.Snapshot(ctx, scope)
	if err != nil {
		t.Fatalf("AMQP read: %v", err)
	}
	if got, err := snap.Queue(k); err != nil || got.Ready != n || got.UnackedAvailable || got.CountersAvailable {
		t.Errorf("AMQP: %+v, %v; want %d ready, unacked and counters unavailable", got, err, n)
	}

	for _, kind := range []queue.SourceKind{queue.SourceManagement, queue.SourcePrometheus} {
		t.Run(string(kind), func(t *testing.T) {
			src := newSource(t, brokerConfig(t, kind))
			got, reads := pollQueue(ctx, t, src, scope, k, func(q queue.QueueStats) bool { return q.Ready == n })
			t.Logf("%s: depth %d after %d reads", kind, got.Ready, reads)
			if got.Depth() != n || got.Unacked != 0 || !got.UnackedAvailable {
				t.Errorf("%s: %+v; want %d ready, 0 unacked", kind, got, n)
			}
			// Pattern lookups run over the same snapshot.
			snap, err := src.Snapshot(ctx, queue.Scope{})
			if err != nil {
				t.Fatal(err)
			}
			tot, err := snap.Match("/", regexp.MustCompile("^"+regexp.QuoteMeta(name)+"$"))
			if err != nil || tot.Ready != n {
				t.Errorf("%s: Match = %+v, %v; want %d ready", kind, tot, err, n)
			}
			if _, err := snap.Queue(queue.QueueKey{Vhost: "/", Name: name + "-absent"}); !errors.Is(err, queue.ErrQueueNotFound) {
				t.Errorf("%s: absent queue: err = %v, want ErrQueueNotFound", kind, err)
			}
		})
	}
}

// TestQueueUnacked consumes with prefetch 10 and never acks: 10 unacked,
// N-10 ready.
func TestQueueUnacked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 60
	name := uniqueName(t, "unacked")
	publish(ctx, t, name, n)
	got, _ := consume(t, name, 10, false)
	k := queue.QueueKey{Vhost: "/", Name: name}
	var scope queue.Scope
	scope.Add("/", name)

	for _, kind := range []queue.SourceKind{queue.SourceManagement, queue.SourcePrometheus} {
		t.Run(string(kind), func(t *testing.T) {
			src := newSource(t, brokerConfig(t, kind))
			// The broker refreshes the message counts and the consumer
			// count in separate statistics events: wait for both.
			q, reads := pollQueue(ctx, t, src, scope, k, func(q queue.QueueStats) bool { return q.Unacked == 10 && q.Ready == n-10 && q.Consumers == 1 })
			t.Logf("%s: ready %d unacked %d consumers %d after %d reads (consumer received %d)", kind, q.Ready, q.Unacked, q.Consumers, reads, got.Load())
			if q.Consumers != 1 {
				t.Errorf("%s: consumers = %d, want 1", kind, q.Consumers)
			}
		})
	}
	t.Run("amqp", func(t *testing.T) {
		src := newSource(t, brokerConfig(t, queue.SourceAMQP))
		q, _ := pollQueue(ctx, t, src, scope, k, func(q queue.QueueStats) bool { return q.Ready == n-10 })
		if q.Consumers != 1 || q.UnackedAvailable {
			t.Errorf("amqp: %+v; want 1 consumer and unacked unavailable (not 0)", q)
		}
	})
}

// steadyPublisher publishes to q at rate msg/s until stop is called; it
// re-declares the queue when asked to. It returns the count so far.
type steadyPublisher struct {
	sent     atomic.Int64
	stop     func()
	redecl   chan struct{}
	start    time.Time
	failures atomic.Int64
}

func startPublisher(t *testing.T, q string, rate int) *steadyPublisher {
	t.Helper()
	conn, err := amqp.Dial(broker.AMQPURL)
	if err != nil {
		t.Fatalf("dialing the broker: %v", redactedErr(err))
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	p := &steadyPublisher{redecl: make(chan struct{}, 1), start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.redecl:
				if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
					p.failures.Add(1)
				}
			case <-tick.C:
				if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{Body: []byte("job")}); err != nil {
					p.failures.Add(1)
					continue
				}
				p.sent.Add(1)
			}
		}
	}()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			_ = conn.Close()
		})
	}
	t.Cleanup(p.stop)
	return p
}

// rateReaders returns a Reader with opts over each source that counts
// messages (the management API, and the Prometheus endpoint when the
// broker serves one), and their kinds in a fixed order.
func rateReaders(t *testing.T, opts queue.ReaderOptions) ([]queue.SourceKind, map[queue.SourceKind]*queue.Reader) {
	t.Helper()
	kinds := []queue.SourceKind{queue.SourceManagement}
	if broker.PrometheusURL != "" {
		kinds = append(kinds, queue.SourcePrometheus)
	}
	readers := map[queue.SourceKind]*queue.Reader{}
	for _, kind := range kinds {
		readers[kind] = queue.NewReader(newSource(t, brokerConfig(t, kind)), opts)
	}
	return kinds, readers
}

// TestQueueRates publishes at a steady known rate while a consumer acks
// everything, and reads it for 20 s (after 5 s of warm-up) through the
// management API and the Prometheus endpoint: publish, deliver and ack
// rates within 10% of the truth.
func TestQueueRates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const rate = 50
	name := uniqueName(t, "rates")
	k := queue.QueueKey{Vhost: "/", Name: name}
	var scope queue.Scope
	scope.Add("/", name)

	kinds, readers := rateReaders(t, queue.ReaderOptions{RateWindow: 15 * time.Second, MinRateSpan: 10 * time.Second})

	pub := startPublisher(t, name, rate)
	acked, _ := consume(t, name, 50, true)
	// Steady state first: the readers' first samples must not predate the
	// traffic (the management API's counter samples can be 5 s old).
	time.Sleep(5 * time.Second)
	type sample struct {
		at     time.Time
		sent   int64
		rates  queue.Rates
		counts queue.Counters
	}
	last := map[queue.SourceKind]sample{}
	history := map[queue.SourceKind][]sample{}
	end := time.Now().Add(20 * time.Second)
	for time.Now().Before(end) {
		for _, kind := range kinds {
			snap, err := readers[kind].Snapshot(ctx, scope)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			q, err := snap.Queue(k)
			if err != nil {
				continue // not listed yet
			}
			s := sample{at: time.Now(), sent: pub.sent.Load(), rates: q.Rates, counts: q.Counters}
			last[kind] = s
			history[kind] = append(history[kind], s)
		}
		time.Sleep(time.Second)
	}
	elapsed := time.Since(pub.start)
	pub.stop()
	truth := float64(pub.sent.Load()) / elapsed.Seconds()
	t.Logf("published %d in %s: %.2f msg/s (target %d); consumer received %d; publish failures %d",
		pub.sent.Load(), elapsed.Round(time.Millisecond), truth, rate, acked.Load(), pub.failures.Load())

	for _, kind := range kinds {
		for _, s := range history[kind] {
			t.Logf("%s at +%s: sent %d counters %+v rates publish %.2f ack %.2f deliver %.2f span %s available %v",
				kind, s.at.Sub(pub.start).Round(100*time.Millisecond), s.sent, s.counts, s.rates.Publish, s.rates.Ack, s.rates.Deliver, s.rates.Span, s.rates.Available)
		}
		r := last[kind].rates
		if !r.Available {
			t.Errorf("%s: rates unavailable after 20 s", kind)
			continue
		}
		for _, c := range []struct {
			what string
			got  float64
		}{{"publish", r.Publish}, {"ack", r.Ack}, {"deliver", r.Deliver}} {
			if rel := math.Abs(c.got-truth) / truth; rel > 0.10 {
				t.Errorf("%s: %s rate %.2f msg/s, truth %.2f: off by %.1f%%, want within 10%%", kind, c.what, c.got, truth, 100*rel)
			} else {
				t.Logf("%s: %s rate %.2f msg/s vs truth %.2f (%.1f%%)", kind, c.what, c.got, truth, 100*rel)
			}
		}
	}
}

// TestQueueRecreate deletes and re-creates a queue under a steady publisher
// and consumer: no rate may ever be negative or absurd, and rates come back.
func TestQueueRecreate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const rate = 40
	name := uniqueName(t, "recreate")
	k := queue.QueueKey{Vhost: "/", Name: name}
	var scope queue.Scope
	scope.Add("/", name)
	kinds, readers := rateReaders(t, queue.ReaderOptions{RateWindow: 6 * time.Second, MinRateSpan: 3 * time.Second})
	pub := startPublisher(t, name, rate)
	_, stopConsumer := consume(t, name, 50, true)

	absurd := 3.0 * rate
	recreated := false
	availableAfter := map[queue.SourceKind]bool{}
	start := time.Now()
	for time.Since(start) < 25*time.Second {
		if !recreated && time.Since(start) > 8*time.Second {
			stopConsumer()
			deleteQueue(t, name)
			time.Sleep(500 * time.Millisecond)
			pub.redecl <- struct{}{}
			time.Sleep(200 * time.Millisecond)
			consume(t, name, 50, true)
			recreated = true
			t.Logf("queue deleted and re-created at +%s", time.Since(start).Round(100*time.Millisecond))
		}
		for _, kind := range kinds {
			snap, err := readers[kind].Snapshot(ctx, scope)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			q, err := snap.Queue(k)
			if err != nil {
				t.Logf("%s at +%s: %v", kind, time.Since(start).Round(100*time.Millisecond), err)
				continue
			}
			r := q.Rates
			t.Logf("%s at +%s: counters %+v rates available=%v publish %.1f deliver %.1f ack %.1f trend %.1f span %s",
				kind, time.Since(start).Round(100*time.Millisecond), q.Counters, r.Available, r.Publish, r.Deliver, r.Ack, r.DepthTrend, r.Span)
			for _, v := range []float64{r.Publish, r.Deliver, r.Ack} {
				if v < 0 || v > absurd || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s: rate %.1f msg/s is negative or absurd (publishing %d msg/s)", kind, v, rate)
				}
			}
			if recreated && time.Since(start) > 20*time.Second && r.Available {
				availableAfter[kind] = true
			}
		}
		time.Sleep(time.Second)
	}
	for _, kind := range kinds {
		if !availableAfter[kind] {
			t.Errorf("%s: rates did not come back after the queue was re-created", kind)
		}
	}
}

// TestQueueRestarts restarts the broker 5 times under readers of every
// source. The AMQP source must hold at most one connection at the broker,
// and the process's goroutines must return to their level before.
func TestQueueRestarts(t *testing.T) {
	if broker.Source != "rabbitmq-server" {
		t.Skipf("the harness can restart only a broker it started (this one is from %s)", broker.Source)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "restarts")
	publish(ctx, t, name, 25) // durable and persistent: survives restarts
	k := queue.QueueKey{Vhost: "/", Name: name}
	var scope queue.Scope
	scope.Add("/", name)

	clk := testingclock.NewFakeClock(time.Now())
	amqpCfg := brokerConfig(t, queue.SourceAMQP)
	if err := os.Setenv(passwordEnv, broker.Password); err != nil {
		t.Fatal(err)
	}
	amqpSrc, err := queue.NewAMQPSource(amqpCfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = amqpSrc.Close() }()
	srcs := map[string]queue.Source{"amqp": amqpSrc, "management": newSource(t, brokerConfig(t, queue.SourceManagement))}
	if broker.PrometheusURL != "" {
		srcs["prometheus"] = newSource(t, brokerConfig(t, queue.SourcePrometheus))
	}
	// Connections are counted with a client of its own that keeps none
	// open, so that counting does not change what is counted.
	counter := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

	// readAll reads every source until each succeeds with the queue's 25
	// messages, stepping the fake clock past the AMQP re-dial backoff.
	readAll := func(round int) {
		t.Helper()
		for kind, src := range srcs {
			deadline := time.Now().Add(statsWait() + 30*time.Second)
			for {
				snap, err := src.Snapshot(ctx, scope)
				if err == nil {
					if q, qerr := snap.Queue(k); qerr == nil && q.Ready == 25 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("round %d: %s never read the queue back: %v", round, kind, err)
				}
				clk.Step(queue.DefaultRedialMax)
				time.Sleep(250 * time.Millisecond)
			}
		}
	}
	countConns := func() int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, broker.ManagementURL+"/api/connections?columns=name,client_properties", nil)
		req.SetBasicAuth(broker.Username, broker.Password)
		resp, err := counter.Do(req)
		if err != nil {
			t.Fatalf("listing connections: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		var conns []struct {
			ClientProperties struct {
				ConnectionName string `json:"connection_name"`
			} `json:"client_properties"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&conns); err != nil {
			t.Fatalf("decoding connections: %v", err)
		}
		n := 0
		for _, c := range conns {
			if c.ClientProperties.ConnectionName == amqpCfg.ConnectionName {
				n++
			}
		}
		return n
	}
	waitConns := func(round int) {
		t.Helper()
		// The connection list lags by up to a statistics interval: poll
		// until ours shows, checking it never shows twice.
		deadline := time.Now().Add(statsWait())
		for {
			n := countConns()
			if n > 1 {
				t.Errorf("round %d: %d AMQP connections named %q at the broker, want at most 1", round, n, amqpCfg.ConnectionName)
			}
			if n == 1 || time.Now().After(deadline) {
				if n == 0 {
					t.Errorf("round %d: our AMQP connection never showed at the broker", round)
				}
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	readAll(0)
	waitConns(0)
	counter.CloseIdleConnections()
	runtime.GC()
	time.Sleep(time.Second)
	before := runtime.NumGoroutine()
	t.Logf("goroutines before the restarts: %d", before)

	for round := 1; round <= 5; round++ {
		start := time.Now()
		if err := broker.Restart(ctx); err != nil {
			t.Fatalf("round %d: restarting the broker: %v", round, err)
		}
		readAll(round)
		waitConns(round)
		t.Logf("round %d: broker restarted and read back by every source in %s; goroutines %d", round, time.Since(start).Round(100*time.Millisecond), runtime.NumGoroutine())
	}

	// Idle HTTP connections to the old node died with it; give their
	// goroutines a moment to notice.
	deadline := time.Now().Add(20 * time.Second)
	var after int
	for {
		after = runtime.NumGoroutine()
		if after <= before || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("goroutines after 5 restarts: %d (before: %d)", after, before)
	if after > before {
		buf := new(strings.Builder)
		_ = pprof.Lookup("goroutine").WriteTo(buf, 1)
		t.Errorf("goroutines grew from %d to %d across 5 broker restarts:\n%s", before, after, buf)
	}
}
