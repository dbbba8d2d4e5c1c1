package simulate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// KnobError is one problem with one knob of ParseKEDAKnobs or
// ParseHPARules.
type KnobError struct {
	// Key is the knob ("polling"), or the whole item when it is not
	// key=value.
	Key string
	// Reason quotes the value: `"5x" is not a duration`.
	Reason string
}

func (e *KnobError) Error() string { return e.Key + ": " + e.Reason }

func knobErr(key, value, reason string) error {
	return &KnobError{Key: key, Reason: strconv.Quote(value) + " " + reason}
}

// ParseKEDAKnobs sets the knobs of a comma-separated list of key=value on
// top of base: polling=DURATION (pollingInterval), cooldown=DURATION
// (cooldownPeriod), activation=NUMBER (activationValue) and
// cached=BOOL (useCachedMetrics). Durations are Go durations, or plain
// seconds as a ScaledObject writes them ("5" is 5s). Every problem is
// returned, joined, each naming the key and its value.
func ParseKEDAKnobs(s string, base KEDAConfig) (KEDAConfig, error) {
	c := base
	var errs []error
	for _, kv := range splitKnobs(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, knobErr(kv, kv, "is not key=value"))
			continue
		}
		var reason string
		switch k {
		case "polling", "cooldown":
			d, err := parseSeconds(v)
			if err != nil {
				reason = "is not a duration"
			} else if k == "polling" {
				c.Polling = d
			} else {
				c.Cooldown = d
			}
		case "activation":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				reason = "is not a number"
			}
			c.Activation = f
		case "cached":
			b, err := strconv.ParseBool(v)
			if err != nil {
				reason = "is not true or false"
			}
			c.CachedMetrics = b
		default:
			errs = append(errs, knobErr(k, k, "is not a knob (known: polling, cooldown, activation, cached)"))
			continue
		}
		if reason != "" {
			errs = append(errs, knobErr(k, v, reason))
		}
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

// ParseHPARules sets one direction of an HPA behavior from a
// comma-separated list on top of base: window=DURATION
// (stabilizationWindowSeconds), select=Max|Min|Disabled (selectPolicy),
// and policies as pods=N/PERIOD or percent=N/PERIOD, which may repeat.
// Giving any policy replaces base's policies, as a behavior that lists
// policies replaces the default ones.
func ParseHPARules(s string, base policy.ScalingRules) (policy.ScalingRules, error) {
	r := base
	var policies []policy.ScalingPolicy
	var errs []error
	for _, kv := range splitKnobs(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, knobErr(kv, kv, "is not key=value"))
			continue
		}
		switch k {
		case "window":
			d, err := parseSeconds(v)
			if err != nil {
				errs = append(errs, knobErr(k, v, "is not a duration"))
			}
			r.StabilizationWindow = d
		case "select":
			switch sel := policy.SelectPolicy(v); sel {
			case policy.SelectMax, policy.SelectMin, policy.SelectDisabled:
				r.Select = sel
			default:
				errs = append(errs, knobErr(k, v, "is not Max, Min or Disabled"))
			}
		case "pods", "percent":
			n, p, ok := strings.Cut(v, "/")
			value, err1 := strconv.ParseInt(n, 10, 32)
			period, err2 := parseSeconds(p)
			if !ok || err1 != nil || err2 != nil {
				errs = append(errs, knobErr(k, v, "is not N/PERIOD (e.g. "+k+"=4/15s)"))
				continue
			}
			t := policy.PodsPolicy
			if k == "percent" {
				t = policy.PercentPolicy
			}
			policies = append(policies, policy.ScalingPolicy{Type: t, Value: int32(value), Period: period})
		default:
			errs = append(errs, knobErr(k, k, "is not a knob (known: window, select, pods, percent)"))
		}
	}
	if policies != nil {
		r.Policies = policies
	}
	if len(errs) == 0 {
		if err := validateRules(r); err != nil {
			errs = append(errs, err)
		}
	}
	return r, errors.Join(errs...)
}

func splitKnobs(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseSeconds reads a Go duration, or a plain number of seconds.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("is not a duration")
	}
	return d, nil
}

// String renders the knobs the way ParseKEDAKnobs reads them, followed by
// the behavior when it is not the default.
func (c KEDAConfig) String() string {
	s := fmt.Sprintf("polling=%s,cooldown=%s,activation=%g", c.Polling, c.Cooldown, c.Activation)
	if c.CachedMetrics {
		s += ",cached=true"
	}
	def := policy.HPADefaultBehavior()
	for _, d := range []struct {
		name      string
		got, want policy.ScalingRules
	}{{"scale-up", c.Behavior.ScaleUp, def.ScaleUp}, {"scale-down", c.Behavior.ScaleDown, def.ScaleDown}} {
		if got := RulesString(d.got); got != RulesString(d.want) {
			s += "; " + d.name + " " + got
		}
	}
	return s
}

// RulesString renders one direction of a behavior the way ParseHPARules
// reads it: window=0s,select=Max,pods=4/15s,percent=100/15s, and the
// tolerance when it has one.
func RulesString(r policy.ScalingRules) string {
	sel := r.Select
	if sel == "" {
		sel = policy.SelectMax
	}
	parts := []string{"window=" + r.StabilizationWindow.String(), "select=" + string(sel)}
	for _, p := range r.Policies {
		parts = append(parts, policyKnob(p))
	}
	if r.Tolerance != nil {
		parts = append(parts, "tolerance="+strconv.FormatFloat(*r.Tolerance, 'g', -1, 64))
	}
	return strings.Join(parts, ",")
}

// policyKnob renders a policy as ParseHPARules reads it: pods=4/15s or
// percent=100/15s.
func policyKnob(p policy.ScalingPolicy) string {
	if p.Type == policy.PercentPolicy {
		return fmt.Sprintf("percent=%d/%s", p.Value, p.Period)
	}
	return fmt.Sprintf("pods=%d/%s", p.Value, p.Period)
}
