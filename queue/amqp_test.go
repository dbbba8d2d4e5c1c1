package queue

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
	testingclock "k8s.io/utils/clock/testing"
)

// fakeBrokerAMQP is the broker side of the fake connections: its queues and
// how many connections are open.
type fakeBrokerAMQP struct {
	mu       sync.Mutex
	queues   map[string]amqp.Queue
	open     int
	maxOpen  int
	dials    int
	channels int
	dialErr  error
}

type fakeConn struct {
	b      *fakeBrokerAMQP
	closed bool
}

type fakeChannel struct {
	c      *fakeConn
	closed bool
}

func (b *fakeBrokerAMQP) dial(context.Context) (amqpConn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dials++
	if b.dialErr != nil {
		return nil, b.dialErr
	}
	b.open++
	b.maxOpen = max(b.maxOpen, b.open)
	return &fakeConn{b: b}, nil
}

// drop closes every connection, as a broker restart does.
func (b *fakeBrokerAMQP) drop(c *fakeConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !c.closed {
		c.closed = true
		b.open--
	}
}

func (c *fakeConn) Channel() (amqpChannel, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.closed {
		return nil, amqp.ErrClosed
	}
	c.b.channels++
	return &fakeChannel{c: c}, nil
}

func (c *fakeConn) IsClosed() bool {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.closed
}

func (c *fakeConn) Close() error { c.b.drop(c); return nil }

func (ch *fakeChannel) QueueDeclarePassive(name string, _, _, _, _ bool, _ amqp.Table) (amqp.Queue, error) {
	b := ch.c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch.c.closed || ch.closed {
		return amqp.Queue{}, amqp.ErrClosed
	}
	q, ok := b.queues[name]
	if !ok {
		ch.closed = true // the server closes the channel
		return amqp.Queue{}, &amqp.Error{Code: amqp.NotFound, Reason: "NOT_FOUND - no queue '" + name + "' in vhost '/'", Server: true}
	}
	return q, nil
}

func (ch *fakeChannel) IsClosed() bool {
	ch.c.b.mu.Lock()
	defer ch.c.b.mu.Unlock()
	return ch.closed || ch.c.closed
}

func (ch *fakeChannel) Close() error { ch.closed = true; return nil }

func newFakeAMQP(t *testing.T, clk *testingclock.FakeClock) (*AMQPSource, *fakeBrokerAMQP) {
	t.Helper()
	t.Setenv("RABBITSCALE_TEST_PASSWORD", testPassword)
	bc := BrokerConfig{Name: "main", AMQPURL: "amqp://127.0.0.1:5672/", Credentials: Credentials{Username: "scaler", PasswordEnv: "RABBITSCALE_TEST_PASSWORD"}}
	bc.Default()
	s, err := NewAMQPSource(bc, clk)
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBrokerAMQP{queues: map[string]amqp.Queue{
		"orders":   {Name: "orders", Messages: 40, Consumers: 2},
		"invoices": {Name: "invoices", Messages: 3, Consumers: 0},
	}}
	s.dial = fb.dial
	t.Cleanup(func() { _ = s.Close() })
	return s, fb
}

func TestAMQPSnapshot(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	s, fb := newFakeAMQP(t, clk)
	var scope Scope
	scope.Add("/", "orders", "missing", "invoices", "orders")
	scope.Add("other-vhost", "q")
	snap, err := s.Snapshot(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	// Unacked and counters are unavailable, not zero.
	wantOrders := QueueStats{Ready: 40, Consumers: 2, SampleTime: t0}
	if got, err := snap.Queue(QueueKey{"/", "orders"}); err != nil || !cmp.Equal(wantOrders, got) {
		t.Errorf("orders diff (-want +got):\n%s (err %v)", cmp.Diff(wantOrders, got), err)
	}
	// The missing queue closed the channel; the next queue (invoices,
	// after "missing" in sorted order) still read on a new channel.
	if got, err := snap.Queue(QueueKey{"/", "invoices"}); err != nil || got.Ready != 3 {
		t.Errorf("invoices = %+v, %v; want 3 ready", got, err)
	}
	if _, err := snap.Queue(QueueKey{"/", "missing"}); !errors.Is(err, ErrQueueNotFound) {
		t.Errorf("missing: err = %v, want ErrQueueNotFound", err)
	}
	if _, err := snap.Queue(QueueKey{"other-vhost", "q"}); !errors.Is(err, ErrNotInScope) {
		t.Errorf("queue of another vhost: err = %v, want ErrNotInScope", err)
	}
	if _, err := snap.Queue(QueueKey{"/", "never-asked"}); !errors.Is(err, ErrNotInScope) {
		t.Errorf("queue outside the scope: err = %v, want ErrNotInScope", err)
	}
	if _, err := snap.Match("/", regexp.MustCompile(".*")); !errors.Is(err, ErrNotInScope) {
		t.Errorf("Match on an AMQP snapshot: err = %v, want ErrNotInScope", err)
	}
	tot, err := snap.Lookup("/", "orders", "invoices")
	if err != nil || tot.UnackedAvailable || tot.Rates.Available || tot.Ready != 43 {
		t.Errorf("Lookup = %+v, %v; want 43 ready, unacked and rates unavailable", tot, err)
	}
	if snap.Requests != 3 || fb.channels != 2 || fb.dials != 1 {
		t.Errorf("requests %d, channels %d, dials %d; want 3, 2, 1", snap.Requests, fb.channels, fb.dials)
	}
}

// TestAMQPRedial closes the connection under the source, as a broker
// restart does, and makes dials fail: the source must re-dial on the next
// read, back off while dials fail, and never hold two connections.
func TestAMQPRedial(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	s, fb := newFakeAMQP(t, clk)
	var scope Scope
	scope.Add("/", "orders")
	read := func() error {
		_, err := s.Snapshot(context.Background(), scope)
		return err
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("dial tcp 127.0.0.1:5672: connect: connection refused")

	type step struct {
		advance  time.Duration
		restart  bool // the broker drops the connection before the read
		dialErr  error
		wantErr  error
		wantDial int
	}
	steps := []step{
		{restart: true, wantDial: 2}, // closed: re-dial at once
		{restart: true, dialErr: refused, wantErr: ErrBrokerUnavailable, wantDial: 3},                   // broker down
		{advance: 100 * time.Millisecond, wantErr: ErrBrokerUnavailable, wantDial: 3},                   // within the 250ms backoff: no dial
		{advance: 200 * time.Millisecond, dialErr: refused, wantErr: ErrBrokerUnavailable, wantDial: 4}, // backoff now 500ms, the cap
		{advance: 300 * time.Millisecond, wantErr: ErrBrokerUnavailable, wantDial: 4},
		{advance: 300 * time.Millisecond, dialErr: refused, wantErr: ErrBrokerUnavailable, wantDial: 5},
		{advance: time.Second, dialErr: refused, wantErr: ErrBrokerUnavailable, wantDial: 6}, // a 1s tick re-dials on every tick
		{advance: time.Second, dialErr: refused, wantErr: ErrBrokerUnavailable, wantDial: 7},
		{advance: time.Second, wantDial: 8}, // back up: read on the first tick after
		{advance: time.Second, wantDial: 8}, // the connection is reused
	}
	var msgs []string
	for i, st := range steps {
		clk.Step(st.advance)
		if st.restart {
			for c := range openConns(s) {
				fb.drop(c)
			}
		}
		fb.mu.Lock()
		fb.dialErr = st.dialErr
		fb.mu.Unlock()
		err := read()
		if !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
			t.Errorf("step %d: err = %v, want %v", i, err, st.wantErr)
		}
		if err != nil && !slices.Contains(msgs, err.Error()) {
			msgs = append(msgs, err.Error())
		}
		if fb.dials != st.wantDial {
			t.Errorf("step %d: %d dials, want %d", i, fb.dials, st.wantDial)
		}
	}
	// Dials and fast failures within the backoff read the same: an event
	// deduplicated on its text is sent once for the whole outage.
	if want := []string{`broker "main": amqp dial: broker unavailable: ` + refused.Error()}; !slices.Equal(msgs, want) {
		t.Errorf("error texts during the outage = %q, want only %q", msgs, want)
	}
	if fb.maxOpen > 1 {
		t.Errorf("%d connections open at once, want at most 1", fb.maxOpen)
	}
	_ = s.Close()
	if fb.open != 0 {
		t.Errorf("%d connections open after Close, want 0", fb.open)
	}
}

func openConns(s *AMQPSource) map[*fakeConn]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[*fakeConn]bool{}
	if c, ok := s.conn.(*fakeConn); ok {
		m[c] = true
	}
	return m
}

func TestAMQPAuthFailure(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	s, fb := newFakeAMQP(t, clk)
	fb.dialErr = amqp.ErrCredentials
	_, err := s.Snapshot(context.Background(), Scope{Queues: []QueueKey{{"/", "orders"}}})
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrBrokerUnavailable) {
		t.Errorf("err = %v, want ErrUnauthorized and not ErrBrokerUnavailable", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error %q contains the password", err)
	}
}
