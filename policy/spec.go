package policy

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoQueue is returned alone by ParseSpec when the workload carries no
// rabbitscale.io/ configuration annotation at all: it is not managed by
// rabbitscale and should be skipped silently. A workload that carries some
// keys but neither queue nor queue-pattern gets a *FieldError instead.
var ErrNoQueue = errors.New("no " + KeyQueue + " or " + KeyQueuePattern + " annotation")

// FieldError is one problem with one annotation. ParseSpec joins all of them
// with errors.Join; use errors.As to get at one.
type FieldError struct {
	// Key is the full annotation key, e.g. "rabbitscale.io/max-replicas".
	Key string
	// Value is the annotation's value as written ("" when it is missing).
	Value string
	// Reason is the message after the key; it quotes the value, e.g.
	// `"ten" is not an integer`.
	Reason string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Reason }

// Spec is a workload's parsed, defaulted and validated configuration. Build
// it with ParseSpec; DefaultSpec gives the defaults.
type Spec struct {
	// Queue selects the queues whose depths are summed.
	Queue QueueSelector
	// Broker names an entry of the controller's broker configuration.
	Broker string

	// TargetDepthPerPod is the backlog one pod should carry.
	TargetDepthPerPod int64
	// CountUnacked adds unacknowledged (in-flight) messages to the depth.
	CountUnacked bool

	MinReplicas int32
	MaxReplicas int32

	// ActivationDepth: from zero replicas, wake only when depth exceeds it.
	ActivationDepth int64
	// ActivationMaxWait: wake from zero anyway once messages have waited
	// this long.
	ActivationMaxWait time.Duration

	// TargetDrain enables the rate signal when > 0: drain the backlog
	// within this time while keeping up with arrivals.
	TargetDrain time.Duration
	// PerPodRate seeds the rate signal (messages per second one pod
	// processes) until a rate has been learned; 0 when unset.
	PerPodRate float64
	// TargetRateUtilization is the percentage of the per-pod rate the rate
	// signal plans each pod to run at (1 to 100): the headroom that keeps
	// growing arrivals from turning into a backlog before the next tick.
	TargetRateUtilization int32

	// TargetCPUUtilization is a percentage of requested CPU; 0 disables
	// the CPU signal.
	TargetCPUUtilization int32

	// Tolerance: no change while the ratio of need to current capacity
	// stays within 1 +/- Tolerance.
	Tolerance float64

	// ScaleUpCooldown is the time after a scale-up before the next one
	// (the HPA has none: with Behavior set it defaults to 0).
	ScaleUpCooldown time.Duration
	// ScaleUp and ScaleDown are the HPA's behavior, per direction: the
	// stabilization window, the policies budgeted over their periods, the
	// selection among them, the tolerance. Without rabbitscale.io/behavior
	// they come from the step and stabilization annotations.
	ScaleUp, ScaleDown ScalingRules
	// ScaleDownDelay is the time after a scale-up before any scale-down
	// other than to zero (the HPA has none: with Behavior set it defaults
	// to 0).
	ScaleDownDelay time.Duration
	// ScaleToZeroAfter is how long the queue, unacked messages included,
	// must have been empty with no publish before min-replicas 0 takes
	// the workload to zero: KEDA's cooldownPeriod.
	ScaleToZeroAfter time.Duration

	// RateFloor keeps every recommendation at or above the pods the
	// arrivals need, ceil(arrivals / (target-rate-utilization x per-pod
	// rate)), once a per-pod rate is known (learned or annotated).
	RateFloor bool
	// TargetWait enables the wait signal when > 0: keep a message's wait
	// in the queue under it.
	TargetWait time.Duration

	// FallbackReplicas applies once the queue signal has failed for
	// FallbackAfter; nil holds the current replicas instead.
	FallbackReplicas *int32
	FallbackAfter    time.Duration

	// Paused computes and reports but never changes replicas.
	Paused bool
	// DryRun is like Paused, but the decision is reported as what would
	// have been applied.
	DryRun bool
}

// DefaultScaleDownCooldown is the default of scale-down-cooldown, and so of
// the three times it sets: the scale-down stabilization window, the delay
// after a scale-up, and the idle time before zero.
const DefaultScaleDownCooldown = 5 * time.Minute

// DefaultSpec returns the defaults of the annotation contract. It has no
// queue and no target depth, which ParseSpec requires.
func DefaultSpec() Spec {
	return Spec{
		Queue:                 QueueSelector{Vhost: "/"},
		Broker:                "default",
		CountUnacked:          true,
		MinReplicas:           1,
		MaxReplicas:           10,
		ActivationMaxWait:     5 * time.Minute,
		Tolerance:             0.1,
		TargetRateUtilization: DefaultTargetRateUtilization,
		ScaleUpCooldown:       15 * time.Second,
		ScaleDown: ScalingRules{
			StabilizationWindow: DefaultScaleDownCooldown,
			Select:              SelectMax,
			Policies:            []ScalingPolicy{{Type: PercentPolicy, Value: 100}},
		},
		ScaleDownDelay:   DefaultScaleDownCooldown,
		ScaleToZeroAfter: DefaultScaleDownCooldown,
		RateFloor:        true,
		FallbackAfter:    time.Minute,
	}
}

// ParseSpec reads a workload's annotations: it ignores keys without Prefix,
// applies the defaults and validates. It returns every problem at once, as
// *FieldError values joined with errors.Join, in the order of Keys, then
// the problems between keys, then unknown keys. A workload without any
// rabbitscale.io/ configuration key gets ErrNoQueue alone (see Managed).
func ParseSpec(annotations map[string]string) (Spec, error) {
	if !Managed(annotations) {
		return Spec{}, ErrNoQueue
	}
	p := &parser{ann: annotations}
	s := DefaultSpec()

	queue, hasQueue := p.get(KeyQueue)
	if hasQueue {
		s.Queue.Names = p.queues(queue)
	}
	pattern, hasPattern := p.get(KeyQueuePattern)
	if hasPattern {
		s.Queue.Pattern = p.pattern(pattern)
	}
	p.name(KeyVHost, &s.Queue.Vhost)
	p.name(KeyBroker, &s.Broker)
	p.int64(KeyTargetDepthPerPod, 1, &s.TargetDepthPerPod)
	p.bool(KeyCountUnacked, &s.CountUnacked)
	// Bounds are usable for the checks between keys when valid or absent
	// (defaulted).
	minOK := p.int32(KeyMinReplicas, 0, &s.MinReplicas) || !p.has(KeyMinReplicas)
	maxOK := p.int32(KeyMaxReplicas, 1, &s.MaxReplicas) || !p.has(KeyMaxReplicas)
	p.int64(KeyActivationDepth, 0, &s.ActivationDepth)
	p.duration(KeyActivationMaxWait, &s.ActivationMaxWait)
	p.drain(&s.TargetDrain)
	p.rate(&s.PerPodRate)
	p.percent(KeyTargetRateUtilization, 100, "remove the annotation for the default", &s.TargetRateUtilization)
	p.bool(KeyRateFloor, &s.RateFloor)
	p.positive(KeyTargetWait, "remove the annotation to turn the wait signal off", &s.TargetWait)
	p.percent(KeyTargetCPUUtilization, 0, "remove the annotation to turn the CPU signal off", &s.TargetCPUUtilization)
	p.tolerance(&s.Tolerance)
	p.behaviour(&s)
	var fallback int32
	fallbackSet := p.int32(KeyFallbackReplicas, 0, &fallback)
	if fallbackSet {
		s.FallbackReplicas = &fallback
	}
	p.duration(KeyFallbackAfter, &s.FallbackAfter)
	p.bool(KeyPaused, &s.Paused)
	p.bool(KeyDryRun, &s.DryRun)

	// Between keys.
	switch {
	case hasQueue && hasPattern:
		p.fail(KeyQueuePattern, pattern, "%s is set together with %s; use one", quote(pattern), KeyQueue)
	case !hasQueue && !hasPattern:
		p.fail(KeyQueue, "", "required (or %s)", KeyQueuePattern)
	}
	if !p.has(KeyTargetDepthPerPod) {
		p.fail(KeyTargetDepthPerPod, "", "required")
	}
	if minOK && maxOK && s.MinReplicas > s.MaxReplicas {
		p.fail(KeyMinReplicas, p.raw(KeyMinReplicas), "%d > %s: %d%s",
			s.MinReplicas, KeyMaxReplicas, s.MaxReplicas, defaulted(p, KeyMaxReplicas))
	}
	if fallbackSet && minOK && maxOK && s.MinReplicas <= s.MaxReplicas &&
		(fallback < s.MinReplicas || fallback > s.MaxReplicas) {
		p.fail(KeyFallbackReplicas, p.raw(KeyFallbackReplicas), "%d is outside [%s: %d, %s: %d]",
			fallback, KeyMinReplicas, s.MinReplicas, KeyMaxReplicas, s.MaxReplicas)
	}

	if p.has(KeyPerPodRate) && s.PerPodRate > 0 && !s.RateFloor && s.TargetDrain == 0 && s.TargetWait == 0 &&
		!p.has(KeyTargetDrainSeconds) && !p.has(KeyTargetWait) {
		p.fail(KeyPerPodRate, p.raw(KeyPerPodRate), "%s has no effect with %s %q and neither %s nor %s",
			quote(p.raw(KeyPerPodRate)), KeyRateFloor, p.raw(KeyRateFloor), KeyTargetDrainSeconds, KeyTargetWait)
	}

	// Unknown keys under the prefix, sorted for a stable message.
	var unknown []string
	for k := range annotations {
		if strings.HasPrefix(k, Prefix) && !isConfigKey(k) && !isStatusKey(k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		if hint := suggest(k); hint != "" {
			p.fail(k, annotations[k], "unknown annotation (did you mean %s?)", hint)
		} else {
			p.fail(k, annotations[k], "unknown annotation (see the README for the supported keys)")
		}
	}

	if len(p.errs) > 0 {
		return Spec{}, errors.Join(p.errs...)
	}
	return s, nil
}

func defaulted(p *parser, key string) string {
	if p.has(key) {
		return ""
	}
	return " (default)"
}

// parser collects the problems of one ParseSpec call.
type parser struct {
	ann  map[string]string
	errs []error
}

func (p *parser) get(key string) (string, bool) {
	v, ok := p.ann[key]
	return strings.TrimSpace(v), ok
}

func (p *parser) raw(key string) string { return p.ann[key] }

func (p *parser) has(key string) bool {
	_, ok := p.ann[key]
	return ok
}

func (p *parser) fail(key, value, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Key: key, Value: value, Reason: fmt.Sprintf(format, args...)})
}

func quote(s string) string { return strconv.Quote(s) }

func (p *parser) queues(v string) []string {
	if v == "" {
		p.fail(KeyQueue, p.raw(KeyQueue), `"" is empty: name a queue, or several separated by commas`)
		return nil
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		name := strings.TrimSpace(part)
		switch {
		case name == "":
			p.fail(KeyQueue, p.raw(KeyQueue), "%s has an empty queue name", quote(p.raw(KeyQueue)))
			return nil
		case slices.Contains(out, name):
			p.fail(KeyQueue, p.raw(KeyQueue), "%s names queue %s twice", quote(p.raw(KeyQueue)), quote(name))
			return nil
		}
		out = append(out, name)
	}
	return out
}

func (p *parser) pattern(v string) *regexp.Regexp {
	if v == "" {
		p.fail(KeyQueuePattern, p.raw(KeyQueuePattern), `"" is empty: it would match every queue`)
		return nil
	}
	if _, err := regexp.Compile(v); err != nil {
		p.fail(KeyQueuePattern, p.raw(KeyQueuePattern), "%s does not compile: %s",
			quote(v), strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return nil
	}
	re, err := regexp.Compile("^(?:" + v + ")$")
	if err != nil {
		p.fail(KeyQueuePattern, p.raw(KeyQueuePattern), "%s does not compile when anchored: %v", quote(v), err)
		return nil
	}
	return re
}

func (p *parser) name(key string, dst *string) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	if v == "" {
		p.fail(key, p.raw(key), "%s is empty", quote(p.raw(key)))
		return
	}
	*dst = v
}

func (p *parser) bool(key string, dst *bool) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(key, p.raw(key), "%s is not a boolean (true or false)", quote(p.raw(key)))
		return
	}
	*dst = b
}

// int64 parses an integer of at least lo. It reports whether the key was
// present and valid.
func (p *parser) int64(key string, lo int64, dst *int64) bool {
	v, ok := p.get(key)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if !p.checkInt(key, v, n, err, lo) {
		return false
	}
	*dst = n
	return true
}

func (p *parser) int32(key string, lo int64, dst *int32) bool {
	v, ok := p.get(key)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if !p.checkInt(key, v, n, err, lo) {
		return false
	}
	*dst = int32(n)
	return true
}

func (p *parser) checkInt(key, v string, n int64, err error, lo int64) bool {
	switch {
	case errors.Is(err, strconv.ErrRange):
		p.fail(key, p.raw(key), "%s is out of range", quote(v))
	case err != nil:
		p.fail(key, p.raw(key), "%s is not an integer", quote(p.raw(key)))
	case n < lo && lo == 0:
		p.fail(key, p.raw(key), "%d must not be negative", n)
	case n < lo:
		p.fail(key, p.raw(key), "%d must be at least %d", n, lo)
	default:
		return true
	}
	return false
}

func (p *parser) duration(key string, dst *time.Duration) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		p.fail(key, p.raw(key), "%s is not a duration (such as 30s, 5m or 1h30m)", quote(p.raw(key)))
	case d < 0:
		p.fail(key, p.raw(key), "%s must not be negative", quote(v))
	default:
		*dst = d
	}
}

// drain reads target-drain-seconds: whole seconds, or a Go duration.
func (p *parser) drain(dst *time.Duration) {
	v, ok := p.get(KeyTargetDrainSeconds)
	if !ok {
		return
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(math.MaxInt64/time.Second) {
			p.fail(KeyTargetDrainSeconds, p.raw(KeyTargetDrainSeconds), "%s is out of range", quote(v))
			return
		}
		d = time.Duration(n) * time.Second
	} else if pd, err := time.ParseDuration(v); err == nil {
		d = pd
	} else {
		p.fail(KeyTargetDrainSeconds, p.raw(KeyTargetDrainSeconds), "%s is not a number of seconds", quote(p.raw(KeyTargetDrainSeconds)))
		return
	}
	if d <= 0 {
		p.fail(KeyTargetDrainSeconds, p.raw(KeyTargetDrainSeconds),
			"%s must be positive (remove the annotation to turn rate-aware sizing off)", quote(v))
		return
	}
	*dst = d
}

func (p *parser) float(key string) (float64, bool) {
	v, ok := p.get(key)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		p.fail(key, p.raw(key), "%s is not a number", quote(p.raw(key)))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(key, p.raw(key), "%s is not a finite number", quote(v))
		return 0, false
	}
	return f, true
}

func (p *parser) rate(dst *float64) {
	f, ok := p.float(KeyPerPodRate)
	if !ok {
		return
	}
	if f <= 0 {
		p.fail(KeyPerPodRate, p.raw(KeyPerPodRate), "%s must be positive (messages per second per pod)", quote(p.raw(KeyPerPodRate)))
		return
	}
	*dst = f
}

func (p *parser) tolerance(dst *float64) {
	f, ok := p.float(KeyTolerance)
	if !ok {
		return
	}
	if f < 0 || f >= 1 {
		p.fail(KeyTolerance, p.raw(KeyTolerance), "%s must be at least 0 and below 1 (a fraction, 0.1 for 10%%)", quote(p.raw(KeyTolerance)))
		return
	}
	*dst = f
}

// percent reads a whole percentage ("70" or "70%") of at least 1 and, when
// maxPercent > 0, at most maxPercent; hint says how to do without it.
func (p *parser) percent(key string, maxPercent int64, hint string, dst *int32) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(v, "%"), 10, 32)
	switch {
	case err != nil:
		p.fail(key, p.raw(key), "%s is not a percentage (such as 70)", quote(p.raw(key)))
	case n < 1:
		p.fail(key, p.raw(key), "%s must be at least 1 (%s)", quote(v), hint)
	case maxPercent > 0 && n > maxPercent:
		p.fail(key, p.raw(key), "%s must be at most %d", quote(v), maxPercent)
	default:
		*dst = int32(n)
	}
}

// step reads "4", "100%", "4,100%" (either order) or "none", each
// optionally budgeted over a period: "4,100%/15s" allows 4 pods or 100%,
// whichever is more, per 15 s. Without a period the limit applies to each
// decision on its own. maxPercent > 0 bounds the percentage (a scale-down
// cannot remove more than 100%).
func (p *parser) step(key string, maxPercent int64, dst *ScalingRules) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	bad := func() {
		p.fail(key, p.raw(key), "%s is not a step (pods such as 4, a percentage such as 100%%, or both: 4,100%%; optionally per period: 4,100%%/15s)", quote(p.raw(key)))
	}
	if strings.EqualFold(v, "none") {
		dst.Policies = nil
		return
	}
	var period time.Duration
	if body, per, found := strings.Cut(v, "/"); found {
		d, err := time.ParseDuration(strings.TrimSpace(per))
		if err != nil {
			bad()
			return
		}
		if d < time.Second || d > 30*time.Minute {
			p.fail(key, p.raw(key), "%s: the period must be 1s to 30m (as an HPA's periodSeconds)", quote(v))
			return
		}
		v, period = strings.TrimSpace(body), d
	}
	parts := strings.Split(v, ",")
	if len(parts) > 2 {
		bad()
		return
	}
	var pods, percent int64
	for _, part := range parts {
		part = strings.TrimSpace(part)
		if pct, isPct := strings.CutSuffix(part, "%"); isPct {
			n, err := strconv.ParseInt(strings.TrimSpace(pct), 10, 32)
			if err != nil || percent != 0 {
				bad()
				return
			}
			if n < 1 || (maxPercent > 0 && n > maxPercent) {
				hi := "no upper bound"
				if maxPercent > 0 {
					hi = "at most " + strconv.FormatInt(maxPercent, 10) + "%"
				}
				p.fail(key, p.raw(key), "%s: the percentage must be at least 1%% and %s", quote(v), hi)
				return
			}
			percent = n
			continue
		}
		n, err := strconv.ParseInt(part, 10, 32)
		if err != nil || pods != 0 {
			bad()
			return
		}
		if n < 1 {
			p.fail(key, p.raw(key), "%s: the number of pods must be at least 1", quote(v))
			return
		}
		pods = n
	}
	dst.Policies = nil
	if pods > 0 {
		dst.Policies = append(dst.Policies, ScalingPolicy{Type: PodsPolicy, Value: int32(pods), Period: period})
	}
	if percent > 0 {
		dst.Policies = append(dst.Policies, ScalingPolicy{Type: PercentPolicy, Value: int32(percent), Period: period})
	}
	dst.Select = SelectMax
}

// positive reads a duration that must be above zero; hint says how to do
// without it.
func (p *parser) positive(key, hint string, dst *time.Duration) {
	d := time.Duration(-1) // left as is when the key is absent or invalid
	p.duration(key, &d)
	switch {
	case d == 0:
		p.fail(key, p.raw(key), "%s must be positive (%s)", quote(p.raw(key)), hint)
	case d > 0:
		*dst = d
	}
}

// behaviour reads the keys that shape how the replicas move over time:
// the scale-up cooldown; scale-down-cooldown, the shorthand for the
// scale-down stabilization window, the delay after a scale-up and the idle
// time before zero, each of which its own key overrides; the steps; and
// rabbitscale.io/behavior, an HPA's spec.behavior, which replaces the steps
// and the windows and, unless they are set, turns off the two delays the
// HPA does not have (scale-up-cooldown, scale-down-delay).
func (p *parser) behaviour(s *Spec) {
	p.duration(KeyScaleUpCooldown, &s.ScaleUpCooldown)
	p.duration(KeyScaleUpStabilization, &s.ScaleUp.StabilizationWindow)
	var cooldown time.Duration
	if p.has(KeyScaleDownCooldown) {
		cooldown = -1
		p.duration(KeyScaleDownCooldown, &cooldown)
		if cooldown >= 0 {
			s.ScaleDown.StabilizationWindow, s.ScaleDownDelay, s.ScaleToZeroAfter = cooldown, cooldown, cooldown
		}
	}
	p.duration(KeyScaleDownStabilization, &s.ScaleDown.StabilizationWindow)
	p.duration(KeyScaleDownDelay, &s.ScaleDownDelay)
	p.duration(KeyScaleToZeroAfter, &s.ScaleToZeroAfter)
	p.step(KeyMaxScaleUpStep, 0, &s.ScaleUp)
	p.step(KeyMaxScaleDownStep, 100, &s.ScaleDown)
	v, ok := p.get(KeyBehavior)
	if !ok {
		return
	}
	b, err := ParseBehavior(v)
	if err != nil {
		p.fail(KeyBehavior, p.raw(KeyBehavior), "%s", err)
		return
	}
	conflict := false
	for _, k := range [...]string{KeyScaleUpStabilization, KeyScaleDownStabilization, KeyMaxScaleUpStep, KeyMaxScaleDownStep} {
		if p.has(k) {
			p.fail(k, p.raw(k), "%s is set together with %s, which sets it too; use one", quote(p.raw(k)), KeyBehavior)
			conflict = true
		}
	}
	if conflict {
		return
	}
	s.ScaleUp, s.ScaleDown = b.ScaleUp, b.ScaleDown
	if !p.has(KeyScaleUpCooldown) {
		s.ScaleUpCooldown = 0
	}
	if !p.has(KeyScaleDownDelay) && !p.has(KeyScaleDownCooldown) {
		s.ScaleDownDelay = 0
	}
}
