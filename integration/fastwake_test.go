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
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rabbitscale/rabbitscale/integration/harness"
	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// publishTo declares a durable queue on b and publishes n persistent
// messages with confirms; stamp, when set, gives message i its AMQP
// timestamp property.
func publishTo(ctx context.Context, t testing.TB, b *harness.Broker, q string, n int, stamp func(i int) time.Time) {
	t.Helper()
	conn, err := amqp.Dial(b.AMQPURL)
	if err != nil {
		t.Fatalf("dialing %s: %v", b, err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("opening a channel: %v", err)
	}
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		t.Fatalf("declaring %q: %v", q, err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("enabling confirms: %v", err)
	}
	confirms := make([]*amqp.DeferredConfirmation, 0, n)
	for i := range n {
		msg := amqp.Publishing{DeliveryMode: amqp.Persistent, Body: fmt.Appendf(nil, "job %d", i)}
		if stamp != nil {
			msg.Timestamp = stamp(i)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, false, false, msg)
		if err != nil {
			t.Fatalf("publishing: %v", err)
		}
		confirms = append(confirms, dc)
	}
	for i, dc := range confirms {
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			t.Fatalf("message %d not confirmed (ok=%v): %v", i, ok, err)
		}
	}
}

// managementQueue GETs one queue of vhost / from b's management API with
// the given columns and returns the raw body.
func managementQueue(ctx context.Context, t testing.TB, b *harness.Broker, q, columns string) []byte {
	t.Helper()
	body, err := getQueue(ctx, b, q, columns)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func getQueue(ctx context.Context, b *harness.Broker, q, columns string) ([]byte, error) {
	u := b.ManagementURL + "/api/queues/" + url.PathEscape("/") + "/" + url.PathEscape(q) + "?columns=" + columns
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(b.Username, b.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, fmt.Errorf("GET %s: %s: %w", u, resp.Status, err)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return body, nil
}

// TestManagementHeadMessageTimestamp checks head_message_timestamp on the
// real broker: its name and unit (whole seconds, from the AMQP timestamp
// property of the head ready message) as the management API sends it, and
// the figures queue reads from it.
func TestManagementHeadMessageTimestamp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	stamped, plain := uniqueQueue("stamped"), uniqueQueue("unstamped")
	publishTo(ctx, t, broker, stamped, 3, func(i int) time.Time { return base.Add(time.Duration(i) * 10 * time.Second) })
	publishTo(ctx, t, broker, plain, 2, nil)

	var raw struct {
		Head any `json:"head_message_timestamp"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		body := managementQueue(ctx, t, broker, stamped, "name,messages_ready,head_message_timestamp")
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
		if raw.Head != nil || time.Now().After(deadline) {
			t.Logf("management API: %s (published with timestamp %d, %s)", body, base.Unix(), base.UTC())
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, ok := raw.Head.(float64); !ok || int64(got) != base.Unix() {
		t.Fatalf("head_message_timestamp = %v (%T), want %d: whole seconds since the epoch", raw.Head, raw.Head, base.Unix())
	}
	t.Logf("management API, no timestamp property: %s", managementQueue(ctx, t, broker, plain, "name,messages_ready,head_message_timestamp"))

	brokers := openBrokers(t)
	defer func() { _ = brokers.Close() }()
	r, err := brokers.Reader("default")
	if err != nil {
		t.Fatal(err)
	}
	read := func() (stampedQ, plainQ queue.QueueStats, both queue.Totals) {
		t.Helper()
		snap, err := r.Snapshot(ctx, queue.Scope{Queues: []queue.QueueKey{{Vhost: "/", Name: stamped}, {Vhost: "/", Name: plain}}})
		if err != nil {
			t.Fatal(err)
		}
		stampedQ, _ = snap.Queue(queue.QueueKey{Vhost: "/", Name: stamped})
		plainQ, _ = snap.Queue(queue.QueueKey{Vhost: "/", Name: plain})
		both, _ = snap.Lookup("/", stamped, plain)
		return stampedQ, plainQ, both
	}
	s, p, both := read()
	if !s.HeadMessageTimestamp.Equal(base) {
		t.Errorf("HeadMessageTimestamp = %v, want %v", s.HeadMessageTimestamp, base)
	}
	if !p.HeadMessageTimestamp.IsZero() || p.Ready != 2 {
		t.Errorf("queue without timestamps: HeadMessageTimestamp = %v with %d ready, want zero with 2", p.HeadMessageTimestamp, p.Ready)
	}
	if !both.OldestReadyAt.IsZero() {
		t.Errorf("totals with a queue of unstamped ready messages: OldestReadyAt = %v, want zero (unknown)", both.OldestReadyAt)
	}

	// Take the head: the next message's timestamp is the head's.
	conn, err := amqp.Dial(broker.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ch.Get(stamped, true); !ok || err != nil {
		t.Fatalf("basic.get from %q: ok=%v, %v", stamped, ok, err)
	}
	want := base.Add(10 * time.Second)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		s, _, _ = read()
		if s.HeadMessageTimestamp.Equal(want) || time.Now().After(deadline) {
			break
		}
	}
	if !s.HeadMessageTimestamp.Equal(want) {
		t.Errorf("after taking the head: HeadMessageTimestamp = %v, want %v", s.HeadMessageTimestamp, want)
	}
}

// TestFastWakeFromZero: on a broker whose statistics refresh every 5 s
// (RabbitMQ's default collect_statistics_interval), a workload at zero with
// KEDA's e2e knobs is woken by the controller's passive declare within a
// tick and a second of a burst, not at the next statistics sample; and
// once a consumer has drained the queue it is back at zero within
// scale-to-zero-after (KEDA's cooldownPeriod, 10 s) and two ticks of the
// statistics showing the queue empty.
func TestFastWakeFromZero(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const statsInterval = 5 * time.Second
	slow, err := harness.StartBrokerWith(ctx, t.Logf, harness.BrokerOptions{StatsInterval: statsInterval})
	if err != nil {
		t.Fatal(err)
	}
	// A cleanup, not a defer: it runs after the controller's has stopped it.
	t.Cleanup(func() { _ = slow.Stop(context.Background()) })
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(slow.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	amqpURL, err := url.Parse(slow.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	amqpURL.User = nil // credentials come from the file

	q := uniqueQueue("wake")
	publishTo(ctx, t, slow, q, 0, nil) // declared, empty
	for deadline := time.Now().Add(3 * statsInterval); ; time.Sleep(200 * time.Millisecond) {
		if strings.Contains(string(managementQueue(ctx, t, slow, q, "name,messages_ready")), "messages_ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the management API has no statistics of %q after %s", q, 3*statsInterval)
		}
	}

	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	createDeployment(ctx, t, kc, ns, "sleeper", 0, annotations(q, "broker", "slowstats",
		"target-depth-per-pod", "10", "min-replicas", "0", "max-replicas", "4", "activation-depth", "5", "scale-to-zero-after", "10s"))
	startController(t, ns, queue.BrokerConfig{
		Name:          "slowstats",
		ManagementURL: slow.ManagementURL,
		AMQPURL:       amqpURL.String(),
		Credentials:   queue.Credentials{Username: slow.Username, PasswordFile: pw},
	})
	// The controller has decided for it: its queue is read.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := kc.AppsV1().Deployments(ns).Get(ctx, "sleeper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a := d.Annotations[policy.DecisionAnnotation]; a != "" && !strings.Contains(a, "unavailable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no decision with the queue available after 15s: %q", d.Annotations[policy.DecisionAnnotation])
		}
	}

	visible := make(chan time.Time, 1)
	go func() { // when the statistics show the burst, for comparison
		for ctx.Err() == nil {
			var st struct {
				Ready int `json:"messages_ready"`
			}
			if body, err := getQueue(ctx, slow, q, "messages_ready"); err == nil && json.Unmarshal(body, &st) == nil && st.Ready == 100 {
				visible <- time.Now()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	publishTo(ctx, t, slow, q, 100, nil)
	published := time.Now()
	up := waitReplicas(ctx, t, kc, ns, "sleeper", 4, 20*time.Second)
	lag := up.Sub(published)
	var stats time.Duration
	select {
	case at := <-visible:
		stats = at.Sub(published)
	case <-time.After(3 * statsInterval):
		stats = -1
	}
	t.Logf("burst of 100 on a workload at zero: replicas 0 -> 4 %s after the confirms (tick %s); the management API showed the 100 after %s (collect_statistics_interval %s)",
		lag.Round(10*time.Millisecond), tickInterval, stats.Round(10*time.Millisecond), statsInterval)
	if lag > tickInterval+time.Second {
		t.Errorf("scaled up %s after the burst, want within a tick (%s) plus 1s", lag, tickInterval)
	}

	// The drain: a consumer takes the 100 (prefetch 10, 20 ms each), and
	// nothing more is published.
	lastAck := drainQueue(ctx, t, slow, q, 100)
	var seenEmpty time.Time
	for deadline := time.Now().Add(3 * statsInterval); seenEmpty.IsZero(); time.Sleep(50 * time.Millisecond) {
		var st struct {
			Messages *int `json:"messages"`
		}
		if body, err := getQueue(ctx, slow, q, "messages"); err == nil && json.Unmarshal(body, &st) == nil && st.Messages != nil && *st.Messages == 0 {
			seenEmpty = time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the management API did not show %q empty within %s of the last ack", q, 3*statsInterval)
		}
	}
	const idle = 10 * time.Second
	zero := waitReplicas(ctx, t, kc, ns, "sleeper", 0, idle+3*statsInterval+5*time.Second)
	t.Logf("drained: replicas 4 -> 0 %s after the last ack, %s after the management API showed the queue empty (scale-to-zero-after %s, tick %s, collect_statistics_interval %s)",
		zero.Sub(lastAck).Round(10*time.Millisecond), zero.Sub(seenEmpty).Round(10*time.Millisecond), idle, tickInterval, statsInterval)
	// The quiet is counted from the first tick that saw the queue empty,
	// even when the counter samples prove the publishes over only later
	// (the burst's last publish came a few seconds before the last ack):
	// a tick for the controller to see what this test saw, the idle time,
	// a tick for the decision, and a second for the scale update and this
	// test's poll (measured 10.2 s, 10.2 s and 11.2 s; 10.1 s to 16.2 s
	// when the quiet waited for a whole still sample).
	if limit := idle + 2*tickInterval + time.Second; zero.Sub(seenEmpty) > limit {
		t.Errorf("zero %s after the queue was seen empty, want within scale-to-zero-after plus two ticks and a second (%s)", zero.Sub(seenEmpty), limit)
	}
}

// drainQueue consumes n messages from q on b, acknowledging each after
// 20 ms of "work" with a prefetch of 10, and returns when the last one was
// acknowledged.
func drainQueue(ctx context.Context, t *testing.T, b *harness.Broker, q string, n int) time.Time {
	t.Helper()
	conn, err := amqp.Dial(b.AMQPURL)
	if err != nil {
		t.Fatalf("dialing %s: %v", b, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatalf("consuming %q: %v", q, err)
	}
	for i := range n {
		select {
		case d, ok := <-deliveries:
			if !ok {
				t.Fatalf("the consumer closed after %d of %d messages", i, n)
			}
			time.Sleep(20 * time.Millisecond)
			if err := d.Ack(false); err != nil {
				t.Fatalf("ack: %v", err)
			}
		case <-ctx.Done():
			t.Fatalf("drained %d of %d messages: %v", i, n, ctx.Err())
		}
	}
	return time.Now()
}
