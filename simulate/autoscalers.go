package simulate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// ErrBadBaseline is returned by ParseBaseline for a name it does not know.
var ErrBadBaseline = errors.New("unknown baseline")

// Autoscaler decides the replica count of the simulated workload: rabbitscale
// or a baseline. Run calls
// Decide every Interval of simulated time, from time zero.
type Autoscaler interface {
	Name() string
	Interval() time.Duration
	Decide(now time.Time, v View) Choice
}

// View is what a controller can see at a tick.
type View struct {
	// Observation is what rabbitscale's controller would pass to
	// policy.Decide: the spec replicas, the queue figures of the broker's
	// last statistics sample with rates from the controller's own
	// samples, and one CPU sample per pod.
	Observation policy.Observation
}

// Choice is a controller's answer: the replicas it wants, and why.
type Choice struct {
	Desired int32
	Reason  string
}

// Rabbitscale runs the real engine, policy.Decide, keeping its State
// between ticks as the controller does.
type Rabbitscale struct {
	Spec  policy.Spec
	Every time.Duration
	state policy.State
}

// Name implements Autoscaler.
func (r *Rabbitscale) Name() string { return "rabbitscale" }

// Interval implements Autoscaler.
func (r *Rabbitscale) Interval() time.Duration { return r.Every }

// Decide implements Autoscaler.
func (r *Rabbitscale) Decide(now time.Time, v View) Choice {
	d, next := policy.Decide(r.Spec, v.Observation, r.state, now)
	r.state = next
	if !d.Apply {
		return Choice{Desired: v.Observation.Replicas, Reason: d.Reason}
	}
	return Choice{Desired: d.Desired, Reason: d.Reason}
}

// Fixed never scales.
type Fixed struct{ Replicas int32 }

// Name implements Autoscaler.
func (f Fixed) Name() string { return "fixed:" + strconv.Itoa(int(f.Replicas)) }

// Interval implements Autoscaler.
func (f Fixed) Interval() time.Duration { return time.Minute }

// Decide implements Autoscaler.
func (f Fixed) Decide(time.Time, View) Choice { return Choice{Desired: f.Replicas, Reason: "fixed"} }

// KEDA is a ScaledObject with a rabbitmq trigger in QueueLength mode: the
// metric is the queue depth (ready, plus unacked when the spec counts
// them), read every Poll (pollingInterval, 30 s) and served from that read
// to the HPA, which syncs every Sync (15 s) with an AverageValue target of
// TargetDepth per pod and the default behavior. With Min 0, KEDA itself
// activates from zero when a poll sees more than zero messages and scales
// to zero after CooldownPeriod (300 s) without any.
type KEDA struct {
	TargetDepth          int64
	CountUnacked         bool
	Min, Max             int32
	Poll, Sync, Cooldown time.Duration

	hpa      *HPA
	polled   time.Time
	hasPoll  bool
	metric   float64
	ok       bool
	lastSeen time.Time
}

// NewKEDA returns the baseline for a spec: its target depth, unacked
// counting and bounds, with KEDA's and the HPA's defaults.
func NewKEDA(spec policy.Spec) *KEDA {
	return &KEDA{
		TargetDepth: spec.TargetDepthPerPod, CountUnacked: spec.CountUnacked,
		Min: spec.MinReplicas, Max: spec.MaxReplicas,
		Poll: 30 * time.Second, Sync: 15 * time.Second, Cooldown: 300 * time.Second,
		hpa: NewHPA(max(spec.MinReplicas, 1), spec.MaxReplicas),
	}
}

// Name implements Autoscaler.
func (k *KEDA) Name() string { return "keda" }

// Interval implements Autoscaler.
func (k *KEDA) Interval() time.Duration { return k.Sync }

// Decide implements Autoscaler.
func (k *KEDA) Decide(now time.Time, v View) Choice {
	cur := v.Observation.Replicas
	if !k.hasPoll || now.Sub(k.polled) >= k.Poll {
		k.hasPoll, k.polled = true, now
		q := v.Observation.Queue
		k.ok = q.Available
		if k.ok {
			k.metric = float64(q.Ready)
			if k.CountUnacked {
				k.metric += float64(q.Unacked)
			}
			if k.metric > 0 || k.lastSeen.IsZero() {
				k.lastSeen = now
			}
		}
	}
	if !k.ok {
		return Choice{Desired: cur, Reason: "metric unavailable: hold"}
	}
	if cur == 0 {
		if k.metric > 0 {
			return Choice{Desired: 1, Reason: fmt.Sprintf("activate: depth %.0f > 0", k.metric)}
		}
		return Choice{Desired: 0, Reason: "inactive"}
	}
	if k.Min == 0 && k.metric == 0 && now.Sub(k.lastSeen) >= k.Cooldown {
		return Choice{Desired: 0, Reason: "deactivate after cooldownPeriod"}
	}
	rec := k.hpa.PerPodReplicas(cur, k.metric, float64(k.TargetDepth))
	out := k.hpa.Normalize(now, cur, rec)
	return Choice{Desired: out, Reason: fmt.Sprintf("depth %.0f / %d wants %d; hpa %d", k.metric, k.TargetDepth, rec, out)}
}

// HPACPU is the HPA on CPU alone with an average utilisation target,
// syncing every Sync (15 s) with the default behavior. Its replica
// calculation is policy.CPURecommendation, the controller's own: pods still
// starting count as unready (ignored when the ratio points down, 0% when it
// points up), and ready pods without a sample yet as missing.
type HPACPU struct {
	Target int32
	Sync   time.Duration
	hpa    *HPA
}

// NewHPACPU returns the baseline for a spec: its CPU target, or 80% (the
// HPA's default) when the spec has none, and its bounds.
func NewHPACPU(spec policy.Spec) *HPACPU {
	target := spec.TargetCPUUtilization
	if target <= 0 {
		target = 80
	}
	return &HPACPU{Target: target, Sync: 15 * time.Second, hpa: NewHPA(max(spec.MinReplicas, 1), spec.MaxReplicas)}
}

// Name implements Autoscaler.
func (h *HPACPU) Name() string { return "hpa-cpu" }

// Interval implements Autoscaler.
func (h *HPACPU) Interval() time.Duration { return h.Sync }

// Decide implements Autoscaler.
func (h *HPACPU) Decide(now time.Time, v View) Choice {
	cur := v.Observation.Replicas
	sig := policy.CPURecommendation(h.Target, policy.Symmetric(h.hpa.Tolerance), v.Observation.CPU, cur)
	if !sig.Available || cur == 0 {
		return Choice{Desired: cur, Reason: "no ready pods: hold"}
	}
	rec := sig.Recommendation
	if sig.WithinTolerance {
		rec = cur
	}
	out := h.hpa.Normalize(now, cur, rec)
	return Choice{Desired: out, Reason: fmt.Sprintf("cpu %.0f%% / %d%% wants %d; hpa %d", sig.Value, h.Target, rec, out)}
}

// ParseBaseline builds a baseline controller by name: "keda", "hpa-cpu" or
// "fixed:N".
func ParseBaseline(name string, spec policy.Spec) (Autoscaler, error) {
	switch {
	case name == "keda":
		return NewKEDA(spec), nil
	case name == "hpa-cpu":
		return NewHPACPU(spec), nil
	case strings.HasPrefix(name, "fixed:"):
		n, err := strconv.ParseInt(strings.TrimPrefix(name, "fixed:"), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w %q: fixed:N needs a replica count N >= 0", ErrBadBaseline, name)
		}
		return Fixed{Replicas: int32(n)}, nil
	}
	return nil, fmt.Errorf("%w %q (known: keda, hpa-cpu, fixed:N)", ErrBadBaseline, name)
}
