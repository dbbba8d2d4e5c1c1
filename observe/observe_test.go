package observe_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/observe"
	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func names(vhost string, ns ...string) policy.QueueSelector {
	return policy.QueueSelector{Vhost: vhost, Names: ns}
}

func pattern(vhost, re string) policy.QueueSelector {
	return policy.QueueSelector{Vhost: vhost, Pattern: regexp.MustCompile("^(?:" + re + ")$")}
}

func TestQueue(t *testing.T) {
	listing := queue.NewSnapshot("main", queue.SourceManagement, t0, queue.Coverage{Listed: true, Vhosts: []string{"/", "eu"}})
	set := func(s *queue.Snapshot, vhost, name string, ready, unacked, consumers int64) {
		s.Set(queue.QueueKey{Vhost: vhost, Name: name}, queue.QueueStats{Ready: ready, Unacked: unacked, UnackedAvailable: true,
			Consumers: consumers, SampleTime: t0})
	}
	set(listing, "/", "orders", 100, 10, 2)
	head := func(s *queue.Snapshot, vhost, name string, at time.Time) {
		k := queue.QueueKey{Vhost: vhost, Name: name}
		q, _ := s.Queue(k)
		q.HeadMessageTimestamp = at
		s.Set(k, q)
	}
	set(listing, "/", "orders-retry", 5, 0, 1)
	set(listing, "eu", "orders-eu", 40, 4, 3)
	set(listing, "eu", "orders-eu.dlq", 1000, 0, 0)
	head(listing, "/", "orders", t0.Add(-time.Minute))
	head(listing, "/", "orders-retry", t0.Add(-2*time.Minute))
	declared := queue.NewSnapshot("main", queue.SourceAMQP, t0, queue.Coverage{})
	declared.Set(queue.QueueKey{Vhost: "/", Name: "orders"}, queue.QueueStats{Ready: 7, Consumers: 1, SampleTime: t0})

	tests := []struct {
		name    string
		snap    *queue.Snapshot
		sel     policy.QueueSelector
		want    policy.QueueObservation
		wantErr error
	}{
		{"names are summed", listing, names("/", "orders", "orders-retry"),
			policy.QueueObservation{Available: true, Ready: 105, Unacked: 10, Consumers: 3, OldestReadyAt: t0.Add(-2 * time.Minute)}, nil},
		{"pattern matches whole names of its vhost only", listing, pattern("eu", "orders-[a-z]+"),
			policy.QueueObservation{Available: true, Ready: 40, Unacked: 4, Consumers: 3}, nil},
		{"one name missing makes it all unavailable", listing, names("/", "orders", "gone"),
			policy.QueueObservation{}, queue.ErrQueueNotFound},
		{"pattern matching nothing", listing, pattern("/", "invoices-.*"),
			policy.QueueObservation{}, queue.ErrQueueNotFound},
		{"vhost outside the listing", listing, names("us", "orders"),
			policy.QueueObservation{}, queue.ErrNotInScope},
		{"pattern on a source that does not list", declared, pattern("/", "orders.*"),
			policy.QueueObservation{}, queue.ErrNotInScope},
		{"declared queue without unacked", declared, names("/", "orders"),
			policy.QueueObservation{Available: true, Ready: 7, Consumers: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := observe.Queue(tt.snap, tt.sel)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("error = %v, want one wrapping %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("observation diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInclude(t *testing.T) {
	var sc queue.Scope
	observe.Include(&sc, names("/", "orders", "orders-retry"))
	observe.Include(&sc, pattern("eu", "orders-.*"))
	want := queue.Scope{
		Vhosts: []string{"eu"},
		Queues: []queue.QueueKey{{Vhost: "/", Name: "orders"}, {Vhost: "/", Name: "orders-retry"}},
	}
	if diff := cmp.Diff(want, sc); diff != "" {
		t.Errorf("scope diff (-want +got):\n%s", diff)
	}
}

// counterSource answers with one queue whose publish and ack counters
// grow by 50 and 40 a second of the clock the test moves.
type counterSource struct{ now time.Time }

func (s *counterSource) Snapshot(context.Context, queue.Scope) (*queue.Snapshot, error) {
	secs := int64(s.now.Sub(t0) / time.Second)
	snap := queue.NewSnapshot("main", queue.SourceManagement, s.now, queue.Coverage{Listed: true})
	snap.Set(queue.QueueKey{Vhost: "/", Name: "orders"}, queue.QueueStats{Ready: 20, UnackedAvailable: true, Consumers: 2,
		Counters: queue.Counters{Publish: 50 * secs, Deliver: 40 * secs, Ack: 40 * secs}, CountersAvailable: true, SampleTime: s.now})
	return snap, nil
}

func (s *counterSource) Close() error { return nil }

// The rates in the observation are the Reader's, from its own samples:
// none on the first read, the counters' slope once the span is long
// enough.
func TestQueueRatesFromTheReader(t *testing.T) {
	src := &counterSource{now: t0}
	r := queue.NewReader(src, queue.ReaderOptions{RateWindow: 30 * time.Second, MinRateSpan: 10 * time.Second})
	sel := names("/", "orders")
	read := func() policy.QueueObservation {
		t.Helper()
		snap, err := r.Snapshot(context.Background(), queue.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		obs, err := observe.Queue(snap, sel)
		if err != nil {
			t.Fatal(err)
		}
		return obs
	}
	if got := read(); got.RatesAvailable {
		t.Errorf("first read: rates available (%+v), want none from a single sample", got)
	}
	src.now = t0.Add(20 * time.Second)
	want := policy.QueueObservation{Available: true, Ready: 20, Consumers: 2,
		RatesAvailable: true, PublishRate: 50, DeliverRate: 40, AckRate: 40, RateSpan: 20 * time.Second,
		RecentPublishRate: 50, RecentDeliverRate: 40, RecentAckRate: 40, RecentRateSpan: 20 * time.Second}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("after 20 s: observation diff (-want +got):\n%s", diff)
	}
}

// The fresh read: which workloads want one, what it reads, and how its
// figure enters the observation.
func TestFresh(t *testing.T) {
	stats := queue.NewSnapshot("main", queue.SourceManagement, t0, queue.Coverage{Listed: true})
	for _, k := range []queue.QueueKey{{Vhost: "/", Name: "orders"}, {Vhost: "/", Name: "orders-retry"}, {Vhost: "/", Name: "mail"}, {Vhost: "eu", Name: "orders-eu"}} {
		stats.Set(k, queue.QueueStats{Ready: 0, UnackedAvailable: true, Consumers: 0, SampleTime: t0})
	}
	now := queue.NewSnapshot("main", queue.SourceAMQP, t0, queue.Coverage{})
	now.Set(queue.QueueKey{Vhost: "/", Name: "orders"}, queue.QueueStats{Ready: 30, Consumers: 9})
	now.Set(queue.QueueKey{Vhost: "/", Name: "orders-retry"}, queue.QueueStats{Ready: 20})
	now.SetError(queue.QueueKey{Vhost: "eu", Name: "orders-eu"}, &queue.QueueError{Broker: "main", Queue: queue.QueueKey{Vhost: "eu", Name: "orders-eu"}, Kind: queue.ErrNotInScope})

	atZero := observe.Workload{Replicas: 0, Queue: pattern("/", "orders.*")}
	running := observe.Workload{Replicas: 2, Queue: names("/", "mail")}
	otherVhost := observe.Workload{Replicas: 0, Queue: names("eu", "orders-eu")}
	missing := observe.Workload{Replicas: 0, Queue: names("/", "gone")}

	sc := observe.FreshScope(stats, atZero, running, otherVhost, missing)
	want := queue.Scope{Queues: []queue.QueueKey{{Vhost: "/", Name: "orders"}, {Vhost: "/", Name: "orders-retry"}, {Vhost: "eu", Name: "orders-eu"}}}
	if diff := cmp.Diff(want, sc); diff != "" {
		t.Errorf("fresh scope diff (-want +got):\n%s", diff)
	}
	if sc := observe.FreshScope(stats, running); len(sc.Queues)+len(sc.Vhosts) != 0 {
		t.Errorf("fresh scope with no workload at zero = %+v, want empty", sc)
	}

	tests := []struct {
		name  string
		fresh *queue.Snapshot
		w     observe.Workload
		want  int64
	}{
		{"at zero: the fresh ready count of the pattern's queues", now, atZero, 50},
		{"no fresh read: the statistics", nil, atZero, 0},
		{"with pods: the statistics", now, observe.Workload{Replicas: 1, Queue: atZero.Queue}, 0},
		{"a queue the fresh read could not answer for: the statistics", now, otherVhost, 0},
		{"one queue of several missing from the fresh read: the statistics", now,
			observe.Workload{Queue: names("/", "orders", "mail")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := observe.QueueFresh(stats, tt.fresh, tt.w)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := observe.Queue(stats, tt.w.Queue)
			want.Ready = tt.want // and nothing else from the fresh read
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("observation diff (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := observe.QueueFresh(stats, now, missing); !errors.Is(err, queue.ErrQueueNotFound) {
		t.Errorf("a queue the statistics do not have: error %v, want ErrQueueNotFound whatever the fresh read", err)
	}
}

type countingFresh struct{ scopes []queue.Scope }

func (c *countingFresh) Fresh(_ context.Context, sc queue.Scope) (*queue.Snapshot, error) {
	c.scopes = append(c.scopes, sc)
	return queue.NewSnapshot("main", queue.SourceAMQP, t0, queue.Coverage{}), nil
}

func TestReadFresh(t *testing.T) {
	stats := queue.NewSnapshot("main", queue.SourceManagement, t0, queue.Coverage{Listed: true})
	stats.Set(queue.QueueKey{Vhost: "/", Name: "jobs"}, queue.QueueStats{SampleTime: t0})
	r := &countingFresh{}
	if got, err := observe.ReadFresh(context.Background(), r, stats, observe.Workload{Replicas: 3, Queue: names("/", "jobs")}); got != nil || err != nil || len(r.scopes) != 0 {
		t.Errorf("no workload at zero: ReadFresh = %v, %v after %d reads; want nil, nil and no read", got, err, len(r.scopes))
	}
	if got, err := observe.ReadFresh(context.Background(), r, stats, observe.Workload{Queue: names("/", "jobs")}); got == nil || err != nil || len(r.scopes) != 1 {
		t.Errorf("a workload at zero: ReadFresh = %v, %v after %d reads; want one read", got, err, len(r.scopes))
	}
}
