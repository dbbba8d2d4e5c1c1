package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Re-dial pacing of the AMQP source: after the n-th failed dial in a row the
// next one waits min(initial*2^(n-1), max). The cap is short on purpose:
// the source is read once per tick, so at most one dial per tick is tried
// anyway, and a broker that is back must be read again on the first tick
// after it is: with a cap of half the shortest sensible tick (1 s), no tick
// ever finds the backoff still running. A
// dial to a dead loopback or cluster address fails at once; one to a
// black hole is bounded by the broker's timeout and costs only that
// broker's workloads.
const (
	DefaultRedialInitial = 250 * time.Millisecond
	DefaultRedialMax     = 500 * time.Millisecond
)

// AMQPSource reads queues with AMQP 0-9-1 passive declares, for brokers
// without the management plugin. A passive declare returns only the ready
// count and the consumer count, so the snapshot says that unacked messages
// and counters are unavailable (UnackedAvailable and CountersAvailable
// false) rather than reporting zeros. It cannot list queues: it reads the
// Scope's queues in the vhost of its URL, and pattern lookups on its
// snapshots return ErrNotInScope.
//
// It holds at most one connection. A closed connection is re-dialed lazily
// by the next read, no sooner than the backoff allows; reads in between
// fail fast with ErrBrokerUnavailable. A passive declare of a missing queue
// closes the channel (404); the next declare opens a new one.
type AMQPSource struct {
	name  string
	vhost string
	dial  func(ctx context.Context) (amqpConn, error)
	clock clock.PassiveClock
	// timeout bounds one read (dial included).
	timeout              time.Duration
	backoffInit, backoff time.Duration

	mu       sync.Mutex
	conn     amqpConn
	ch       amqpChannel
	failures int
	nextDial time.Time
	lastErr  error
	closed   bool
}

var _ Source = (*AMQPSource)(nil)

// amqpConn and amqpChannel are the few methods used of *amqp.Connection and
// *amqp.Channel, so that tests can fake them.
type amqpConn interface {
	Channel() (amqpChannel, error)
	IsClosed() bool
	Close() error
}

type amqpChannel interface {
	QueueDeclarePassive(name string, durable, autoDelete, exclusive, noWait bool, args amqp.Table) (amqp.Queue, error)
	IsClosed() bool
	Close() error
}

type realConn struct{ *amqp.Connection }

func (c realConn) Channel() (amqpChannel, error) {
	ch, err := c.Connection.Channel()
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// NewAMQPSource returns a source for cfg.AMQPURL. It does not dial: the
// first read does.
func NewAMQPSource(cfg BrokerConfig, clk clock.PassiveClock) (*AMQPSource, error) {
	cfg.Default() // a copy: unset fields get their defaults
	u, err := url.Parse(cfg.AMQPURL)
	if err != nil || cfg.AMQPURL == "" {
		return nil, fmt.Errorf("%w: broker %q: amqpURL is not a URL", ErrInvalidConfig, cfg.Name)
	}
	u.User = nil
	uri, err := amqp.ParseURI(u.String())
	if err != nil {
		return nil, fmt.Errorf("%w: broker %q: amqpURL %s: %w", ErrInvalidConfig, cfg.Name, redactURL(u), err)
	}
	var tlsCfg *tls.Config
	if uri.Scheme == "amqps" {
		if tlsCfg, err = cfg.TLS.tlsConfig(); err != nil {
			return nil, fmt.Errorf("broker %q: %w", cfg.Name, err)
		}
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	creds := cfg.Credentials.resolver()
	dialURL := u.String()
	timeout := cfg.Timeout.Duration
	connName := cfg.ConnectionName
	s := &AMQPSource{
		name:        cfg.Name,
		vhost:       uri.Vhost,
		clock:       clk,
		timeout:     timeout,
		backoffInit: DefaultRedialInitial,
		backoff:     DefaultRedialMax,
	}
	s.dial = func(ctx context.Context) (amqpConn, error) {
		up, _, err := creds()
		if err != nil {
			return nil, err
		}
		props := amqp.NewConnectionProperties()
		props.SetClientConnectionName(connName)
		conn, err := amqp.DialConfig(dialURL, amqp.Config{
			SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: up.user, Password: up.pass}},
			Vhost:           uri.Vhost,
			TLSClientConfig: tlsCfg,
			Heartbeat:       10 * time.Second,
			Properties:      props,
			Dial: func(network, addr string) (net.Conn, error) {
				d := net.Dialer{Timeout: timeout}
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				// Bounds the TLS and AMQP handshakes; amqp091 clears it
				// once the connection is open.
				return c, c.SetDeadline(time.Now().Add(timeout))
			},
		})
		if err != nil {
			return nil, err
		}
		return realConn{conn}, nil
	}
	return s, nil
}

// Close closes the connection.
func (s *AMQPSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.dropConn()
	return nil
}

// Snapshot passively declares every queue of the scope.
func (s *AMQPSource) Snapshot(ctx context.Context, scope Scope) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &BrokerError{Broker: s.name, Op: "amqp read", Kind: ErrBrokerUnavailable, Err: errors.New("source closed")}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	// amqp091 calls take no context: closing the connection is what
	// unblocks a declare that outlives the deadline.
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	snap := NewSnapshot(s.name, SourceAMQP, s.clock.Now(), Coverage{})
	for _, k := range scope.queueSet() {
		if k.Vhost != s.vhost {
			snap.SetError(k, &QueueError{Broker: s.name, Queue: k, Kind: ErrNotInScope,
				Err: fmt.Errorf("the AMQP connection is to vhost %q", s.vhost)})
			continue
		}
		st, qerr, err := s.declare(k)
		snap.Requests++
		if err != nil {
			s.dropConn()
			s.scheduleRedial(err)
			if ctx.Err() != nil {
				err = fmt.Errorf("no answer within %s: %w", s.timeout, ctx.Err())
			}
			return nil, &BrokerError{Broker: s.name, Op: "amqp passive declare", Kind: kindOfAMQP(err), Err: err}
		}
		if qerr != nil {
			snap.SetError(k, qerr)
			continue
		}
		snap.Set(k, st)
	}
	snap.Time = s.clock.Now()
	klog.FromContext(ctx).V(4).Info("Read queues by AMQP", "broker", s.name, "queues", snap.Len(), "requests", snap.Requests)
	return snap, nil
}

// declare reads one queue. A per-queue failure (404 not found, 403, 405
// exclusive elsewhere) comes back as qerr; a connection failure as err.
func (s *AMQPSource) declare(k QueueKey) (st QueueStats, qerr, err error) {
	if s.ch == nil || s.ch.IsClosed() {
		ch, err := s.conn.Channel()
		if err != nil {
			return st, nil, err
		}
		s.ch = ch
	}
	q, err := s.ch.QueueDeclarePassive(k.Name, false, false, false, false, nil)
	if err == nil {
		return QueueStats{Ready: int64(q.Messages), Consumers: int64(q.Consumers), SampleTime: s.clock.Now()}, nil, nil
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && !ae.Server {
		return st, nil, err // client side: the connection is gone
	}
	if s.conn.IsClosed() {
		return st, nil, err
	}
	// The server closed the channel with a soft error; the connection lives.
	s.ch = nil
	kind := ErrInvalidResponse
	if ae != nil {
		switch ae.Code {
		case amqp.NotFound:
			kind = ErrQueueNotFound
			err = nil
		case amqp.AccessRefused:
			kind = ErrUnauthorized
		}
	}
	return st, &QueueError{Broker: s.name, Queue: k, Kind: kind, Err: err}, nil
}

// connect dials when there is no open connection and the backoff allows.
func (s *AMQPSource) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	if s.conn != nil {
		// It was open and closed since the last read (broker restart,
		// network): with no failure counted yet, dial at once.
		s.dropConn()
	}
	now := s.clock.Now()
	if now.Before(s.nextDial) {
		// The same text as the failed dial itself: no countdown, so that a
		// warning deduplicated on its text is sent once per outage.
		return &BrokerError{Broker: s.name, Op: "amqp dial", Kind: kindOfAMQP(s.lastErr), Err: s.lastErr}
	}
	conn, err := s.dial(ctx)
	if err != nil {
		s.scheduleRedial(err)
		klog.FromContext(ctx).V(2).Info("AMQP dial failed", "broker", s.name, "failures", s.failures, "retryIn", s.nextDial.Sub(now), "err", err)
		return &BrokerError{Broker: s.name, Op: "amqp dial", Kind: kindOfAMQP(err), Err: err}
	}
	klog.FromContext(ctx).V(2).Info("AMQP connection open", "broker", s.name, "afterFailures", s.failures)
	s.conn, s.failures, s.lastErr, s.nextDial = conn, 0, nil, time.Time{}
	return nil
}

func (s *AMQPSource) scheduleRedial(err error) {
	s.failures++
	s.lastErr = err
	d := s.backoffInit
	for i := 1; i < s.failures && d < s.backoff; i++ {
		d *= 2
	}
	s.nextDial = s.clock.Now().Add(min(d, s.backoff))
}

func (s *AMQPSource) dropConn() {
	if s.ch != nil {
		_ = s.ch.Close()
		s.ch = nil
	}
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// kindOfAMQP tells refused credentials from an unreachable broker.
func kindOfAMQP(err error) error {
	var ae *amqp.Error
	switch {
	case errors.Is(err, ErrInvalidConfig):
		return ErrInvalidConfig
	case errors.As(err, &ae) && ae.Code == amqp.AccessRefused:
		return ErrUnauthorized
	case err != nil && strings.Contains(err.Error(), "username or password not allowed"):
		return ErrUnauthorized
	case err != nil:
		return transportKind(err) // TLS trouble or unreachable
	}
	return ErrBrokerUnavailable
}
