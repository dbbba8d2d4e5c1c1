package queue

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Sentinel errors. Every error this package returns wraps at most one of
// them; test with errors.Is. None of them ever carries a password or the
// userinfo of a URL.
var (
	// ErrQueueNotFound says that a queue does not exist on a broker that
	// was read successfully. It concerns that queue only: other queues in
	// the same snapshot are unaffected.
	ErrQueueNotFound = errors.New("queue not found")
	// ErrStatsUnavailable says that the broker listed a queue without its
	// message counts yet (a queue declared or recovered less than a
	// statistics interval ago). It concerns that queue only.
	ErrStatsUnavailable = errors.New("queue statistics not available yet")
	// ErrBrokerUnavailable says that the broker could not be reached or
	// did not answer in time: connection refused, timeout, a 5xx answer,
	// or an AMQP connection that is closed and waiting for its next dial.
	ErrBrokerUnavailable = errors.New("broker unavailable")
	// ErrUnauthorized says that the broker refused the credentials or the
	// user's permissions: HTTP 401 or 403, AMQP ACCESS_REFUSED. It is
	// distinct from ErrBrokerUnavailable: retrying will not help.
	ErrUnauthorized = errors.New("broker refused the credentials")
	// ErrInvalidResponse says that the broker answered with something this
	// package does not understand: malformed JSON or Prometheus text, or
	// an unexpected status such as 404 for the whole queue listing.
	ErrInvalidResponse = errors.New("invalid response from broker")
	// ErrNotInScope says that a snapshot cannot answer for a queue because
	// the read did not cover it: a vhost outside the Scope, a pattern
	// lookup on a source that cannot list queues (AMQP), or a queue in
	// another vhost than the AMQP connection's.
	ErrNotInScope = errors.New("queue not covered by this snapshot")
	// ErrInvalidConfig says that a broker's configuration is wrong, or a
	// credential or certificate file it names cannot be read.
	ErrInvalidConfig = errors.New("invalid broker configuration")
	// ErrUnknownBroker says that no broker of that name is configured.
	ErrUnknownBroker = errors.New("unknown broker")
	// ErrFreshUnsupported says that a Reader has no fresh source: its
	// broker has no amqpURL beside its management or Prometheus source,
	// or is read by AMQP already.
	ErrFreshUnsupported = errors.New("no fresh read for this broker")
)

// BrokerError is a failure to read a broker. Kind is one of the sentinel
// errors above; Err, when set, is the underlying cause. errors.Is matches
// both.
type BrokerError struct {
	// Broker is the configured broker name.
	Broker string
	// Op says what failed, e.g. "GET http://rabbit:15672/api/queues?page=2"
	// or "amqp dial"; URLs in it never carry userinfo.
	Op string
	// Status is the HTTP status code, when there was one.
	Status int
	Kind   error
	Err    error
}

func (e *BrokerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "broker %q: %s", e.Broker, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so that errors.Is and errors.As
// see both.
func (e *BrokerError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// QueueError is a per-queue failure inside an otherwise good snapshot.
type QueueError struct {
	Broker string
	Queue  QueueKey
	Kind   error
	Err    error
}

func (e *QueueError) Error() string {
	s := fmt.Sprintf("broker %q: queue %s: %v", e.Broker, e.Queue, e.Kind)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause.
func (e *QueueError) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// redactURL returns u without userinfo (the password would otherwise leak
// into errors and logs).
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	return c.String()
}

// redactRawURL is redactURL for a string; an unparseable URL is not shown.
func redactRawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return redactURL(u)
}

// redactErr rewrites a *url.Error so that its URL carries no userinfo. The
// sources never put userinfo into request URLs; this is a second line of
// defence.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok && ue != nil { //nolint:errorlint // only the outermost error carries the URL text
		c := *ue
		c.URL = redactRawURL(ue.URL)
		return &c
	}
	return err
}
