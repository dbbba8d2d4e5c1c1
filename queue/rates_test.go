package queue

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestRateTracker(t *testing.T) {
	type obs struct {
		at        time.Duration // since t0
		counters  *Counters     // nil: counters unavailable
		ready     int64
		wantRates Rates
	}
	c := func(p, d, a int64) *Counters { return &Counters{Publish: p, Deliver: d, Ack: a} }
	tests := []struct {
		name    string
		window  time.Duration
		minSpan time.Duration
		obs     []obs
	}{
		{
			name: "steady rates, window reached", window: 20 * time.Second, minSpan: 10 * time.Second,
			obs: []obs{
				{at: 0, counters: c(0, 0, 0)},
				{at: 5 * time.Second, counters: c(50, 40, 40), wantRates: Rates{Span: 5 * time.Second}},
				{at: 10 * time.Second, counters: c(100, 80, 80), wantRates: Rates{Available: true, Publish: 10, Deliver: 8, Ack: 8, TrendAvailable: true, Span: 10 * time.Second}},
				{at: 20 * time.Second, counters: c(200, 160, 160), wantRates: Rates{Available: true, Publish: 10, Deliver: 8, Ack: 8, TrendAvailable: true, Span: 20 * time.Second}},
				{at: 40 * time.Second, counters: c(600, 160, 160), wantRates: Rates{Available: true, Publish: 20, Deliver: 0, Ack: 0, TrendAvailable: true, Span: 20 * time.Second}},
			},
		},
		{
			name: "frequent samples keep the base about one window old", window: 20 * time.Second, minSpan: 10 * time.Second,
			obs: func() []obs {
				var o []obs
				for s := int64(0); s <= 60; s++ {
					r := Rates{Span: time.Duration(s) * time.Second}
					if s >= 10 {
						r = Rates{Available: true, Publish: 3, TrendAvailable: true, DepthTrend: 1, Span: time.Duration(min(s, 20)) * time.Second}
						if s > 20 {
							// the base is the newest kept point at least 20s old;
							// kept points are 5s apart
							base := ((s - 20) / 5) * 5
							r.Span = time.Duration(s-base) * time.Second
						}
					}
					o = append(o, obs{at: time.Duration(s) * time.Second, counters: c(3*s, 0, 0), ready: s, wantRates: r})
				}
				return o
			}(),
		},
		{
			name: "counter reset: unavailable, never negative, then back", window: 10 * time.Second, minSpan: 10 * time.Second,
			obs: []obs{
				{at: 0, counters: c(500, 500, 500)},
				{at: 10 * time.Second, counters: c(600, 600, 600), wantRates: Rates{Available: true, Publish: 10, Deliver: 10, Ack: 10, TrendAvailable: true, Span: 10 * time.Second}},
				{at: 20 * time.Second, counters: c(5, 700, 700)},
				{at: 25 * time.Second, counters: c(55, 750, 750), wantRates: Rates{Span: 5 * time.Second}},
				{at: 30 * time.Second, counters: c(105, 800, 800), wantRates: Rates{Available: true, Publish: 10, Deliver: 10, Ack: 10, TrendAvailable: true, Span: 10 * time.Second}},
			},
		},
		{
			name: "missing samples: the rate spans the gap", window: 10 * time.Second, minSpan: 10 * time.Second,
			obs: []obs{
				{at: 0, counters: c(0, 0, 0)},
				{at: 30 * time.Second, counters: c(300, 0, 0), wantRates: Rates{Available: true, Publish: 10, TrendAvailable: true, Span: 30 * time.Second}},
			},
		},
		{
			name: "a gap longer than five windows restarts", window: 10 * time.Second, minSpan: 10 * time.Second,
			obs: []obs{
				{at: 0, counters: c(0, 0, 0)},
				{at: 61 * time.Second, counters: c(99999, 0, 0)},
				{at: 71 * time.Second, counters: c(100099, 0, 0), wantRates: Rates{Available: true, Publish: 10, TrendAvailable: true, Span: 10 * time.Second}},
			},
		},
		{
			name: "no counters: depth trend only", window: 10 * time.Second, minSpan: 10 * time.Second,
			obs: []obs{
				{at: 0, ready: 100},
				{at: 10 * time.Second, ready: 50, wantRates: Rates{TrendAvailable: true, DepthTrend: -5, Span: 10 * time.Second}},
			},
		},
		{
			name: "counters appear: restart", window: 10 * time.Second, minSpan: 10 * time.Second,
			obs: []obs{
				{at: 0, ready: 100},
				{at: 10 * time.Second, counters: c(10, 10, 10), ready: 100},
				{at: 20 * time.Second, counters: c(110, 10, 10), ready: 200, wantRates: Rates{Available: true, Publish: 10, TrendAvailable: true, DepthTrend: 10, Span: 10 * time.Second}},
			},
		},
		{
			name: "same sample time again, then a clock going back", window: 10 * time.Second, minSpan: 10 * time.Second,
			obs: []obs{
				{at: 0, counters: c(0, 0, 0)},
				{at: 10 * time.Second, counters: c(100, 0, 0), wantRates: Rates{Available: true, Publish: 10, TrendAvailable: true, Span: 10 * time.Second}},
				{at: 10 * time.Second, counters: c(120, 0, 0), wantRates: Rates{Available: true, Publish: 12, TrendAvailable: true, Span: 10 * time.Second}},
				{at: 5 * time.Second, counters: c(130, 0, 0)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRateTracker(tt.window, tt.minSpan)
			k := QueueKey{"/", "q"}
			for i, o := range tt.obs {
				q := QueueStats{Ready: o.ready, SampleTime: t0.Add(o.at)}
				if o.counters != nil {
					q.Counters, q.CountersAvailable = *o.counters, true
				}
				got := rt.add(k, q)
				// The recent rates have their own table (TestRecentRates).
				if diff := cmp.Diff(o.wantRates, got, cmpopts.IgnoreFields(Rates{}, "RecentPublish", "RecentDeliver", "RecentAck", "RecentSpan")); diff != "" {
					t.Errorf("observation %d at %s: rates diff (-want +got):\n%s", i, o.at, diff)
				}
				if got.Publish < 0 || got.Deliver < 0 || got.Ack < 0 {
					t.Errorf("observation %d: negative rate %+v", i, got)
				}
				if n := len(rt.series[k].pts); n > pointsPerWindow+2 {
					t.Errorf("observation %d: %d points kept, want at most %d", i, n, pointsPerWindow+2)
				}
			}
		})
	}
}

func TestRateTrackerForgetsDeletedQueues(t *testing.T) {
	rt := newRateTracker(10*time.Second, 10*time.Second)
	s1 := NewSnapshot("b", SourceManagement, t0, Coverage{Listed: true})
	s1.Set(QueueKey{"/", "a"}, QueueStats{SampleTime: t0})
	s1.Set(QueueKey{"/", "b"}, QueueStats{SampleTime: t0})
	rt.observe(s1)
	s2 := NewSnapshot("b", SourceManagement, t0, Coverage{Listed: true})
	s2.Set(QueueKey{"/", "b"}, QueueStats{SampleTime: t0.Add(time.Second)})
	rt.observe(s2)
	if _, ok := rt.series[QueueKey{"/", "a"}]; ok || len(rt.series) != 1 {
		t.Errorf("tracker holds %d queues (a kept: %v), want only b", len(rt.series), ok)
	}
}

// TestRateTrackerBucketedCounters replays the management API: counters
// refreshed in 5 s buckets and visible 0.8 s after each bucket starts, read
// every second. With the buckets' timestamps the rate is exact; dividing by
// the read times instead would be off by up to a third over a 15 s window.
func TestRateTrackerBucketedCounters(t *testing.T) {
	const truth = 10.0 // messages per second
	rt := newRateTracker(15*time.Second, 10*time.Second)
	naive := newRateTracker(15*time.Second, 10*time.Second)
	k := QueueKey{"/", "q"}
	var worstNaive float64
	for s := 1; s <= 60; s++ {
		at := time.Duration(s) * time.Second
		bucket := ((at - 800*time.Millisecond) / (5 * time.Second)) * (5 * time.Second)
		c := Counters{Publish: int64(truth * bucket.Seconds())}
		q := QueueStats{SampleTime: t0.Add(at), Counters: c, CountersAvailable: true, CountersTime: t0.Add(bucket)}
		got := rt.add(k, q)
		if got.Available && got.Publish != truth {
			t.Errorf("at %s: publish rate %.2f, want %.0f", at, got.Publish, truth)
		}
		if s == 60 && !got.Available {
			t.Errorf("rates unavailable after a minute")
		}
		q.CountersTime = time.Time{}
		if n := naive.add(k, q); n.Available {
			worstNaive = max(worstNaive, math.Abs(n.Publish-truth)/truth)
		}
	}
	if worstNaive < 0.2 {
		t.Errorf("the read-time control was off by at most %.0f%%; the test no longer shows why bucket times matter", 100*worstNaive)
	}
}

// TestRecentRates checks the rates between the two newest samples the
// broker took at different times. The consumers here keep up: deliveries
// and acks follow the publish counter.
func TestRecentRates(t *testing.T) {
	const none = -1 // no broker counter time: the sample time stands for it
	type obs struct {
		at, ct  time.Duration // since t0; ct none for none
		publish int64         // -1: counters unavailable
		want    float64
		span    time.Duration
	}
	s := func(n int) time.Duration { return time.Duration(n) * time.Second }
	tests := []struct {
		name string
		obs  []obs
	}{
		{
			name: "management buckets read every second",
			obs: []obs{
				{at: s(1), ct: s(0), publish: 0},
				{at: s(2), ct: s(0), publish: 0}, // the same bucket: still one sample
				{at: s(6), ct: s(5), publish: 50, want: 10, span: s(5)},
				{at: s(7), ct: s(5), publish: 50, want: 10, span: s(5)},
				{at: s(8), ct: s(5), publish: 50, want: 10, span: s(5)},
				{at: s(11), ct: s(10), publish: 50, want: 0, span: s(5)}, // quiet
				{at: s(12), ct: s(10), publish: 50, want: 0, span: s(5)},
				{at: s(16), ct: s(15), publish: 55, want: 1, span: s(5)},
			},
		},
		{
			name: "the same bucket read twice is not unchanged",
			obs: []obs{
				{at: s(1), ct: s(0), publish: 7},
				{at: s(2), ct: s(0), publish: 7},
				{at: s(3), ct: s(0), publish: 7},
			},
		},
		{
			// Without the broker's sample times two reads may fall within
			// one refresh of the endpoint's figures: the recent span is
			// then at least the minimum span, from the kept points.
			name: "no broker times: at least the minimum span",
			obs: []obs{
				{at: s(0), ct: none, publish: 0},
				{at: s(5), ct: none, publish: 10}, // 5 s: too short to tell
				{at: s(10), ct: none, publish: 20, want: 2, span: s(10)},
				{at: s(15), ct: none, publish: 20, want: 1, span: s(10)},
				{at: s(20), ct: none, publish: 20, want: 0, span: s(10)}, // quiet
				{at: s(21), ct: none, publish: 20, want: 0, span: s(11)},
			},
		},
		{
			name: "counter reset restarts it",
			obs: []obs{
				{at: s(0), ct: s(0), publish: 100},
				{at: s(5), ct: s(5), publish: 150, want: 10, span: s(5)},
				{at: s(10), ct: s(10), publish: 5},
				{at: s(11), ct: s(10), publish: 5},
				{at: s(15), ct: s(15), publish: 5, want: 0, span: s(5)},
			},
		},
		{
			name: "counter time going back restarts it",
			obs: []obs{
				{at: s(0), ct: s(5), publish: 0},
				{at: s(5), ct: s(10), publish: 50, want: 10, span: s(5)},
				{at: s(10), ct: s(5), publish: 60},
			},
		},
		{
			name: "source change restarts it",
			obs: []obs{
				{at: s(0), ct: s(0), publish: 0},
				{at: s(5), ct: s(5), publish: 50, want: 10, span: s(5)},
				{at: s(10), ct: none, publish: 100}, // broker times gone
				{at: s(15), ct: none, publish: 100}, // 5 s without broker times: too short
				{at: s(20), ct: none, publish: -1},  // counters gone
				{at: s(25), ct: none, publish: 200},
			},
		},
		{
			name: "a long gap restarts it",
			obs: []obs{
				{at: s(0), ct: s(0), publish: 0},
				{at: s(5), ct: s(5), publish: 5, want: 1, span: s(5)},
				{at: s(200), ct: s(200), publish: 5},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRateTracker(20*time.Second, 10*time.Second)
			k := QueueKey{"/", "q"}
			for i, o := range tt.obs {
				q := QueueStats{SampleTime: t0.Add(o.at)}
				if o.ct != none {
					q.CountersTime = t0.Add(o.ct)
				}
				if o.publish >= 0 {
					q.Counters, q.CountersAvailable = Counters{Publish: o.publish, Deliver: o.publish, Ack: o.publish}, true
				}
				got := rt.add(k, q)
				want := Rates{RecentPublish: o.want, RecentDeliver: o.want, RecentAck: o.want, RecentSpan: o.span}
				gotRecent := Rates{RecentPublish: got.RecentPublish, RecentDeliver: got.RecentDeliver, RecentAck: got.RecentAck, RecentSpan: got.RecentSpan}
				if diff := cmp.Diff(want, gotRecent); diff != "" {
					t.Errorf("observation %d at %s: recent rate diff (-want +got):\n%s", i, o.at, diff)
				}
			}
		})
	}
}
