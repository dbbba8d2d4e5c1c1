package simulate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadKnob is wrapped by ParseKEDAKnobs and ParseHPARules for a value
// they cannot use.
var ErrBadKnob = errors.New("bad knob")

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
			errs = append(errs, fmt.Errorf("%w: %q is not key=value", ErrBadKnob, kv))
			continue
		}
		var err error
		switch k {
		case "polling":
			c.Polling, err = parseSeconds(v)
		case "cooldown":
			c.Cooldown, err = parseSeconds(v)
		case "activation":
			c.Activation, err = strconv.ParseFloat(v, 64)
			if err != nil {
				err = errors.New("is not a number")
			}
		case "cached":
			c.CachedMetrics, err = strconv.ParseBool(v)
			if err != nil {
				err = errors.New("is not true or false")
			}
		default:
			err = errors.New("is not a knob (known: polling, cooldown, activation, cached)")
			errs = append(errs, fmt.Errorf("%w: %q %v", ErrBadKnob, k, err))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %q %v", ErrBadKnob, k, v, err))
		}
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrBadKnob, err))
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
func ParseHPARules(s string, base HPARules) (HPARules, error) {
	r := base
	var policies []HPAPolicy
	var errs []error
	for _, kv := range splitKnobs(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %q is not key=value", ErrBadKnob, kv))
			continue
		}
		switch k {
		case "window":
			d, err := parseSeconds(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: window: %q %v", ErrBadKnob, v, err))
			}
			r.Window = d
		case "select":
			switch sel := HPASelect(v); sel {
			case SelectMax, SelectMin, SelectDisabled:
				r.Select = sel
			default:
				errs = append(errs, fmt.Errorf("%w: select: %q is not Max, Min or Disabled", ErrBadKnob, v))
			}
		case "pods", "percent":
			n, p, ok := strings.Cut(v, "/")
			value, err1 := strconv.ParseInt(n, 10, 32)
			period, err2 := parseSeconds(p)
			if !ok || err1 != nil || err2 != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %q is not N/PERIOD (e.g. %s=4/15s)", ErrBadKnob, k, v, k))
				continue
			}
			t := PodsPolicy
			if k == "percent" {
				t = PercentPolicy
			}
			policies = append(policies, HPAPolicy{Type: t, Value: int32(value), Period: period})
		default:
			errs = append(errs, fmt.Errorf("%w: %q is not a knob (known: window, select, pods, percent)", ErrBadKnob, k))
		}
	}
	if policies != nil {
		r.Policies = policies
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
	def := DefaultHPABehavior()
	for _, d := range []struct {
		name      string
		got, want HPARules
	}{{"scale-up", c.Behavior.ScaleUp, def.ScaleUp}, {"scale-down", c.Behavior.ScaleDown, def.ScaleDown}} {
		if d.got.String() != d.want.String() {
			s += "; " + d.name + " " + d.got.String()
		}
	}
	return s
}

// String renders the rules the way ParseHPARules reads them.
func (r HPARules) String() string {
	parts := []string{"window=" + r.Window.String(), "select=" + string(r.Select)}
	for _, p := range r.Policies {
		k := "pods"
		if p.Type == PercentPolicy {
			k = "percent"
		}
		parts = append(parts, fmt.Sprintf("%s=%d/%s", k, p.Value, p.Period))
	}
	return strings.Join(parts, ",")
}
