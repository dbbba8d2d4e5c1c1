package metrics

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// scaleUp is a decision a user would see after a backlog: depth asks for
// 14, the step limit clips it to 12.
func scaleUp() (policy.Observation, policy.Decision, policy.Spec) {
	spec := policy.DefaultSpec()
	spec.MinReplicas, spec.MaxReplicas = 1, 20
	obs := policy.Observation{Replicas: 10, Queue: policy.QueueObservation{
		Available: true, Ready: 4000, Unacked: 200, Consumers: 10,
		RatesAvailable: true, PublishRate: 120.5, DeliverRate: 90, AckRate: 80,
	}}
	d := policy.Decision{
		Current: 10, Desired: 12, Apply: true, Recommendation: 14, DrivenBy: policy.DrivenByDepth,
		Signals: policy.Signals{
			Depth: policy.Signal{Enabled: true, Available: true, Value: 4200, Target: 300, Recommendation: 14},
			Rate:  policy.Signal{Enabled: true, Available: true, Value: 130, Target: 9.45, Recommendation: 14},
			CPU:   policy.Signal{Enabled: false},
		},
		PerPodRate: 10.5, // the rate signal plans pods at 90% of it: Target 9.45
		Limits:     []policy.Limit{{Kind: policy.LimitScaleUpStep, From: 14, To: 12}},
		Reason:     "depth 4200 > 10 pods x 300 wants 14; max-scale-up-step 14 -> 12; scale 10 -> 12",
	}
	return obs, d, spec
}

func TestObserveWorkloadExposition(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := NewCollectors(reg)
	obs, d, spec := scaleUp()
	c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders", obs, d, spec)
	c.ObserveScale("Deployment", "shop", "worker", Direction(d.Current, d.Desired), d.DrivenBy)

	want := `
# HELP rabbitscale_workload_queue_messages_ready Messages ready for delivery in the workload's queues, summed.
# TYPE rabbitscale_workload_queue_messages_ready gauge
rabbitscale_workload_queue_messages_ready{broker="main",kind="Deployment",namespace="shop",queue="orders",workload="worker"} 4000
# HELP rabbitscale_workload_queue_messages_unacked Messages delivered and not yet acknowledged in the workload's queues, summed.
# TYPE rabbitscale_workload_queue_messages_unacked gauge
rabbitscale_workload_queue_messages_unacked{broker="main",kind="Deployment",namespace="shop",queue="orders",workload="worker"} 200
# HELP rabbitscale_workload_queue_consumers Consumers on the workload's queues, summed.
# TYPE rabbitscale_workload_queue_consumers gauge
rabbitscale_workload_queue_consumers{broker="main",kind="Deployment",namespace="shop",queue="orders",workload="worker"} 10
# HELP rabbitscale_workload_arrival_rate_messages_per_second Messages published into the workload's queues per second, computed from the broker's counters.
# TYPE rabbitscale_workload_arrival_rate_messages_per_second gauge
rabbitscale_workload_arrival_rate_messages_per_second{broker="main",kind="Deployment",namespace="shop",queue="orders",workload="worker"} 120.5
# HELP rabbitscale_workload_processing_rate_messages_per_second Messages the workload's consumers acknowledge (or receive, with auto-ack) per second.
# TYPE rabbitscale_workload_processing_rate_messages_per_second gauge
rabbitscale_workload_processing_rate_messages_per_second{broker="main",kind="Deployment",namespace="shop",queue="orders",workload="worker"} 80
# HELP rabbitscale_workload_per_pod_rate_messages_per_second Messages per second one pod processes: the learned rate, or the per-pod-rate annotation (raised while the pods it plans keep up) until one is learned. Absent when no rule that uses it (rate floor, rate or wait signal) knows one.
# TYPE rabbitscale_workload_per_pod_rate_messages_per_second gauge
rabbitscale_workload_per_pod_rate_messages_per_second{kind="Deployment",namespace="shop",workload="worker"} 10.5
# HELP rabbitscale_workload_signal_recommendation_replicas Replicas each enabled signal with data asks for, before tolerance, cooldowns, steps and bounds.
# TYPE rabbitscale_workload_signal_recommendation_replicas gauge
rabbitscale_workload_signal_recommendation_replicas{kind="Deployment",namespace="shop",signal="depth",workload="worker"} 14
rabbitscale_workload_signal_recommendation_replicas{kind="Deployment",namespace="shop",signal="rate",workload="worker"} 14
# HELP rabbitscale_workload_desired_replicas Replicas the last decision chose (what would be applied when paused or in dry-run).
# TYPE rabbitscale_workload_desired_replicas gauge
rabbitscale_workload_desired_replicas{kind="Deployment",namespace="shop",workload="worker"} 12
# HELP rabbitscale_workload_current_replicas Replicas the workload had when the last decision was made.
# TYPE rabbitscale_workload_current_replicas gauge
rabbitscale_workload_current_replicas{kind="Deployment",namespace="shop",workload="worker"} 10
# HELP rabbitscale_workload_max_replicas The workload's max-replicas annotation.
# TYPE rabbitscale_workload_max_replicas gauge
rabbitscale_workload_max_replicas{kind="Deployment",namespace="shop",workload="worker"} 20
# HELP rabbitscale_workload_paused 1 when the workload's paused annotation is true.
# TYPE rabbitscale_workload_paused gauge
rabbitscale_workload_paused{kind="Deployment",namespace="shop",workload="worker"} 0
# HELP rabbitscale_decisions_total Decisions made, by what drove the recommendation (depth, rate, wait, cpu, hold, fallback, idle, activation).
# TYPE rabbitscale_decisions_total counter
rabbitscale_decisions_total{driven_by="depth",kind="Deployment",namespace="shop",workload="worker"} 1
# HELP rabbitscale_decisions_clipped_total Decisions a limit moved away from what the signals asked for, by limit kind.
# TYPE rabbitscale_decisions_clipped_total counter
rabbitscale_decisions_clipped_total{kind="Deployment",limit="max-scale-up-step",namespace="shop",workload="worker"} 1
# HELP rabbitscale_scale_events_total Replica changes applied, by direction and by what drove the decision.
# TYPE rabbitscale_scale_events_total counter
rabbitscale_scale_events_total{direction="down",driven_by="activation",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="down",driven_by="cpu",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="down",driven_by="depth",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="down",driven_by="fallback",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="down",driven_by="idle",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="down",driven_by="rate",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="down",driven_by="wait",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="up",driven_by="activation",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="up",driven_by="cpu",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="up",driven_by="depth",kind="Deployment",namespace="shop",workload="worker"} 1
rabbitscale_scale_events_total{direction="up",driven_by="fallback",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="up",driven_by="idle",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="up",driven_by="rate",kind="Deployment",namespace="shop",workload="worker"} 0
rabbitscale_scale_events_total{direction="up",driven_by="wait",kind="Deployment",namespace="shop",workload="worker"} 0
`
	names := []string{
		"rabbitscale_workload_queue_messages_ready", "rabbitscale_workload_queue_messages_unacked", "rabbitscale_workload_queue_consumers",
		"rabbitscale_workload_arrival_rate_messages_per_second", "rabbitscale_workload_processing_rate_messages_per_second",
		"rabbitscale_workload_per_pod_rate_messages_per_second", "rabbitscale_workload_signal_recommendation_replicas",
		"rabbitscale_workload_desired_replicas", "rabbitscale_workload_current_replicas", "rabbitscale_workload_max_replicas",
		"rabbitscale_workload_paused", "rabbitscale_decisions_total", "rabbitscale_decisions_clipped_total", "rabbitscale_scale_events_total",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestQueueOutageRemovesDepthInsteadOfReportingZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCollectors(reg)
	obs, d, spec := scaleUp()
	c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders", obs, d, spec)

	obs.Queue = policy.QueueObservation{} // broker down
	d = policy.Decision{Current: 10, Desired: 10, Recommendation: 10, DrivenBy: policy.DrivenByHold,
		Signals: policy.Signals{Depth: policy.Signal{Enabled: true, Note: policy.NoteQueueUnavailable}},
		Limits:  []policy.Limit{{Kind: policy.LimitQueueUnavailable, From: 10, To: 10}}}
	c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders", obs, d, spec)

	want := `
# HELP rabbitscale_workload_queue_available 1 when the workload's queues could be read this tick, 0 when the controller holds or falls back.
# TYPE rabbitscale_workload_queue_available gauge
rabbitscale_workload_queue_available{broker="main",kind="Deployment",namespace="shop",queue="orders",workload="worker"} 0
# HELP rabbitscale_decisions_total Decisions made, by what drove the recommendation (depth, rate, wait, cpu, hold, fallback, idle, activation).
# TYPE rabbitscale_decisions_total counter
rabbitscale_decisions_total{driven_by="depth",kind="Deployment",namespace="shop",workload="worker"} 1
rabbitscale_decisions_total{driven_by="hold",kind="Deployment",namespace="shop",workload="worker"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rabbitscale_workload_queue_available", "rabbitscale_decisions_total",
		"rabbitscale_workload_queue_messages_ready", "rabbitscale_workload_signal_recommendation_replicas",
		"rabbitscale_workload_arrival_rate_messages_per_second"); err != nil {
		t.Error(err)
	}
}

func TestForgetWorkloadAndQueueChangeLeaveNoStaleSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCollectors(reg)
	obs, d, spec := scaleUp()
	c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders", obs, d, spec)
	c.ObserveWorkload("Deployment", "shop", "other", "main", "invoices", obs, d, spec)
	// The annotations now name another queue: the old queue's series go.
	c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders-v2", obs, d, spec)
	c.ObserveScale("Deployment", "shop", "worker", DirectionUp, policy.DrivenByDepth)
	c.ForgetWorkload("Deployment", "shop", "other")

	got := map[string][]string{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var wl, q string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "workload":
					wl = l.GetValue()
				case "queue":
					q = l.GetValue()
				}
			}
			if wl == "" {
				continue
			}
			key := wl
			if q != "" {
				key += "/" + q
			}
			if !slices.Contains(got[mf.GetName()], key) { // scale events: one per direction and driver
				got[mf.GetName()] = append(got[mf.GetName()], key)
			}
		}
	}
	want := map[string][]string{
		"rabbitscale_workload_queue_messages_ready": {"worker/orders-v2"},
		"rabbitscale_workload_desired_replicas":     {"worker"},
		"rabbitscale_decisions_total":               {"worker"},
		"rabbitscale_scale_events_total":            {"worker"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, got[name]); diff != "" {
			t.Errorf("%s series (-want +got):\n%s", name, diff)
		}
	}
}

func TestBrokerErrorsCountedByReasonWithoutURL(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCollectors(reg)
	c.ObserveBrokerRequest("main", 20*time.Millisecond, nil)
	c.ObserveBrokerRequest("main", 2*time.Second, &queue.BrokerError{Broker: "main", Kind: queue.ErrBrokerUnavailable, Err: errors.New("dial tcp 127.0.0.1:15672: connection refused")})
	c.ObserveBrokerRequest("backup", 5*time.Millisecond, fmt.Errorf("read: %w", queue.ErrUnauthorized))
	c.ObserveBrokerRequest("backup", 5*time.Millisecond, errors.New("something else"))

	want := `
# HELP rabbitscale_broker_up 1 when the last read of the broker succeeded.
# TYPE rabbitscale_broker_up gauge
rabbitscale_broker_up{broker="backup"} 0
rabbitscale_broker_up{broker="main"} 0
# HELP rabbitscale_broker_request_errors_total Failed broker reads, by reason (unavailable, unauthorized, invalid_response, other).
# TYPE rabbitscale_broker_request_errors_total counter
rabbitscale_broker_request_errors_total{broker="backup",reason="other"} 1
rabbitscale_broker_request_errors_total{broker="backup",reason="unauthorized"} 1
rabbitscale_broker_request_errors_total{broker="main",reason="unavailable"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rabbitscale_broker_up", "rabbitscale_broker_request_errors_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c.brokerLatency, "rabbitscale_broker_request_duration_seconds"); n != 2 {
		t.Errorf("broker latency histograms = %d, want one per broker (2)", n)
	}
}

func TestErrorKindsAreBoundedAndExportedFromStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCollectors(reg)
	c.ObserveError(ErrorKindApply)
	c.ObserveError("dial tcp 10.0.0.1: refused") // reason text must not become a label
	want := `
# HELP rabbitscale_errors_total Errors of the controller, by kind (broker, queue, spec, cpu, apply, state, other).
# TYPE rabbitscale_errors_total counter
rabbitscale_errors_total{kind="apply"} 1
rabbitscale_errors_total{kind="broker"} 0
rabbitscale_errors_total{kind="cpu"} 0
rabbitscale_errors_total{kind="other"} 1
rabbitscale_errors_total{kind="queue"} 0
rabbitscale_errors_total{kind="spec"} 0
rabbitscale_errors_total{kind="state"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rabbitscale_errors_total"); err != nil {
		t.Error(err)
	}
}

func TestTickAndApplyHistograms(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCollectors(reg)
	end := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c.ObserveTick(30*time.Millisecond, end)
	c.ObserveApply(4 * time.Millisecond)

	if got := testutil.ToFloat64(c.lastTick); got != float64(end.Unix()) {
		t.Errorf("rabbitscale_last_tick_timestamp_seconds = %v, want %v", got, end.Unix())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if h := mf.GetMetric()[0].GetHistogram(); h != nil {
			counts[mf.GetName()] = h.GetSampleCount()
		}
	}
	if diff := cmp.Diff(map[string]uint64{"rabbitscale_tick_duration_seconds": 1, "rabbitscale_apply_duration_seconds": 1}, counts); diff != "" {
		t.Errorf("histogram sample counts (-want +got):\n%s", diff)
	}
}

func TestNilControllerIgnoresCalls(t *testing.T) {
	var c *Collectors
	obs, d, spec := scaleUp()
	c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders", obs, d, spec)
	c.ObserveScale("Deployment", "shop", "worker", DirectionUp, d.DrivenBy)
	c.ObserveError(ErrorKindApply)
	c.ObserveTick(time.Second, time.Now())
	c.ObserveBrokerRequest("main", time.Second, nil)
	c.ObserveApply(time.Second)
	c.ForgetWorkload("Deployment", "shop", "worker")
	c.ForgetBroker("main")
}

func TestRegistryServesGoAndProcessMetrics(t *testing.T) {
	reg := NewRegistry()
	NewCollectors(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "rabbitscale_errors_total"} {
		if !have[name] {
			t.Errorf("%s is not exposed", name)
		}
	}
}

func TestDirection(t *testing.T) {
	got := []string{Direction(3, 5), Direction(5, 3), Direction(4, 4)}
	want := []string{"up", "down", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestAnnotationsInvalidGauge: rabbitscale_workload_annotations_invalid is
// 1 while a workload's annotations do not parse, replaces its decision
// series, stays across ticks, and goes once it is decided again or
// forgotten.
func TestAnnotationsInvalidGauge(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := NewCollectors(reg)
	obs, d, spec := scaleUp()
	const header = `
# HELP rabbitscale_workload_annotations_invalid 1 while the workload's rabbitscale.io/ annotations do not parse and it is not scaled; absent otherwise.
# TYPE rabbitscale_workload_annotations_invalid gauge
`
	const names = "rabbitscale_workload_annotations_invalid,rabbitscale_workload_desired_replicas"
	desired := func(workloads ...string) string {
		if len(workloads) == 0 {
			return ""
		}
		s := "# HELP rabbitscale_workload_desired_replicas Replicas the last decision chose (what would be applied when paused or in dry-run).\n# TYPE rabbitscale_workload_desired_replicas gauge\n"
		for _, w := range workloads {
			s += `rabbitscale_workload_desired_replicas{kind="Deployment",namespace="shop",workload="` + w + `"} 12` + "\n"
		}
		return s
	}
	invalid := header + `rabbitscale_workload_annotations_invalid{kind="Deployment",namespace="shop",workload="worker"} 1` + "\n"
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"both decided", func() {
			c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders", obs, d, spec)
			c.ObserveWorkload("Deployment", "shop", "other", "main", "invoices", obs, d, spec)
		}, desired("other", "worker")},
		{"worker broken", func() { c.ObserveAnnotationsInvalid("Deployment", "shop", "worker") }, invalid + desired("other")},
		{"still broken a tick later", func() {
			c.ObserveAnnotationsInvalid("Deployment", "shop", "worker")
			c.ObserveWorkload("Deployment", "shop", "other", "main", "invoices", obs, d, spec)
		}, invalid + desired("other")},
		{"fixed", func() { c.ObserveWorkload("Deployment", "shop", "worker", "main", "orders", obs, d, spec) }, desired("other", "worker")},
		{"broken again", func() { c.ObserveAnnotationsInvalid("Deployment", "shop", "worker") }, invalid + desired("other")},
		{"deleted", func() { c.ForgetWorkload("Deployment", "shop", "worker") }, desired("other")},
	}
	for _, s := range steps {
		s.do()
		if err := testutil.GatherAndCompare(reg, strings.NewReader(s.want), strings.Split(names, ",")...); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
}
