package queue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// managementColumns are the only fields asked of GET /api/queues. Both
// pagination and columns= work on RabbitMQ 3.10.8 (checked against a real
// node); an item without message_stats is a queue with no message traffic,
// or a broker whose statistics collection is off.
//
// The management plugin keeps message_stats in buckets (5 s with the default
// retention policies), so the counters it returns can be up to a bucket old
// whatever collect_statistics_interval is. msg_rates_age and msg_rates_incr
// make it return timestamped samples of the counters (the *_details.samples
// lists, at 5 s steps); the newest sample and its timestamp are used, so
// that rates are computed against the broker's own times. The
// *_details.rate fields that come along are never read.
//
// head_message_timestamp is the AMQP timestamp property (whole seconds since
// the epoch) of the queue's head ready message, absent or null without one.
const managementColumns = "name,vhost,messages_ready,messages_unacknowledged,consumers,consumer_utilisation,head_message_timestamp," +
	"message_stats.publish,message_stats.deliver_get,message_stats.ack," +
	"message_stats.publish_details.samples,message_stats.deliver_get_details.samples,message_stats.ack_details.samples"

// msgRatesIncr is the sample spacing asked for: the finest bucket of the
// default retention policies.
const msgRatesIncr = "5"

// ManagementSource reads the management plugin's HTTP API with one
// paginated GET /api/queues per read (or one per vhost, when the Scope names
// at most MaxVhostRequests vhosts).
type ManagementSource struct {
	name        string
	base        *url.URL
	http        httpEndpoint
	creds       credentialFunc
	clock       clock.PassiveClock
	pageSize    int
	concurrency int
	maxVhosts   int
}

var _ Source = (*ManagementSource)(nil)

// NewManagementSource returns a source for cfg.ManagementURL; unset fields
// of cfg take their defaults.
func NewManagementSource(cfg BrokerConfig, clk clock.PassiveClock) (*ManagementSource, error) {
	cfg.Default() // a copy: unset fields get their defaults
	base, err := url.Parse(strings.TrimRight(cfg.ManagementURL, "/"))
	if err != nil || cfg.ManagementURL == "" {
		return nil, fmt.Errorf("%w: broker %q: managementURL is not a URL", ErrInvalidConfig, cfg.Name)
	}
	base.User = nil
	tlsCfg, err := cfg.TLS.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("broker %q: %w", cfg.Name, err)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	conc := max(cfg.PageConcurrency, 1)
	return &ManagementSource{
		name:        cfg.Name,
		base:        base,
		http:        httpEndpoint{broker: cfg.Name, client: newHTTPClient(tlsCfg, conc), timeout: cfg.Timeout.Duration, maxBody: defaultMaxBody},
		creds:       cfg.Credentials.resolver(),
		clock:       clk,
		pageSize:    min(max(cfg.PageSize, 1), maxPageSize),
		concurrency: conc,
		maxVhosts:   cfg.MaxVhostRequests,
	}, nil
}

// Close closes idle connections.
func (m *ManagementSource) Close() error {
	m.http.client.CloseIdleConnections()
	return nil
}

// Snapshot lists the queues in scope, page by page.
func (m *ManagementSource) Snapshot(ctx context.Context, scope Scope) (*Snapshot, error) {
	up, ok, err := m.creds()
	if err != nil {
		return nil, &BrokerError{Broker: m.name, Op: "reading credentials", Kind: ErrInvalidConfig, Err: err}
	}
	var auth *userPass
	if ok {
		auth = &up
	}
	vhosts := scope.vhostSet()
	cov := Coverage{Listed: true}
	paths := []string{"/api/queues"}
	if len(vhosts) > 0 && len(vhosts) <= m.maxVhosts {
		cov.Vhosts = vhosts
		paths = paths[:0]
		for _, v := range vhosts {
			paths = append(paths, "/api/queues/"+url.PathEscape(v))
		}
	}
	// The whole read, every page included, takes at most the timeout.
	ctx, cancel := context.WithTimeout(ctx, m.http.timeout)
	defer cancel()
	l := &listing{m: m, auth: auth}
	for _, p := range paths {
		if err := l.list(ctx, p, len(cov.Vhosts) > 0); err != nil {
			return nil, err
		}
	}
	snap := NewSnapshot(m.name, SourceManagement, m.clock.Now(), cov)
	snap.Requests = l.requests
	for _, it := range l.items {
		k := QueueKey{Vhost: it.q.Vhost, Name: it.q.Name}
		if it.q.Ready == nil {
			snap.SetError(k, &QueueError{Broker: m.name, Queue: k, Kind: ErrStatsUnavailable})
			continue
		}
		if err := it.q.check(); err != nil {
			return nil, &BrokerError{Broker: m.name, Op: l.op, Kind: ErrInvalidResponse, Err: fmt.Errorf("queue %s: %w", k, err)}
		}
		st := QueueStats{
			Ready:            *it.q.Ready,
			UnackedAvailable: it.q.Unacked != nil,
			SampleTime:       it.at,
			// Without message_stats anywhere in the listing the broker
			// keeps no counters; otherwise a queue without them has had
			// no traffic and its counters are zero.
			CountersAvailable: l.anyStats,
		}
		if it.q.Unacked != nil {
			st.Unacked = *it.q.Unacked
		}
		if it.q.Consumers != nil {
			st.Consumers = *it.q.Consumers
		}
		if it.q.Utilisation.set {
			st.Utilisation, st.UtilisationAvailable = it.q.Utilisation.v, true
		}
		st.HeadMessageTimestamp = it.q.Head.at(it.at)
		if s := it.q.Stats; s != nil {
			st.Counters, st.CountersTime = s.counters()
		}
		snap.Set(k, st)
	}
	klog.FromContext(ctx).V(4).Info("Read management API", "broker", m.name, "queues", snap.Len(), "requests", snap.Requests)
	return snap, nil
}

// mgmtQueue is one item of GET /api/queues with managementColumns.
type mgmtQueue struct {
	Name        string    `json:"name"`
	Vhost       string    `json:"vhost"`
	Ready       *int64    `json:"messages_ready"`
	Unacked     *int64    `json:"messages_unacknowledged"`
	Consumers   *int64    `json:"consumers"`
	Utilisation optFloat  `json:"consumer_utilisation"`
	Head        headTime  `json:"head_message_timestamp"`
	Stats       *msgStats `json:"message_stats"`
}

// maxHeadAhead is how far after the sample time a head_message_timestamp
// may lie and still be believed: publishers' clocks differ a little from
// ours.
const maxHeadAhead = time.Minute

// headTime is head_message_timestamp: seconds since the epoch, or null,
// "" or absent. Anything else is unknown, never an error: the field is
// not worth refusing a queue's figures for.
type headTime struct {
	secs float64
	set  bool
}

func (h *headTime) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	h.secs, h.set = v, err == nil
	return nil
}

// at is the timestamp as a time, zero when absent or when it cannot be
// true: negative, or more than maxHeadAhead after the sample time (a
// publisher that set milliseconds, or a wrong clock). Such a value is
// unknown, not a reason to refuse the queue.
func (h headTime) at(sampled time.Time) time.Time {
	limit := sampled.Add(maxHeadAhead)
	if !h.set || h.secs < 0 || h.secs > float64(limit.Unix()) {
		return time.Time{}
	}
	return time.Unix(int64(h.secs), 0)
}

type msgStats struct {
	Publish           int64        `json:"publish"`
	DeliverGet        int64        `json:"deliver_get"`
	Ack               int64        `json:"ack"`
	PublishDetails    *statDetails `json:"publish_details"`
	DeliverGetDetails *statDetails `json:"deliver_get_details"`
	AckDetails        *statDetails `json:"ack_details"`
}

// statDetails holds the samples of one counter, newest first.
type statDetails struct {
	Samples []struct {
		Sample    int64 `json:"sample"`
		Timestamp int64 `json:"timestamp"` // milliseconds since the epoch
	} `json:"samples"`
}

// newest returns the newest sample of d.
func (d *statDetails) newest() (v, ms int64, ok bool) {
	if d == nil {
		return 0, 0, false
	}
	for _, s := range d.Samples {
		if s.Timestamp > ms {
			v, ms, ok = s.Sample, s.Timestamp, true
		}
	}
	return v, ms, ok
}

// counters returns the counters with the time the broker took them. When
// the samples are there, their values are used rather than the top-level
// counters, so that values and timestamp belong together whatever the
// broker's bucket size; without samples the time is zero.
func (s *msgStats) counters() (Counters, time.Time) {
	c := Counters{Publish: s.Publish, Deliver: s.DeliverGet, Ack: s.Ack}
	var newest int64
	for _, f := range []struct {
		d *statDetails
		v *int64
	}{{s.PublishDetails, &c.Publish}, {s.DeliverGetDetails, &c.Deliver}, {s.AckDetails, &c.Ack}} {
		if v, ms, ok := f.d.newest(); ok {
			*f.v = v
			newest = max(newest, ms)
		}
	}
	if newest <= 0 {
		return c, time.Time{}
	}
	return c, time.UnixMilli(newest)
}

// optFloat accepts a number, null, or "" (which some versions send for a
// queue without consumers).
type optFloat struct {
	v   float64
	set bool
}

func (o *optFloat) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" || s == `""` {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("consumer_utilisation %s is not a number", s)
	}
	o.v, o.set = v, true
	return nil
}

// check rejects figures that cannot be true: negative or absurd counts, a
// consumer utilisation outside 0..1.
func (q *mgmtQueue) check() error {
	for _, f := range []struct {
		name string
		v    *int64
	}{{"messages_ready", q.Ready}, {"messages_unacknowledged", q.Unacked}, {"consumers", q.Consumers}} {
		if f.v != nil {
			if err := checkCount(f.name, *f.v); err != nil {
				return err
			}
		}
	}
	if q.Utilisation.set && !(q.Utilisation.v >= 0 && q.Utilisation.v <= 1) {
		return fmt.Errorf("consumer_utilisation is %v, outside 0..1", q.Utilisation.v)
	}
	if s := q.Stats; s != nil {
		c, _ := s.counters()
		for _, f := range []struct {
			name string
			v    int64
		}{{"message_stats.publish", c.Publish}, {"message_stats.deliver_get", c.Deliver}, {"message_stats.ack", c.Ack}} {
			if err := checkCount(f.name, f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

type mgmtPage struct {
	Items     []mgmtQueue `json:"items"`
	Page      int         `json:"page"`
	PageCount int         `json:"page_count"`
	PageSize  int         `json:"page_size"`
	// FilteredCount is the number of queues the listing holds; RabbitMQ
	// sends it with every page.
	FilteredCount *int `json:"filtered_count"`
}

// check rejects a page whose pagination does not add up: a page count
// beyond the cap or beyond what filtered_count needs, more items than the
// page size, an empty page before the last, a queue named twice.
//
// pageSize is the size asked for; the page's own page_size, which RabbitMQ
// echoes, takes precedence when present.
func (pg *mgmtPage) check(n, pageSize int) error {
	if pg.PageSize > 0 {
		pageSize = pg.PageSize
	}
	switch {
	case pg.PageCount < 0 || pg.PageCount > maxPages:
		return fmt.Errorf("page_count is %d, beyond the cap of %d pages", pg.PageCount, maxPages)
	case pg.FilteredCount != nil && *pg.FilteredCount < 0:
		return fmt.Errorf("filtered_count is %d, a negative count", *pg.FilteredCount)
	case pg.FilteredCount != nil && pg.PageCount > max(1, (*pg.FilteredCount+pageSize-1)/pageSize):
		return fmt.Errorf("page_count is %d, but filtered_count %d needs %d pages of %d", pg.PageCount, *pg.FilteredCount,
			max(1, (*pg.FilteredCount+pageSize-1)/pageSize), pageSize)
	case len(pg.Items) > pageSize:
		return fmt.Errorf("page %d holds %d items, more than the page size %d", n, len(pg.Items), pageSize)
	case len(pg.Items) == 0 && n < pg.PageCount:
		return fmt.Errorf("page %d of %d is empty", n, pg.PageCount)
	}
	seen := make(map[QueueKey]bool, len(pg.Items))
	for _, it := range pg.Items {
		k := QueueKey{Vhost: it.Vhost, Name: it.Name}
		if it.Name == "" {
			return fmt.Errorf("page %d holds an item without a name", n)
		}
		if seen[k] {
			return fmt.Errorf("page %d names queue %s twice", n, k)
		}
		seen[k] = true
	}
	return nil
}

type timedQueue struct {
	q  mgmtQueue
	at time.Time
}

// listing accumulates the pages of one read.
type listing struct {
	m    *ManagementSource
	auth *userPass

	// op names the listing's request in errors, without the page: the
	// same problem gives the same message whichever page showed it.
	op string

	mu       sync.Mutex
	items    []timedQueue
	seen     map[QueueKey]bool
	requests int
	anyStats bool
}

// list fetches every page of one path: the first alone (to learn the page
// count), the others up to concurrency at a time. A page count that grows
// while paging (queues being declared) is followed. With perVhost, a 404
// means the vhost does not exist: it has no queues.
func (l *listing) list(ctx context.Context, path string, perVhost bool) error {
	pageCount, err := l.page(ctx, path, 1)
	if err != nil {
		var be *BrokerError
		if perVhost && errors.As(err, &be) && be.Status == http.StatusNotFound {
			return nil
		}
		return err
	}
	for next := 2; next <= pageCount; {
		last := pageCount
		ctx, cancel := context.WithCancel(ctx)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
			sem      = make(chan struct{}, l.m.concurrency)
		)
		for p := next; p <= last; p++ {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				pc, err := l.page(ctx, path, p)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					return
				}
				pageCount = max(pageCount, pc)
			}()
		}
		wg.Wait()
		cancel()
		if firstErr != nil {
			return firstErr
		}
		next = last + 1
	}
	return nil
}

// page fetches one page and returns the page count it reports.
func (l *listing) page(ctx context.Context, path string, n int) (int, error) {
	// path is already escaped ("/api/queues/%2F"): keep it so in RawPath.
	u := *l.m.base
	u.RawPath = l.m.base.EscapedPath() + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	q := url.Values{}
	q.Set("page", strconv.Itoa(n))
	q.Set("page_size", strconv.Itoa(l.m.pageSize))
	q.Set("columns", managementColumns)
	q.Set("msg_rates_age", msgRatesIncr)
	q.Set("msg_rates_incr", msgRatesIncr)
	u.RawQuery = q.Encode()
	op := "GET " + displayURL(&u)

	var pg mgmtPage
	pageSize := l.m.pageSize
	err := l.m.http.get(ctx, &u, op, l.auth, "application/json", func(r io.Reader) error {
		br := bufio.NewReader(r)
		first, err := peekNonSpace(br)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(br)
		if first == '[' { // a broker that ignores pagination
			pg.Page, pg.PageCount = 1, 1
			if err := dec.Decode(&pg.Items); err != nil {
				return err
			}
			pageSize = max(pageSize, len(pg.Items))
			return nil
		}
		return dec.Decode(&pg)
	})
	at := l.m.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	l.op = op
	if err != nil {
		return 0, err
	}
	if err := pg.check(n, pageSize); err != nil {
		return 0, &BrokerError{Broker: l.m.name, Op: op, Kind: ErrInvalidResponse, Err: err}
	}
	if l.seen == nil {
		l.seen = map[QueueKey]bool{}
	}
	for _, it := range pg.Items {
		k := QueueKey{Vhost: it.Vhost, Name: it.Name}
		if l.seen[k] { // a queue shifted across pages while paging
			continue
		}
		l.seen[k] = true
		l.anyStats = l.anyStats || it.Stats != nil
		l.items = append(l.items, timedQueue{q: it, at: at})
	}
	return pg.PageCount, nil
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}
