package queue

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testSnapshot() *Snapshot {
	s := NewSnapshot("main", SourceManagement, t0, Coverage{Listed: true})
	rates := func(p float64) Rates {
		return Rates{Available: true, Publish: p, Deliver: p, Ack: p, TrendAvailable: true, DepthTrend: 1, Span: 30 * time.Second}
	}
	for _, q := range []struct {
		vhost, name    string
		ready, unacked int64
		at             time.Duration
		rates          Rates
	}{
		{"/", "orders", 100, 10, 0, rates(5)},
		{"/", "orders-eu", 50, 5, time.Second, rates(2)},
		{"/", "invoices", 7, 0, 0, rates(1)},
		{"/", "new-queue", 1, 0, 0, Rates{Span: 2 * time.Second}},
		{"shop", "orders", 1000, 0, 0, rates(9)},
	} {
		s.Set(QueueKey{q.vhost, q.name}, QueueStats{Ready: q.ready, Unacked: q.unacked, UnackedAvailable: true, Consumers: 1,
			SampleTime: t0.Add(q.at), Rates: q.rates})
	}
	return s
}

func TestSnapshotLookup(t *testing.T) {
	s := testSnapshot()
	tests := []struct {
		name    string
		vhost   string
		names   []string
		want    Totals
		wantErr error
	}{
		{
			name: "one queue, default vhost", names: []string{"orders"},
			want: Totals{Queues: []QueueKey{{"/", "orders"}}, Ready: 100, Unacked: 10, Consumers: 1, UnackedAvailable: true,
				Rates: Rates{Available: true, Publish: 5, Deliver: 5, Ack: 5, TrendAvailable: true, DepthTrend: 1, Span: 30 * time.Second}, Oldest: t0},
		},
		{
			name: "a list is summed, repeats count once", vhost: "/", names: []string{"orders-eu", "orders", "orders-eu"},
			want: Totals{Queues: []QueueKey{{"/", "orders"}, {"/", "orders-eu"}}, Ready: 150, Unacked: 15, Consumers: 2, UnackedAvailable: true,
				Rates: Rates{Available: true, Publish: 7, Deliver: 7, Ack: 7, TrendAvailable: true, DepthTrend: 2, Span: 30 * time.Second}, Oldest: t0},
		},
		{
			name: "other vhost", vhost: "shop", names: []string{"orders"},
			want: Totals{Queues: []QueueKey{{"shop", "orders"}}, Ready: 1000, Consumers: 1, UnackedAvailable: true,
				Rates: Rates{Available: true, Publish: 9, Deliver: 9, Ack: 9, TrendAvailable: true, DepthTrend: 1, Span: 30 * time.Second}, Oldest: t0},
		},
		{
			name: "one queue without rates yet makes the sum's rates unavailable", names: []string{"orders", "new-queue"},
			want: Totals{Queues: []QueueKey{{"/", "new-queue"}, {"/", "orders"}}, Ready: 101, Unacked: 10, Consumers: 2, UnackedAvailable: true,
				Rates: Rates{Span: 2 * time.Second}, Oldest: t0},
		},
		{
			name: "a missing queue: partial totals and ErrQueueNotFound", names: []string{"orders", "gone"},
			want: Totals{Queues: []QueueKey{{"/", "orders"}}, Ready: 100, Unacked: 10, Consumers: 1, UnackedAvailable: true,
				Rates: Rates{Available: true, Publish: 5, Deliver: 5, Ack: 5, TrendAvailable: true, DepthTrend: 1, Span: 30 * time.Second}, Oldest: t0},
			wantErr: ErrQueueNotFound,
		},
		{
			name: "nothing found", names: []string{"gone"},
			want: Totals{Queues: []QueueKey{}}, wantErr: ErrQueueNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Lookup(tt.vhost, tt.names...)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("totals diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnapshotMatch(t *testing.T) {
	s := testSnapshot()
	tests := []struct {
		name    string
		vhost   string
		pattern string
		want    []QueueKey
		ready   int64
		wantErr error
	}{
		{name: "prefix", pattern: `^orders`, want: []QueueKey{{"/", "orders"}, {"/", "orders-eu"}}, ready: 150},
		{name: "whole name", pattern: `^orders$`, want: []QueueKey{{"/", "orders"}}, ready: 100},
		{name: "per vhost", vhost: "shop", pattern: `orders`, want: []QueueKey{{"shop", "orders"}}, ready: 1000},
		{name: "no match", pattern: `^payments`, wantErr: ErrQueueNotFound},
		{name: "unknown vhost lists nothing", vhost: "nope", pattern: `.*`, wantErr: ErrQueueNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Match(tt.vhost, regexp.MustCompile(tt.pattern))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got.Queues); diff != "" {
				t.Errorf("queues diff (-want +got):\n%s", diff)
			}
			if got.Ready != tt.ready {
				t.Errorf("ready = %d, want %d", got.Ready, tt.ready)
			}
		})
	}
}

func TestSnapshotCoverage(t *testing.T) {
	s := NewSnapshot("main", SourceManagement, t0, Coverage{Listed: true, Vhosts: []string{"a"}})
	s.Set(QueueKey{"a", "q"}, QueueStats{Ready: 1})
	for _, tc := range []struct {
		k    QueueKey
		want error
	}{
		{QueueKey{"a", "q"}, nil},
		{QueueKey{"a", "other"}, ErrQueueNotFound},
		{QueueKey{"b", "q"}, ErrNotInScope},
	} {
		if _, err := s.Queue(tc.k); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Queue(%s): err = %v, want %v", tc.k, err, tc.want)
		}
	}
	if _, err := s.Match("b", regexp.MustCompile(".")); !errors.Is(err, ErrNotInScope) {
		t.Errorf("Match outside the listed vhosts: err = %v, want ErrNotInScope", err)
	}
}

// TestSnapshotConcurrentMatch shares one snapshot between many workloads,
// as the controller does; run with -race.
func TestSnapshotConcurrentMatch(t *testing.T) {
	s := NewSnapshot("main", SourceManagement, t0, Coverage{Listed: true})
	for i := range 1000 {
		s.Set(QueueKey{"/", fmt.Sprintf("q-%04d", i)}, QueueStats{Ready: 1})
	}
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Go(func() {
			re := regexp.MustCompile(fmt.Sprintf(`^q-0%d`, w%10))
			tot, err := s.Match("/", re)
			if err != nil || tot.Ready != 100 {
				t.Errorf("workload %d: %d ready, %v; want 100", w, tot.Ready, err)
			}
			if _, err := s.Lookup("/", "q-0001"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// BenchmarkSnapshotMatch: 10,000 queues, one pattern per workload, as many
// distinct patterns as workloads (the worst case for the per-snapshot memo).
func BenchmarkSnapshotMatch(b *testing.B) {
	for _, patterns := range []int{1, 100} {
		b.Run(fmt.Sprintf("patterns=%d", patterns), func(b *testing.B) {
			res := make([]*regexp.Regexp, patterns)
			for i := range res {
				res[i] = regexp.MustCompile(fmt.Sprintf(`^jobs-%02d-`, i))
			}
			for b.Loop() {
				b.StopTimer()
				s := NewSnapshot("main", SourceManagement, t0, Coverage{Listed: true})
				for i := range 10000 {
					s.Set(QueueKey{"/", fmt.Sprintf("jobs-%02d-%05d", i%100, i)}, QueueStats{Ready: 1})
				}
				b.StartTimer()
				for w := range 1000 { // 1000 workloads
					if _, err := s.Match("/", res[w%patterns]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
