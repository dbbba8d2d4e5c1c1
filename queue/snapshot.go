package queue

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"
)

// DefaultVhost is the vhost a lookup uses when it names none.
const DefaultVhost = "/"

// QueueKey names a queue on a broker.
type QueueKey struct {
	Vhost string
	Name  string
}

func (k QueueKey) String() string { return fmt.Sprintf("%q in vhost %q", k.Name, k.Vhost) }

// Counters are a queue's cumulative message counts as the broker reports
// them. They only grow, except when the queue is re-created or the broker
// restarts; rates are computed from their differences between samples.
type Counters struct {
	// Publish counts messages routed into the queue.
	Publish int64
	// Deliver counts deliveries to consumers and basic.get fetches, with
	// and without acknowledgement (the management API's deliver_get).
	Deliver int64
	// Ack counts acknowledgements by consumers.
	Ack int64
}

// QueueStats is one queue as read at SampleTime, with the rates the Reader
// computed from this and earlier samples.
type QueueStats struct {
	// Ready messages wait for a consumer.
	Ready int64
	// Unacked messages were delivered and are not acknowledged yet. It is
	// meaningful only when UnackedAvailable is true (not with AMQP).
	Unacked          int64
	UnackedAvailable bool
	Consumers        int64
	// Utilisation is the management API's consumer_utilisation (0..1),
	// meaningful only when UtilisationAvailable is true.
	Utilisation          float64
	UtilisationAvailable bool
	// Counters are meaningful only when CountersAvailable is true.
	Counters          Counters
	CountersAvailable bool
	// CountersTime is when the broker took Counters, when it says so: the
	// management API keeps them in 5 s buckets and returns the bucket's
	// timestamp. Zero when unknown; rates then use SampleTime.
	CountersTime time.Time
	// HeadMessageTimestamp is the publish time of the oldest ready message,
	// from its AMQP timestamp property (the management API's
	// head_message_timestamp, whole seconds). Zero when unknown: no ready
	// message, a publisher that sets no timestamp, a value that cannot be
	// true, or a source other than the management API.
	HeadMessageTimestamp time.Time
	// SampleTime is when the source received this queue's figures. The
	// broker's own statistics may be up to its collect_statistics_interval
	// older (management API and Prometheus endpoint).
	SampleTime time.Time
	// Rates are computed by a Reader; a bare Source leaves them zero.
	Rates Rates
}

// Depth is Ready plus Unacked, or Ready alone when Unacked is unavailable.
func (q QueueStats) Depth() int64 {
	if q.UnackedAvailable {
		return q.Ready + q.Unacked
	}
	return q.Ready
}

// Rates are messages per second over Span, computed from the package's own
// samples, never from the broker's *_details.rate fields.
type Rates struct {
	// Available is false until two samples with counters are at least the
	// Reader's MinRateSpan apart, after a counter went backwards (queue
	// re-created, broker restarted), and when the source has no counters.
	Available bool
	Publish   float64
	Deliver   float64
	Ack       float64
	// TrendAvailable says whether DepthTrend is meaningful. DepthTrend is
	// the change of Depth per second over Span (positive: growing). It is
	// the signal that remains when the counters are absent.
	TrendAvailable bool
	DepthTrend     float64
	// Span is the time between the SampleTimes of the two samples the
	// rates come from. Counter differences are divided by the time between
	// the counters' own timestamps (CountersTime) when the source has them.
	Span time.Duration
	// RecentPublish is the publish rate between the two newest samples
	// whose counters the broker took at different times (CountersTime,
	// else SampleTime): over one collect_statistics_interval with the
	// management API, whatever the window. 0 with a RecentSpan means the
	// publish counter did not move between them. RecentSpan is their
	// distance, 0 when unknown: fewer than two such samples since the
	// start, a counter reset, a change of source, or no counters. Two
	// reads of the same broker sample are one sample.
	RecentPublish float64
	RecentSpan    time.Duration
	// RecentDeliver and RecentAck are the deliver and ack rates over the
	// same span: what the consumers did in the last sampling step, which
	// the per-pod rate is learned from.
	RecentDeliver, RecentAck float64
}

// Coverage says which queues a snapshot can answer for.
type Coverage struct {
	// Listed is true when the source listed the queues, so that a queue
	// absent from a covered vhost does not exist and patterns can match.
	// The AMQP source does not list: it reads the queues it was asked for.
	Listed bool
	// Vhosts limits a listing to these vhosts; empty means every vhost.
	Vhosts []string
}

// Snapshot is one read of one broker, shared by every workload on it. Build
// it with NewSnapshot, Set and SetError, then share it: it is not to be
// modified once shared, and its lookups are safe for concurrent use.
type Snapshot struct {
	// Broker is the configured broker name.
	Broker string
	// Source names the kind of source that produced the snapshot.
	Source SourceKind
	// Time is when the read finished.
	Time time.Time
	// Requests counts the HTTP requests (or AMQP passive declares) the read
	// made.
	Requests int

	cov    Coverage
	vhosts map[string]bool
	queues map[QueueKey]QueueStats
	errs   map[QueueKey]error

	mu      sync.Mutex
	names   map[string][]string // vhost -> sorted queue names, built on first Match
	matches map[matchKey][]QueueKey
}

type matchKey struct{ vhost, pattern string }

// NewSnapshot returns an empty snapshot. Sources use it; so can tests that
// fake a Source.
func NewSnapshot(broker string, source SourceKind, at time.Time, cov Coverage) *Snapshot {
	s := &Snapshot{Broker: broker, Source: source, Time: at, cov: cov,
		queues: map[QueueKey]QueueStats{}, errs: map[QueueKey]error{}}
	if len(cov.Vhosts) > 0 {
		s.vhosts = make(map[string]bool, len(cov.Vhosts))
		for _, v := range cov.Vhosts {
			s.vhosts[v] = true
		}
	}
	return s
}

// Set records a queue's figures.
func (s *Snapshot) Set(k QueueKey, st QueueStats) {
	delete(s.errs, k)
	s.queues[k] = st
}

// SetError records that a queue could not be read; lookups of it return
// err (which should wrap ErrQueueNotFound or another sentinel).
func (s *Snapshot) SetError(k QueueKey, err error) {
	delete(s.queues, k)
	s.errs[k] = err
}

// Coverage returns what the snapshot covers.
func (s *Snapshot) Coverage() Coverage { return s.cov }

// Len is the number of queues with figures.
func (s *Snapshot) Len() int { return len(s.queues) }

// Keys returns the queues with figures, sorted by vhost and name.
func (s *Snapshot) Keys() []QueueKey {
	keys := make([]QueueKey, 0, len(s.queues))
	for k := range s.queues {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func compareKeys(a, b QueueKey) int {
	if a.Vhost != b.Vhost {
		if a.Vhost < b.Vhost {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

func (s *Snapshot) covers(vhost string) bool {
	return s.vhosts == nil || s.vhosts[vhost]
}

// Queue returns one queue's figures. A queue absent from a listing that
// covers its vhost yields an error wrapping ErrQueueNotFound; a queue the
// snapshot did not cover yields ErrNotInScope.
func (s *Snapshot) Queue(k QueueKey) (QueueStats, error) {
	if k.Vhost == "" {
		k.Vhost = DefaultVhost
	}
	if st, ok := s.queues[k]; ok {
		return st, nil
	}
	if err, ok := s.errs[k]; ok {
		return QueueStats{}, err
	}
	if s.cov.Listed && s.covers(k.Vhost) {
		return QueueStats{}, &QueueError{Broker: s.Broker, Queue: k, Kind: ErrQueueNotFound}
	}
	return QueueStats{}, &QueueError{Broker: s.Broker, Queue: k, Kind: ErrNotInScope}
}

// Totals sum the queues one workload consumes from.
type Totals struct {
	// Queues are the queues summed, sorted.
	Queues    []QueueKey
	Ready     int64
	Unacked   int64
	Consumers int64
	// UnackedAvailable is true when every queue summed has it.
	UnackedAvailable bool
	// Rates are the sums of the queues' rates. Available and
	// TrendAvailable hold only when they hold for every queue; Span is the
	// shortest span among them, and so is RecentSpan, which is 0 (and
	// RecentPublish with it) when any queue's is.
	Rates Rates
	// OldestReadyAt is the oldest HeadMessageTimestamp among the queues
	// summed; zero when unknown: no ready message anywhere, or a queue
	// with ready messages and no timestamp.
	OldestReadyAt time.Time
	// Oldest is the oldest SampleTime among the queues summed.
	Oldest time.Time
}

// Lookup sums the named queues of one vhost ("" means "/"); names may
// repeat. When some queues cannot be read, Lookup returns the totals of the
// others together with an error that joins one *QueueError per missing
// queue (errors.Is(err, ErrQueueNotFound) reports a missing one); the
// caller decides whether partial totals are usable.
func (s *Snapshot) Lookup(vhost string, names ...string) (Totals, error) {
	if vhost == "" {
		vhost = DefaultVhost
	}
	keys := make([]QueueKey, 0, len(names))
	for _, n := range names {
		keys = append(keys, QueueKey{Vhost: vhost, Name: n})
	}
	slices.SortFunc(keys, compareKeys)
	keys = slices.Compact(keys)
	var errs []error
	found := keys[:0:0]
	for _, k := range keys {
		if _, err := s.Queue(k); err != nil {
			errs = append(errs, err)
			continue
		}
		found = append(found, k)
	}
	return s.sum(found), errors.Join(errs...)
}

// Match sums the queues of one vhost ("" means "/") whose names re matches
// (re.MatchString: anchor the pattern with ^ and $ for a whole-name match).
// It runs over the snapshot without any request, and its result is
// memoized per snapshot, so workloads sharing a pattern share the work. It
// returns ErrNotInScope when the snapshot is not a listing of that vhost,
// and an error wrapping ErrQueueNotFound when nothing matches.
func (s *Snapshot) Match(vhost string, re *regexp.Regexp) (Totals, error) {
	if vhost == "" {
		vhost = DefaultVhost
	}
	if re == nil {
		return Totals{}, fmt.Errorf("%w: nil pattern", ErrInvalidConfig)
	}
	if !s.cov.Listed || !s.covers(vhost) {
		return Totals{}, &QueueError{Broker: s.Broker, Queue: QueueKey{Vhost: vhost, Name: re.String()}, Kind: ErrNotInScope,
			Err: errors.New("pattern lookups need a source that lists the vhost's queues")}
	}
	keys := s.matchKeys(vhost, re)
	if len(keys) == 0 {
		return Totals{}, &QueueError{Broker: s.Broker, Queue: QueueKey{Vhost: vhost, Name: re.String()}, Kind: ErrQueueNotFound,
			Err: errors.New("no queue matches the pattern")}
	}
	return s.sum(keys), nil
}

func (s *Snapshot) matchKeys(vhost string, re *regexp.Regexp) []QueueKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	mk := matchKey{vhost: vhost, pattern: re.String()}
	if keys, ok := s.matches[mk]; ok {
		return keys
	}
	if s.names == nil {
		s.names = map[string][]string{}
		for k := range s.queues {
			s.names[k.Vhost] = append(s.names[k.Vhost], k.Name)
		}
		for _, ns := range s.names {
			slices.Sort(ns)
		}
	}
	var keys []QueueKey
	for _, n := range s.names[vhost] {
		if re.MatchString(n) {
			keys = append(keys, QueueKey{Vhost: vhost, Name: n})
		}
	}
	if s.matches == nil {
		s.matches = map[matchKey][]QueueKey{}
	}
	s.matches[mk] = keys
	return keys
}

func (s *Snapshot) sum(keys []QueueKey) Totals {
	t := Totals{Queues: slices.Clone(keys), UnackedAvailable: true,
		Rates: Rates{Available: true, TrendAvailable: true}}
	if len(keys) == 0 {
		t.UnackedAvailable = false
		t.Rates = Rates{}
		return t
	}
	headKnown := true
	for i, k := range keys {
		q := s.queues[k]
		switch {
		case q.HeadMessageTimestamp.IsZero():
			headKnown = headKnown && q.Ready == 0
		case t.OldestReadyAt.IsZero() || q.HeadMessageTimestamp.Before(t.OldestReadyAt):
			t.OldestReadyAt = q.HeadMessageTimestamp
		}
		t.Ready += q.Ready
		t.Unacked += q.Unacked
		t.Consumers += q.Consumers
		t.UnackedAvailable = t.UnackedAvailable && q.UnackedAvailable
		if i == 0 || q.SampleTime.Before(t.Oldest) {
			t.Oldest = q.SampleTime
		}
		r := q.Rates
		t.Rates.Available = t.Rates.Available && r.Available
		t.Rates.TrendAvailable = t.Rates.TrendAvailable && r.TrendAvailable
		t.Rates.Publish += r.Publish
		t.Rates.Deliver += r.Deliver
		t.Rates.Ack += r.Ack
		t.Rates.DepthTrend += r.DepthTrend
		if i == 0 || r.Span < t.Rates.Span {
			t.Rates.Span = r.Span
		}
		t.Rates.RecentPublish += r.RecentPublish
		t.Rates.RecentDeliver += r.RecentDeliver
		t.Rates.RecentAck += r.RecentAck
		if i == 0 || r.RecentSpan < t.Rates.RecentSpan {
			t.Rates.RecentSpan = r.RecentSpan
		}
	}
	if !headKnown {
		t.OldestReadyAt = time.Time{}
	}
	if t.Rates.RecentSpan <= 0 {
		t.Rates.RecentPublish, t.Rates.RecentDeliver, t.Rates.RecentAck, t.Rates.RecentSpan = 0, 0, 0, 0
	}
	if !t.UnackedAvailable {
		t.Unacked = 0
	}
	if !t.Rates.Available {
		t.Rates.Publish, t.Rates.Deliver, t.Rates.Ack = 0, 0, 0
	}
	if !t.Rates.TrendAvailable {
		t.Rates.DepthTrend = 0
	}
	return t
}
