package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// PolicyType is the kind of a ScalingPolicy, as in the HPA.
type PolicyType string

// Policy types.
const (
	// PodsPolicy allows Value pods of change per Period.
	PodsPolicy PolicyType = "Pods"
	// PercentPolicy allows Value percent of the replicas at the start of
	// the Period.
	PercentPolicy PolicyType = "Percent"
)

// ScalingPolicy is one limit on how fast the replicas may change in one
// direction: the HPA's HPAScalingPolicy.
type ScalingPolicy struct {
	Type  PolicyType `json:"type"`
	Value int32      `json:"value"`
	// Period is the span the change is budgeted over: the changes applied
	// within the last Period count against Value. Zero (only from the step
	// annotations without a period) limits each decision on its own.
	Period time.Duration `json:"period,omitempty"`
}

// String renders the policy as the step annotations write one: "4/15s",
// "100%/1m0s", or without the period when it is per decision.
func (p ScalingPolicy) String() string {
	s := strconv.Itoa(int(p.Value))
	if p.Type == PercentPolicy {
		s += "%"
	}
	if p.Period > 0 {
		s += "/" + p.Period.String()
	}
	return s
}

// SelectPolicy says which policy wins when several apply: the HPA's
// ScalingPolicySelect.
type SelectPolicy string

// Policy selections.
const (
	// SelectMax allows the largest change any policy allows (the default).
	SelectMax SelectPolicy = "Max"
	// SelectMin allows the smallest.
	SelectMin SelectPolicy = "Min"
	// SelectDisabled forbids any change in that direction.
	SelectDisabled SelectPolicy = "Disabled"
)

// ScalingRules are one direction's behaviour: the HPA's HPAScalingRules.
type ScalingRules struct {
	// StabilizationWindow: a scale-down goes no lower than the highest
	// recommendation within it; a scale-up no higher than the lowest.
	StabilizationWindow time.Duration `json:"stabilizationWindow,omitempty"`
	// Select chooses among Policies; empty is SelectMax.
	Select SelectPolicy `json:"selectPolicy,omitempty"`
	// Policies limit the rate of change; none means unlimited.
	Policies []ScalingPolicy `json:"policies,omitempty"`
	// Tolerance, when set, replaces Spec.Tolerance for this direction: no
	// change while the ratio of need to capacity is within it (above 1 for
	// scale-up, below 1 for scale-down).
	Tolerance *float64 `json:"tolerance,omitempty"`
}

// Limit returns the lowest (scale-down) or highest (scale-up) replica count
// the policies allow from current, given the changes applied so far
// (events, any order) and the time: the HPA's
// calculateScaleUpLimitWithScalingRules and
// calculateScaleDownLimitWithBehaviors. Changes within a policy's Period
// count against it: the period starts at current minus what was added plus
// what was removed within it. A Disabled selection allows no change. The
// limit never lies on the wrong side of current. With no policies the
// change is unlimited (math.MaxInt32 up, 0 down).
func (r ScalingRules) Limit(up bool, current int32, events []ScaleEvent, now time.Time) int32 {
	if r.Select == SelectDisabled {
		return current
	}
	if len(r.Policies) == 0 {
		if up {
			return math.MaxInt32
		}
		return 0
	}
	// Max: the largest change, which is the highest limit up and the
	// lowest down.
	largest := r.Select != SelectMin
	var out int64
	for i, p := range r.Policies {
		var added, removed int64
		for _, e := range events {
			if p.Period > 0 && e.Time.After(now.Add(-p.Period)) {
				if e.Change > 0 {
					added += int64(e.Change)
				} else {
					removed -= int64(e.Change)
				}
			}
		}
		var proposed int64
		if up {
			start := int64(current) - added + removed
			switch p.Type {
			case PercentPolicy:
				proposed = int64(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
			default:
				proposed = start + int64(p.Value)
			}
		} else {
			start := int64(current) + removed - added
			switch p.Type {
			case PercentPolicy:
				proposed = int64(float64(start) * (1 - float64(p.Value)/100))
			default:
				proposed = start - int64(p.Value)
			}
		}
		if i == 0 || (up == largest && proposed > out) || (up != largest && proposed < out) {
			out = proposed
		}
	}
	if up {
		out = max(out, int64(current))
		if current == 0 {
			// The HPA never starts from zero; rabbitscale does, and a
			// percentage of zero pods would keep it there.
			out = max(out, 1)
		}
		return int32(min(out, math.MaxInt32))
	}
	return int32(max(min(out, int64(current)), 0))
}

// longestPeriod is the longest Period among the policies.
func (r ScalingRules) longestPeriod() time.Duration {
	var d time.Duration
	for _, p := range r.Policies {
		d = max(d, p.Period)
	}
	return d
}

// tolerance returns the direction's tolerance, or def.
func (r ScalingRules) tolerance(def float64) float64 {
	if r.Tolerance != nil {
		return *r.Tolerance
	}
	return def
}

// String renders the rules for a reason or `rabbitscale validate`, e.g.
// "4/15s,100%/15s max, window 0s".
func (r ScalingRules) String() string {
	var b strings.Builder
	if len(r.Policies) == 0 {
		b.WriteString("unlimited")
	}
	for i, p := range r.Policies {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	if r.Select != "" && r.Select != SelectMax {
		b.WriteString(" " + strings.ToLower(string(r.Select)))
	}
	b.WriteString(", window " + r.StabilizationWindow.String())
	return b.String()
}

// Behavior is both directions' rules: the HPA's spec.behavior.
type Behavior struct {
	ScaleUp   ScalingRules `json:"scaleUp"`
	ScaleDown ScalingRules `json:"scaleDown"`
}

// HPADefaultBehavior is the behaviour of an HPA without spec.behavior:
// scale-up by 4 pods or 100% (whichever is more) per 15 s, no scale-up
// window; scale-down by up to 100% per 15 s after a 300 s window.
func HPADefaultBehavior() Behavior {
	return Behavior{
		ScaleUp: ScalingRules{
			Select: SelectMax,
			Policies: []ScalingPolicy{
				{Type: PodsPolicy, Value: 4, Period: 15 * time.Second},
				{Type: PercentPolicy, Value: 100, Period: 15 * time.Second},
			},
		},
		ScaleDown: ScalingRules{
			StabilizationWindow: 300 * time.Second,
			Select:              SelectMax,
			Policies:            []ScalingPolicy{{Type: PercentPolicy, Value: 100, Period: 15 * time.Second}},
		},
	}
}

// hpaBehavior is the wire shape of an HPA's spec.behavior
// (autoscaling/v2 HorizontalPodAutoscalerBehavior), decoded here so that
// policy needs no Kubernetes types.
type hpaBehavior struct {
	ScaleUp   *hpaRules `json:"scaleUp"`
	ScaleDown *hpaRules `json:"scaleDown"`
}

type hpaRules struct {
	StabilizationWindowSeconds *int32          `json:"stabilizationWindowSeconds"`
	SelectPolicy               *string         `json:"selectPolicy"`
	Policies                   []hpaPolicy     `json:"policies"`
	Tolerance                  json.RawMessage `json:"tolerance"`
}

type hpaPolicy struct {
	Type          string `json:"type"`
	Value         int32  `json:"value"`
	PeriodSeconds int32  `json:"periodSeconds"`
}

// ParseBehavior reads an HPA's spec.behavior, as JSON or YAML, with the
// HPA's defaults for what it leaves out (HPADefaultBehavior) and the
// API server's validation: policy values above 0, periods of 1 to 1800
// seconds, windows of 0 to 3600 seconds, selectPolicy Max, Min or
// Disabled, a tolerance of at least 0 (a number, or a quantity string
// such as "0.05" or "50m"). Unknown fields are errors. Each problem is
// reported with its path, e.g. `scaleUp.policies[0].periodSeconds: 0
// must be 1 to 1800`; all of them are joined in one error.
func ParseBehavior(text string) (Behavior, error) {
	if strings.TrimSpace(text) == "" {
		return Behavior{}, fmt.Errorf("is empty")
	}
	var raw hpaBehavior
	if err := yaml.UnmarshalStrict([]byte(text), &raw); err != nil {
		msg := err.Error()
		for _, noise := range [...]string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
			msg = strings.ReplaceAll(msg, noise, "")
		}
		return Behavior{}, fmt.Errorf("is not an HPA behavior: %s", msg)
	}
	def := HPADefaultBehavior()
	var errs []string
	up := raw.ScaleUp.rules(def.ScaleUp, "scaleUp", &errs)
	down := raw.ScaleDown.rules(def.ScaleDown, "scaleDown", &errs)
	if len(errs) > 0 {
		return Behavior{}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return Behavior{ScaleUp: up, ScaleDown: down}, nil
}

func (h *hpaRules) rules(def ScalingRules, path string, errs *[]string) ScalingRules {
	if h == nil {
		return def
	}
	bad := func(field, format string, args ...any) {
		*errs = append(*errs, path+"."+field+": "+fmt.Sprintf(format, args...))
	}
	r := def
	if w := h.StabilizationWindowSeconds; w != nil {
		if *w < 0 || *w > 3600 {
			bad("stabilizationWindowSeconds", "%d must be 0 to 3600", *w)
		}
		r.StabilizationWindow = time.Duration(*w) * time.Second
	}
	if s := h.SelectPolicy; s != nil {
		switch SelectPolicy(*s) {
		case SelectMax, SelectMin, SelectDisabled:
			r.Select = SelectPolicy(*s)
		default:
			bad("selectPolicy", "%q is not Max, Min or Disabled", *s)
		}
	}
	if h.Policies != nil {
		if len(h.Policies) == 0 && r.Select != SelectDisabled {
			bad("policies", "is empty: list at least one policy, or set selectPolicy: Disabled")
		}
		r.Policies = make([]ScalingPolicy, 0, len(h.Policies))
		for i, p := range h.Policies {
			at := fmt.Sprintf("policies[%d].", i)
			switch PolicyType(p.Type) {
			case PodsPolicy, PercentPolicy:
			default:
				bad(at+"type", "%q is not Pods or Percent", p.Type)
			}
			if p.Value <= 0 {
				bad(at+"value", "%d must be above 0", p.Value)
			}
			if p.PeriodSeconds < 1 || p.PeriodSeconds > 1800 {
				bad(at+"periodSeconds", "%d must be 1 to 1800", p.PeriodSeconds)
			}
			r.Policies = append(r.Policies, ScalingPolicy{
				Type: PolicyType(p.Type), Value: p.Value, Period: time.Duration(p.PeriodSeconds) * time.Second,
			})
		}
	}
	if len(h.Tolerance) > 0 && string(h.Tolerance) != "null" {
		tol, ok := parseQuantity(h.Tolerance)
		switch {
		case !ok:
			bad("tolerance", "%s is not a number or a quantity such as \"0.05\" or \"50m\"", h.Tolerance)
		case tol < 0:
			bad("tolerance", "%s must not be negative", h.Tolerance)
		default:
			r.Tolerance = &tol
		}
	}
	return r
}

// parseQuantity reads a tolerance as the HPA writes it: a JSON number, or
// a string holding a decimal or a milli quantity ("50m" is 0.05).
func parseQuantity(raw json.RawMessage) (float64, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw)
	}
	s = strings.TrimSpace(s)
	scale := 1.0
	if v, ok := strings.CutSuffix(s, "m"); ok {
		s, scale = v, 1e-3
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f * scale, true
}

// ScaleEvent is one applied change of the replicas, kept in State for as
// long as a policy's period can count it.
type ScaleEvent struct {
	Time time.Time `json:"time"`
	// Change is positive for a scale-up, negative for a scale-down.
	Change int32 `json:"change"`
}

// trimEvents drops the events no period can count any more (older than
// keep before now). The result never shares memory with the input.
func trimEvents(events []ScaleEvent, keep time.Duration, now time.Time) []ScaleEvent {
	var out []ScaleEvent
	for _, e := range events {
		if keep > 0 && e.Time.After(now.Add(-keep)) {
			out = append(out, e)
		}
	}
	return out
}
