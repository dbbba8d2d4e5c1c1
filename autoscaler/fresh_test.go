package autoscaler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/queue"
)

// statsSource is a management API as of its last statistics sample.
type statsSource struct{ ready map[string]int64 }

func (s *statsSource) Snapshot(context.Context, queue.Scope) (*queue.Snapshot, error) {
	snap := queue.NewSnapshot("default", queue.SourceManagement, t0, queue.Coverage{Listed: true})
	for name, n := range s.ready {
		snap.Set(queue.QueueKey{Vhost: "/", Name: name}, queue.QueueStats{Ready: n, UnackedAvailable: true, SampleTime: t0})
	}
	return snap, nil
}

func (s *statsSource) Close() error { return nil }

// declareSource answers passive declares: the ready counts as they are now.
// With hang it answers only when its context ends.
type declareSource struct {
	ready map[string]int64
	err   error
	hang  bool

	mu       sync.Mutex
	scopes   []queue.Scope
	returned time.Time
}

func (s *declareSource) Snapshot(ctx context.Context, scope queue.Scope) (*queue.Snapshot, error) {
	s.mu.Lock()
	s.scopes = append(s.scopes, scope)
	s.mu.Unlock()
	if s.hang {
		<-ctx.Done()
		s.mu.Lock()
		s.returned = time.Now()
		s.mu.Unlock()
		return nil, &queue.BrokerError{Broker: "slow", Op: "amqp passive declare", Kind: queue.ErrBrokerUnavailable, Err: ctx.Err()}
	}
	if s.err != nil {
		return nil, s.err
	}
	snap := queue.NewSnapshot("default", queue.SourceAMQP, t0, queue.Coverage{})
	for _, k := range scope.Queues {
		snap.Set(k, queue.QueueStats{Ready: s.ready[k.Name], SampleTime: t0})
	}
	return snap, nil
}

func (s *declareSource) Close() error { return nil }

// The KEDA e2e knobs, on queue q.
func wakeAnnotations(q string) map[string]string {
	return ann(q, "target-depth-per-pod", "10", "min-replicas", "0", "max-replicas", "4", "activation-depth", "5", "scale-down-cooldown", "10s")
}

// TestFreshReadWakesAWorkloadAtZero: the statistics say 0 (their next
// sample is seconds away), the passive declare says 50: the workload at
// zero is scaled up in this tick. A workload with pods is not declared.
func TestFreshReadWakesAWorkloadAtZero(t *testing.T) {
	declare := &declareSource{ready: map[string]int64{"jobs": 50, "mail": 70}}
	r := queue.NewReader(&statsSource{ready: map[string]int64{"jobs": 0, "mail": 30}}, queue.ReaderOptions{Fresh: declare})
	f := newFixtureWith(t, func(c *Config) { c.Brokers["default"] = r },
		deployment("sleeper", 0, wakeAnnotations("jobs")),
		deployment("busy", 2, ann("mail", "target-depth-per-pod", "10", "min-replicas", "1")))

	res := f.ctrl.Tick(context.Background())

	if got := f.replicas("sleeper"); got != 4 {
		t.Errorf("sleeper replicas = %d, want 4 (50 ready by the passive declare / 10 per pod, at most 4); decision %q",
			got, res.Decisions["Deployment/ns/sleeper"].Reason)
	}
	if got := f.replicas("busy"); got != 3 {
		t.Errorf("busy replicas = %d, want 3 from the statistics (30 ready), not 7 from a declare", got)
	}
	want := []queue.Scope{{Queues: []queue.QueueKey{{Vhost: "/", Name: "jobs"}}}}
	if diff := cmp.Diff(want, declare.scopes); diff != "" {
		t.Errorf("fresh reads diff (-want +got):\n%s", diff)
	}

	// With no workload at zero, no fresh read.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if d, err := f.ctrl.in("ns").deploys.Deployments("ns").Get("sleeper"); err == nil && *d.Spec.Replicas == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lister does not see sleeper's 4 replicas after 10s")
		}
		time.Sleep(time.Millisecond)
	}
	f.clock.Step(time.Minute)
	f.ctrl.Tick(context.Background())
	if n := len(declare.scopes); n != 1 {
		t.Errorf("%d fresh reads after a tick with no workload at zero, want still 1", n)
	}
}

// TestFreshReadFailureKeepsTheStatistics: a fresh read that fails leaves
// the statistics' figures, available: no warning, no hold.
func TestFreshReadFailureKeepsTheStatistics(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stats int64
		want  int32
	}{
		{"statistics say 0: stays at zero", 0, 0},
		{"statistics say 30: scaled from them", 30, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			declare := &declareSource{err: &queue.BrokerError{Broker: "default", Op: "amqp dial", Kind: queue.ErrBrokerUnavailable, Err: errors.New("connection refused")}}
			r := queue.NewReader(&statsSource{ready: map[string]int64{"jobs": tt.stats}}, queue.ReaderOptions{Fresh: declare})
			f := newFixtureWith(t, func(c *Config) { c.Brokers["default"] = r }, deployment("sleeper", 0, wakeAnnotations("jobs")))
			res := f.ctrl.Tick(context.Background())
			if got := f.replicas("sleeper"); got != tt.want {
				t.Errorf("replicas = %d, want %d", got, tt.want)
			}
			if d := res.Decisions["Deployment/ns/sleeper"]; strings.Contains(d.Reason, "unavailable") {
				t.Errorf("reason %q: a failed fresh read must not make the queue unavailable", d.Reason)
			}
			for _, e := range f.events() {
				if strings.HasPrefix(e, "Warning") {
					t.Errorf("event %q after a failed fresh read, want none", e)
				}
			}
		})
	}
}

// TestFreshReadFailuresAreCounted: fast wake failing (the AMQP port
// closed, say) slows a wake down to the statistics interval and nothing
// else, so the metrics must show it: each failed fresh read counts by
// reason, and each read, failed or not, has its latency.
func TestFreshReadFailuresAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	declare := &declareSource{err: &queue.BrokerError{Broker: "default", Op: "amqp dial", Kind: queue.ErrBrokerUnavailable, Err: errors.New("connection refused")}}
	r := queue.NewReader(&statsSource{ready: map[string]int64{"jobs": 0}}, queue.ReaderOptions{Fresh: declare})
	f := newFixtureWith(t, func(c *Config) {
		c.Brokers["default"] = r
		c.Observer = metrics.NewCollectors(reg)
	}, deployment("sleeper", 0, wakeAnnotations("jobs")))
	f.ctrl.Tick(context.Background())
	f.ctrl.Tick(context.Background())
	declare.mu.Lock()
	declare.err, declare.ready = nil, map[string]int64{"jobs": 30}
	declare.mu.Unlock()
	f.ctrl.Tick(context.Background())
	if got := f.replicas("sleeper"); got != 3 {
		t.Errorf("replicas after the fresh read works again = %d, want 3 (30 ready at 10 a pod)", got)
	}
	want := `
# HELP rabbitscale_fresh_read_errors_total Failed fresh reads, by reason (unavailable, unauthorized, invalid_response, other); the statistics figures stand in.
# TYPE rabbitscale_fresh_read_errors_total counter
rabbitscale_fresh_read_errors_total{broker="default",reason="unavailable"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rabbitscale_fresh_read_errors_total"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var reads uint64
	for _, mf := range mfs {
		if mf.GetName() == "rabbitscale_fresh_read_duration_seconds" {
			for _, m := range mf.GetMetric() {
				reads += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if reads != 3 {
		t.Errorf("fresh read latencies observed = %d, want 3 (two failed reads and one that worked)", reads)
	}
}

// TestHangingFreshReadDelaysOnlyItsBroker: the second broker answers its
// main read but never its passive declare; the first broker's workload at
// zero is woken at once, not after the slow broker's deadline.
func TestHangingFreshReadDelaysOnlyItsBroker(t *testing.T) {
	const interval = 400 * time.Millisecond
	hang := &declareSource{hang: true}
	f := newFixtureWith(t, func(c *Config) {
		c.Interval = interval
		c.Brokers["default"] = queue.NewReader(&statsSource{ready: map[string]int64{"jobs": 0}},
			queue.ReaderOptions{Fresh: &declareSource{ready: map[string]int64{"jobs": 50}}})
		c.Brokers["slow"] = queue.NewReader(&statsSource{ready: map[string]int64{"jobs": 20}}, queue.ReaderOptions{Fresh: hang})
	},
		deployment("quick", 0, wakeAnnotations("jobs")),
		deployment("stuck", 0, func() map[string]string { a := wakeAnnotations("jobs"); a["rabbitscale.io/broker"] = "slow"; return a }()))
	var mu sync.Mutex
	scaled := map[string]time.Time{}
	f.kube.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		scaled[a.(k8stesting.UpdateAction).GetObject().(interface{ GetName() string }).GetName()] = time.Now()
		return false, nil, nil
	})

	f.ctrl.Tick(context.Background())

	if got := f.replicas("quick"); got != 4 {
		t.Errorf("quick replicas = %d, want 4 from its broker's fresh read", got)
	}
	if got := f.replicas("stuck"); got != 2 {
		t.Errorf("stuck replicas = %d, want 2 from its broker's statistics (20 ready) once the fresh read gave up", got)
	}
	hang.mu.Lock()
	returned := hang.returned
	hang.mu.Unlock()
	if lead := returned.Sub(scaled["quick"]); lead < interval/2 {
		t.Errorf("the quick workload was scaled %s before the hanging fresh read ended, want it scaled at once", lead)
	}
}
