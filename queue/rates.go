package queue

import "time"

// Defaults for the rate computation.
const (
	// DefaultRateWindow is how far back the base sample of a rate lies.
	// Several collect_statistics_interval periods (5 s by default) fit in
	// it, so the broker's stepwise refresh of its counters averages out.
	DefaultRateWindow = 30 * time.Second
	// DefaultMinRateSpan is the shortest span over which a rate is
	// reported, after a start or a counter reset.
	DefaultMinRateSpan = 10 * time.Second
)

// rateTracker turns successive counter samples into rates. It keeps, per
// queue, a handful of samples spaced at least window/pointsPerWindow apart
// and computes each rate between the newest sample and the newest one that
// is at least window old (or the oldest one kept, while warming up).
//
// It is robust to:
//   - counter resets (a counter smaller than in the previous sample: queue
//     re-created, broker restarted): the history restarts and rates are
//     unavailable until minSpan has passed, never negative;
//   - missing samples: a failed read adds no sample, so the next rate spans
//     the gap; a gap longer than maxGapWindows windows restarts the history;
//   - the source losing or gaining counters: the history restarts.
//
// Beside the windowed rates it keeps the recent rates: between the
// newest point with counters and the newest earlier one whose counters the
// broker took at a different time (ct). The stored points cannot give it,
// since the newest of them moves forward while points are close together,
// so the two are kept apart (history.newest and history.prior). Two reads of the same broker bucket
// (the same ct) are one sample, never "no publish since".
//
// Queues absent from a snapshot are forgotten, so its memory follows the
// number of queues, not the number of reads.
type rateTracker struct {
	window  time.Duration
	minSpan time.Duration
	series  map[QueueKey]*history
}

const (
	pointsPerWindow = 4
	maxGapWindows   = 5
)

type point struct {
	t        time.Time // SampleTime: for the depth, and for keeping points
	ct       time.Time // when the counters were taken: CountersTime, or t
	brokerCT bool      // ct is the broker's timestamp
	c        Counters
	hasC     bool
	depth    int64
}

type history struct {
	pts []point
	// newest is the newest point with counters and prior the newest
	// before it whose ct differs; hasPrior says prior is set. They are
	// cleared whenever the history restarts.
	newest, prior       point
	hasNewest, hasPrior bool
}

// restart forgets every point: the counters can no longer be compared.
func (h *history) restart() {
	h.pts = h.pts[:0]
	h.hasNewest, h.hasPrior = false, false
}

// recent records p among the two newest distinct counter samples.
func (h *history) recent(p point) {
	switch {
	case !p.hasC:
		h.hasNewest, h.hasPrior = false, false
	case !h.hasNewest, p.ct.Before(h.newest.ct), counterWentBack(h.newest.c, p.c):
		h.newest, h.hasNewest, h.hasPrior = p, true, false
	case p.ct.Equal(h.newest.ct):
		// The same broker sample read again: not a new sample, so prior
		// stays; its figures are the newer ones.
		h.newest = p
	default:
		h.prior, h.hasPrior = h.newest, true
		h.newest = p
	}
}

func newRateTracker(window, minSpan time.Duration) *rateTracker {
	if window <= 0 {
		window = DefaultRateWindow
	}
	if minSpan <= 0 || minSpan > window {
		minSpan = min(DefaultMinRateSpan, window)
	}
	return &rateTracker{window: window, minSpan: minSpan, series: map[QueueKey]*history{}}
}

// observe computes the rates of every queue in s, in place, and forgets the
// queues s does not hold. It must run before s is shared.
func (rt *rateTracker) observe(s *Snapshot) {
	for k, q := range s.queues {
		q.Rates = rt.add(k, q)
		s.queues[k] = q
	}
	for k := range rt.series {
		if _, ok := s.queues[k]; !ok {
			delete(rt.series, k)
		}
	}
}

func (rt *rateTracker) add(k QueueKey, q QueueStats) Rates {
	p := point{t: q.SampleTime, ct: q.SampleTime, c: q.Counters, hasC: q.CountersAvailable, depth: q.Depth()}
	if !q.CountersTime.IsZero() {
		p.ct, p.brokerCT = q.CountersTime, true
	}
	h := rt.series[k]
	if h == nil {
		h = &history{pts: make([]point, 0, pointsPerWindow+2)}
		rt.series[k] = h
	}
	if n := len(h.pts); n > 0 {
		last := h.pts[n-1]
		switch {
		case p.t.Equal(last.t):
			// The same instant again: keep the newer figures.
			h.pts[n-1] = p
			h.recent(p)
			return rt.rates(h)
		case p.t.Before(last.t),
			p.hasC != last.hasC,
			p.brokerCT != last.brokerCT, // two clocks must not mix
			p.ct.Before(last.ct),
			p.hasC && counterWentBack(last.c, p.c),
			p.t.Sub(last.t) > maxGapWindows*rt.window:
			h.restart()
		}
	}
	h.recent(p)
	n := len(h.pts)
	if n >= 2 && h.pts[n-1].t.Sub(h.pts[n-2].t) < rt.window/pointsPerWindow {
		h.pts[n-1] = p // keep the stored points spaced; the newest moves forward
	} else {
		h.pts = append(h.pts, p)
	}
	// The base is the newest point at least a window old; drop older ones.
	cut := p.t.Add(-rt.window)
	drop := 0
	for drop+1 < len(h.pts)-1 && !h.pts[drop+1].t.After(cut) {
		drop++
	}
	if drop > 0 {
		h.pts = h.pts[:copy(h.pts, h.pts[drop:])]
	}
	return rt.rates(h)
}

// recentBetween sets the recent rates from the counters of two points, older
// first, when the broker took them at different times.
func (r *Rates) recentBetween(older, newer point) {
	span := newer.ct.Sub(older.ct)
	if span <= 0 {
		return
	}
	secs := span.Seconds()
	r.RecentSpan = span
	r.RecentPublish = float64(newer.c.Publish-older.c.Publish) / secs
	r.RecentDeliver = float64(newer.c.Deliver-older.c.Deliver) / secs
	r.RecentAck = float64(newer.c.Ack-older.c.Ack) / secs
}

func counterWentBack(prev, cur Counters) bool {
	return cur.Publish < prev.Publish || cur.Deliver < prev.Deliver || cur.Ack < prev.Ack
}

func (rt *rateTracker) rates(h *history) Rates {
	base, cur := h.pts[0], h.pts[len(h.pts)-1]
	span := cur.t.Sub(base.t)
	r := Rates{Span: span}
	switch {
	case h.hasPrior && h.newest.brokerCT:
		// Over the broker's last sampling step, whatever the window.
		r.recentBetween(h.prior, h.newest)
	case h.hasNewest && !h.newest.brokerCT:
		// Without the broker's own sample times (the Prometheus
		// endpoint), two reads within one refresh of its figures would
		// show a counter standing still while messages arrive: the
		// recent span is at least minSpan, from the stored points.
		for i := len(h.pts) - 1; i >= 0; i-- {
			p := h.pts[i]
			if p.hasC && h.newest.ct.Sub(p.ct) >= rt.minSpan {
				r.recentBetween(p, h.newest)
				break
			}
		}
	}
	if len(h.pts) < 2 || span < rt.minSpan {
		return r
	}
	secs := span.Seconds()
	r.TrendAvailable, r.DepthTrend = true, float64(cur.depth-base.depth)/secs
	// Counters are divided by the time between their own timestamps: with
	// the management API that is the broker's bucket times, which can
	// differ from the sample times by up to a bucket.
	if cspan := cur.ct.Sub(base.ct); cur.hasC && base.hasC && cspan > 0 {
		cs := cspan.Seconds()
		r.Available = true
		r.Publish = float64(cur.c.Publish-base.c.Publish) / cs
		r.Deliver = float64(cur.c.Deliver-base.c.Deliver) / cs
		r.Ack = float64(cur.c.Ack-base.c.Ack) / cs
	}
	return r
}
