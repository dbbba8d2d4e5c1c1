package simulate

import (
	"errors"
	"fmt"
	"math"
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

// KEDAConfig holds a ScaledObject's own knobs, beyond what the spec gives
// the baseline (target depth, unacked counting, bounds).
type KEDAConfig struct {
	// Polling is pollingInterval (30 s): how often the operator asks the
	// trigger whether it is active.
	Polling time.Duration
	// Cooldown is cooldownPeriod (300 s): with minReplicaCount 0, the time
	// since the trigger was last active before the operator scales to
	// zero. It is only that: the HPA's own scale-down is its behavior's.
	Cooldown time.Duration
	// Activation is the trigger's activationValue (0): the trigger is
	// active while the metric is above it.
	Activation float64
	// CachedMetrics is the trigger's useCachedMetrics (false): the HPA is
	// served the metric of the operator's last poll instead of a fresh
	// read of the queue at each of its syncs.
	CachedMetrics bool
	// Behavior is advanced.horizontalPodAutoscalerConfig.behavior,
	// which KEDA passes to the HPA it creates (policy.ParseBehavior reads
	// it from YAML).
	Behavior policy.Behavior
}

// DefaultKEDAConfig returns KEDA's defaults and the HPA's default
// behavior.
func DefaultKEDAConfig() KEDAConfig {
	return KEDAConfig{Polling: 30 * time.Second, Cooldown: 300 * time.Second, Behavior: policy.HPADefaultBehavior()}
}

// Validate returns every problem with the knobs, joined; each starts with
// the knob's name as ParseKEDAKnobs spells it.
func (c KEDAConfig) Validate() error {
	var errs []error
	if c.Polling < step || c.Polling%step != 0 {
		errs = append(errs, fmt.Errorf("polling: %s must be a whole number of seconds, at least 1s", c.Polling))
	}
	if c.Cooldown < 0 || c.Cooldown%step != 0 {
		errs = append(errs, fmt.Errorf("cooldown: %s must be a whole, non-negative number of seconds", c.Cooldown))
	}
	if !(c.Activation >= 0) || math.IsInf(c.Activation, 0) {
		errs = append(errs, fmt.Errorf("activation: %v must be a non-negative number", c.Activation))
	}
	if err := validateBehavior(c.Behavior); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// KEDA is a ScaledObject with a rabbitmq trigger in QueueLength mode: the
// metric is the queue depth (ready, plus unacked when the spec counts
// them). Two loops run, as in a cluster:
//
//   - the KEDA operator, every Polling, asks the trigger whether it is
//     active (the metric above Activation); from zero replicas an active
//     trigger scales to max(1, Min), and with Min 0 an inactive one
//     scales to zero once more than Cooldown has passed since it was
//     last active (lastActiveTime + cooldownPeriod before now);
//   - the HPA KEDA created, every Sync (15 s) while replicas are above
//     zero, with an External AverageValue target of TargetDepth per pod,
//     bounds [max(1, Min), Max] and the configured behavior; its metric is
//     a fresh read of the queue, or the last poll's with CachedMetrics.
//
// Both run on fixed schedules from time zero; when the operator changes
// the replicas, the HPA's sync of the same second sees the change at its
// next sync. The run's first poll counts as active (the ScaledObject has
// been running before the run starts), so a workload idle from the start
// goes to zero after Cooldown, not at once.
type KEDA struct {
	TargetDepth  int64
	CountUnacked bool
	Min, Max     int32
	Config       KEDAConfig
	Sync         time.Duration

	hpa        *HPA
	polled     bool
	pollMetric float64
	pollOK     bool
	lastActive time.Time
	pollActive bool
}

// NewKEDA returns the baseline for a spec: its target depth, unacked
// counting and bounds, with KEDA's and the HPA's defaults.
func NewKEDA(spec policy.Spec) *KEDA { return NewKEDAWith(spec, DefaultKEDAConfig()) }

// NewKEDAWith returns the baseline for a spec with the given knobs; they
// should be valid (KEDAConfig.Validate).
func NewKEDAWith(spec policy.Spec, c KEDAConfig) *KEDA {
	h := NewHPA(max(spec.MinReplicas, 1), spec.MaxReplicas)
	h.Behavior = c.Behavior
	return &KEDA{
		TargetDepth: spec.TargetDepthPerPod, CountUnacked: spec.CountUnacked,
		Min: spec.MinReplicas, Max: spec.MaxReplicas,
		Config: c, Sync: 15 * time.Second, hpa: h,
	}
}

// Name implements Autoscaler.
func (k *KEDA) Name() string { return "keda" }

// Interval implements Autoscaler: the greatest common divisor of the
// polling interval and the HPA's sync period, so both loops keep their
// own schedule.
func (k *KEDA) Interval() time.Duration {
	a, b := k.Config.Polling, k.Sync
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Decide implements Autoscaler.
func (k *KEDA) Decide(now time.Time, v View) Choice {
	cur := v.Observation.Replicas
	q := v.Observation.Queue
	metric := float64(q.Ready)
	if k.CountUnacked {
		metric += float64(q.Unacked)
	}
	elapsed := now.Sub(Epoch)
	if elapsed%k.Config.Polling == 0 {
		k.pollOK, k.pollMetric = q.Available, metric
		if q.Available {
			k.pollActive = metric > k.Config.Activation
			if k.pollActive || !k.polled {
				k.lastActive = now
			}
			k.polled = true
			switch {
			case k.pollActive && cur == 0:
				return Choice{Desired: max(k.Min, 1), Reason: fmt.Sprintf("activate: depth %.0f > activation %g", metric, k.Config.Activation)}
			case !k.pollActive && cur > 0 && k.Min == 0 && now.Sub(k.lastActive) > k.Config.Cooldown:
				return Choice{Desired: 0, Reason: fmt.Sprintf("deactivate: depth %.0f <= activation %g for cooldownPeriod %s", metric, k.Config.Activation, k.Config.Cooldown)}
			}
		}
	}
	if elapsed%k.Sync != 0 || cur == 0 {
		return Choice{Desired: cur, Reason: "no sync"}
	}
	ok := q.Available
	if k.Config.CachedMetrics {
		metric, ok = k.pollMetric, k.pollOK
	}
	if !ok {
		return Choice{Desired: cur, Reason: "metric unavailable: hold"}
	}
	rec := k.hpa.PerPodReplicas(cur, metric, float64(k.TargetDepth))
	out := k.hpa.Normalize(now, cur, rec)
	return Choice{Desired: out, Reason: fmt.Sprintf("depth %.0f / %d wants %d; hpa %d", metric, k.TargetDepth, rec, out)}
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

// ParseBaseline builds a baseline controller by name: "keda" (with the
// knobs kc), "hpa-cpu" or "fixed:N".
func ParseBaseline(name string, spec policy.Spec, kc KEDAConfig) (Autoscaler, error) {
	switch {
	case name == "keda":
		return NewKEDAWith(spec, kc), nil
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
