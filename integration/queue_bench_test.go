//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitscale/rabbitscale/queue"
)

// benchQueues is how many queues BenchmarkSnapshot10kQueues declares;
// RABBITSCALE_BENCH_QUEUES overrides it for a quick run.
func benchQueues(b *testing.B) int {
	if v := os.Getenv("RABBITSCALE_BENCH_QUEUES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("RABBITSCALE_BENCH_QUEUES=%q is not a positive number", v)
		}
		return n
	}
	return 10000
}

// kedaConcurrency is how many per-queue requests the KEDA-style reader has
// in flight: KEDA polls every ScaledObject from its own goroutine.
const kedaConcurrency = 16

// BenchmarkSnapshot10kQueues declares 10,000 queues (one message each) in a
// vhost of their own on the real broker, then measures one snapshot of all
// of them through each source, side by side with reading the same queues
// one GET /api/queues/{vhost}/{name} per queue, the way KEDA's RabbitMQ
// scaler does for each ScaledObject. Each sub-benchmark reports its wall
// time per snapshot (ns/op), requests/op and queues/op; the per-queue one
// also reports how many times slower it is than the management snapshot.
//
//	KUBEBUILDER_ASSETS=$(hack/tools.sh) go test -tags integration -run '^$' \
//	    -bench BenchmarkSnapshot10kQueues -benchtime 5x ./integration/
//
// RABBITSCALE_BENCH_QUEUES sets another number of queues, and
// RABBITSCALE_BENCH_PAGE_CONCURRENCY the management source's
// PageConcurrency (default 2).
//
// Measured on RabbitMQ 3.10.8 (Debian's rabbitmq-server, Erlang 25.2.3) on a
// shared 2-core VM, -benchtime 5x: management 2.33 s and 20 requests per
// snapshot, Prometheus endpoint 0.38 s and 1 request, one request per queue
// (16 in flight) 3.80 s and 10,000 requests. Every management page costs
// the broker a listing of the whole vhost, so that source grows with the
// square of the number of queues; PageConcurrency 4 gave 2.13 s.
func BenchmarkSnapshot10kQueues(b *testing.B) {
	ctx := context.Background()
	n := benchQueues(b)
	vhost := fmt.Sprintf("rabbitscale-bench-%d", time.Now().UnixNano())
	setupStart := time.Now()
	createVhost(b, vhost)
	b.Cleanup(func() { deleteVhost(b, vhost) })
	declareQueues(b, vhost, n)
	waitListed(b, vhost, n)
	b.Logf("declared %d queues in vhost %q and saw them listed in %s", n, vhost, time.Since(setupStart).Round(time.Millisecond))

	var scope queue.Scope
	scope.Add(vhost)
	var mgmtPerSnapshot atomic.Int64

	for _, kind := range []queue.SourceKind{queue.SourceManagement, queue.SourcePrometheus} {
		b.Run(string(kind), func(b *testing.B) {
			bc := brokerConfig(b, kind)
			if v := os.Getenv("RABBITSCALE_BENCH_PAGE_CONCURRENCY"); v != "" {
				bc.PageConcurrency, _ = strconv.Atoi(v)
			}
			r := queue.NewReader(newSource(b, bc), queue.ReaderOptions{})
			var requests, queues int
			start := time.Now()
			for b.Loop() {
				snap, err := r.Snapshot(ctx, scope)
				if err != nil {
					b.Fatal(err)
				}
				tot, err := snap.Match(vhost, matchAll)
				if err != nil || len(tot.Queues) != n || tot.Ready != int64(n) {
					b.Fatalf("snapshot holds %d queues with %d ready (%v), want %d and %d", len(tot.Queues), tot.Ready, err, n, n)
				}
				requests += snap.Requests
				queues += len(tot.Queues)
			}
			if kind == queue.SourceManagement {
				mgmtPerSnapshot.Store(int64(time.Since(start)) / int64(b.N))
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(queues)/float64(b.N), "queues/op")
		})
	}

	b.Run("keda-per-queue", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: kedaConcurrency}, Timeout: 30 * time.Second}
		defer client.CloseIdleConnections()
		var requests int64
		start := time.Now()
		for b.Loop() {
			requests += readPerQueue(b, client, vhost, n)
		}
		per := time.Since(start) / time.Duration(b.N)
		b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		b.ReportMetric(float64(n), "queues/op")
		if m := mgmtPerSnapshot.Load(); m > 0 {
			b.ReportMetric(float64(per)/float64(m), "times-management")
		}
	})
}

var matchAll = regexp.MustCompile(".*")

// readPerQueue reads every queue with its own request, kedaConcurrency at
// a time, and returns the number of requests.
func readPerQueue(b *testing.B, client *http.Client, vhost string, n int) int64 {
	var next, requests atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, kedaConcurrency)
	for range kedaConcurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				u := broker.ManagementURL + "/api/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(benchQueueName(int(i)))
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.SetBasicAuth(broker.Username, broker.Password)
				resp, err := client.Do(req)
				requests.Add(1)
				if err != nil {
					errs <- err
					return
				}
				var q struct {
					MessagesReady int `json:"messages_ready"`
				}
				err = json.NewDecoder(resp.Body).Decode(&q)
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				switch {
				case err != nil:
					errs <- fmt.Errorf("GET %s: %s: %w", u, resp.Status, err)
					return
				case resp.StatusCode != http.StatusOK || q.MessagesReady != 1:
					errs <- fmt.Errorf("GET %s: %s, %d ready, want 1", u, resp.Status, q.MessagesReady)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return requests.Load()
}

func benchQueueName(i int) string { return fmt.Sprintf("bench-%05d", i) }

// managementDo sends one management API request with the harness's
// credentials and fails the benchmark on an unexpected status.
func managementDo(b *testing.B, method, path, body string, okStatus ...int) {
	b.Helper()
	req, err := http.NewRequest(method, broker.ManagementURL+path, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.SetBasicAuth(broker.Username, broker.Password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		b.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	for _, s := range okStatus {
		if resp.StatusCode == s {
			return
		}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	b.Fatalf("%s %s: %s %s", method, path, resp.Status, msg)
}

func createVhost(b *testing.B, vhost string) {
	managementDo(b, http.MethodPut, "/api/vhosts/"+url.PathEscape(vhost), "", http.StatusCreated, http.StatusNoContent)
	managementDo(b, http.MethodPut, "/api/permissions/"+url.PathEscape(vhost)+"/"+url.PathEscape(broker.Username),
		`{"configure":".*","write":".*","read":".*"}`, http.StatusCreated, http.StatusNoContent)
}

func deleteVhost(b *testing.B, vhost string) {
	managementDo(b, http.MethodDelete, "/api/vhosts/"+url.PathEscape(vhost), "", http.StatusNoContent, http.StatusNotFound)
}

// declareQueues declares n transient queues and publishes one message to
// each, over one channel with publisher confirms.
func declareQueues(b *testing.B, vhost string, n int) {
	b.Helper()
	u, err := url.Parse(broker.AMQPURL)
	if err != nil {
		b.Fatal("AMQP URL does not parse")
	}
	u.Path = "/" + vhost
	u.RawPath = "/" + url.PathEscape(vhost)
	conn, err := amqp.Dial(u.String())
	if err != nil {
		b.Fatalf("dialing vhost %q: %v", vhost, redactedErr(err))
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	var confirms []*amqp.DeferredConfirmation
	for i := range n {
		name := benchQueueName(i)
		if _, err := ch.QueueDeclare(name, false, false, false, false, nil); err != nil {
			b.Fatalf("declaring %s: %v", name, err)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", name, false, false, amqp.Publishing{Body: []byte("job")})
		if err != nil {
			b.Fatal(err)
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		if ok, err := dc.WaitContext(context.Background()); !ok || err != nil {
			b.Fatalf("publish not confirmed: %v", err)
		}
	}
}

// waitListed waits until the management API lists n queues in vhost, each
// with its message.
func waitListed(b *testing.B, vhost string, n int) {
	b.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	src := newSource(b, brokerConfig(b, queue.SourceManagement))
	var scope queue.Scope
	scope.Add(vhost)
	for {
		snap, err := src.Snapshot(context.Background(), scope)
		if err == nil {
			if tot, err := snap.Match(vhost, matchAll); err == nil && len(tot.Queues) == n && tot.Ready == int64(n) {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the management API never listed %d queues with a message each in %q (last error %v)", n, vhost, err)
		}
		time.Sleep(time.Second)
	}
}
