package policy_test

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

// specCmp compares Specs, regexps by their source.
var specCmp = cmp.Comparer(func(a, b *regexp.Regexp) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
})

// base is the smallest valid set of annotations.
func base(extra ...string) map[string]string {
	m := map[string]string{
		policy.KeyQueue:             "orders",
		policy.KeyTargetDepthPerPod: "100",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func int32p(n int32) *int32 { return &n }

// TestParseSpec covers every row of the annotation contract: each key's
// accepted forms and its default.
func TestParseSpec(t *testing.T) {
	defaults := policy.DefaultSpec()
	defaults.Queue.Names = []string{"orders"}
	defaults.TargetDepthPerPod = 100

	tests := []struct {
		name string
		ann  map[string]string
		want func(s *policy.Spec)
	}{
		{"defaults", base(), func(s *policy.Spec) {
			// The contract's defaults, spelt out.
			s.Queue.Vhost, s.Broker, s.CountUnacked = "/", "default", true
			s.MinReplicas, s.MaxReplicas = 1, 10
			s.ActivationDepth, s.ActivationMaxWait = 0, 5*time.Minute
			s.TargetDrain, s.PerPodRate, s.TargetCPUUtilization = 0, 0, 0
			s.Tolerance = 0.1
			s.ScaleUpCooldown = 15 * time.Second
			s.ScaleUp = policy.ScalingRules{}
			s.ScaleDown = policy.ScalingRules{StabilizationWindow: 5 * time.Minute, Select: policy.SelectMax, Policies: percent(100)}
			s.ScaleDownDelay, s.ScaleToZeroAfter = 5*time.Minute, 5*time.Minute
			s.RateFloor, s.TargetWait = true, 0
			s.FallbackReplicas, s.FallbackAfter = nil, time.Minute
			s.Paused, s.DryRun = false, false
		}},
		{"queue list, spaces trimmed", base(policy.KeyQueue, " a, b ,c "), func(s *policy.Spec) {
			s.Queue.Names = []string{"a", "b", "c"}
		}},
		{"queue-pattern is anchored", map[string]string{
			policy.KeyQueuePattern: "orders-.*", policy.KeyTargetDepthPerPod: "100",
		}, func(s *policy.Spec) {
			s.Queue.Names = nil
			s.Queue.Pattern = regexp.MustCompile(`^(?:orders-.*)$`)
		}},
		{"vhost", base(policy.KeyVHost, "prod"), func(s *policy.Spec) { s.Queue.Vhost = "prod" }},
		{"broker", base(policy.KeyBroker, "eu-west"), func(s *policy.Spec) { s.Broker = "eu-west" }},
		{"target-depth-per-pod", base(policy.KeyTargetDepthPerPod, "1"), func(s *policy.Spec) { s.TargetDepthPerPod = 1 }},
		{"count-unacked false", base(policy.KeyCountUnacked, "false"), func(s *policy.Spec) { s.CountUnacked = false }},
		{"min-replicas 0 allows zero", base(policy.KeyMinReplicas, "0"), func(s *policy.Spec) { s.MinReplicas = 0 }},
		{"max-replicas", base(policy.KeyMaxReplicas, "50"), func(s *policy.Spec) { s.MaxReplicas = 50 }},
		{"min equals max", base(policy.KeyMinReplicas, "3", policy.KeyMaxReplicas, "3"), func(s *policy.Spec) {
			s.MinReplicas, s.MaxReplicas = 3, 3
		}},
		{"activation-depth", base(policy.KeyActivationDepth, "5"), func(s *policy.Spec) { s.ActivationDepth = 5 }},
		{"activation-max-wait", base(policy.KeyActivationMaxWait, "2m"), func(s *policy.Spec) { s.ActivationMaxWait = 2 * time.Minute }},
		{"activation-max-wait 0", base(policy.KeyActivationMaxWait, "0s"), func(s *policy.Spec) { s.ActivationMaxWait = 0 }},
		{"target-drain-seconds in seconds", base(policy.KeyTargetDrainSeconds, "120"), func(s *policy.Spec) { s.TargetDrain = 2 * time.Minute }},
		{"target-drain-seconds as a duration", base(policy.KeyTargetDrainSeconds, "90s"), func(s *policy.Spec) { s.TargetDrain = 90 * time.Second }},
		{"per-pod-rate", base(policy.KeyTargetDrainSeconds, "60", policy.KeyPerPodRate, "12.5"), func(s *policy.Spec) {
			s.TargetDrain, s.PerPodRate = time.Minute, 12.5
		}},
		{"target-rate-utilization", base(policy.KeyTargetDrainSeconds, "60", policy.KeyTargetRateUtilization, "75%"), func(s *policy.Spec) {
			s.TargetDrain, s.TargetRateUtilization = time.Minute, 75
		}},
		{"target-cpu-utilization", base(policy.KeyTargetCPUUtilization, "70"), func(s *policy.Spec) { s.TargetCPUUtilization = 70 }},
		{"target-cpu-utilization with %", base(policy.KeyTargetCPUUtilization, "70%"), func(s *policy.Spec) { s.TargetCPUUtilization = 70 }},
		{"tolerance 0", base(policy.KeyTolerance, "0"), func(s *policy.Spec) { s.Tolerance = 0 }},
		{"tolerance", base(policy.KeyTolerance, "0.25"), func(s *policy.Spec) { s.Tolerance = 0.25 }},
		{"scale-up-cooldown 0", base(policy.KeyScaleUpCooldown, "0s"), func(s *policy.Spec) { s.ScaleUpCooldown = 0 }},
		{"scale-up-cooldown", base(policy.KeyScaleUpCooldown, "1m"), func(s *policy.Spec) { s.ScaleUpCooldown = time.Minute }},
		{"scale-down-cooldown", base(policy.KeyScaleDownCooldown, "10m"), func(s *policy.Spec) {
			s.ScaleDown.StabilizationWindow, s.ScaleDownDelay, s.ScaleToZeroAfter = 10*time.Minute, 10*time.Minute, 10*time.Minute
		}},
		{"scale-down-cooldown, one of its three overridden", base(policy.KeyScaleDownCooldown, "10m", policy.KeyScaleToZeroAfter, "30s"), func(s *policy.Spec) {
			s.ScaleDown.StabilizationWindow, s.ScaleDownDelay, s.ScaleToZeroAfter = 10*time.Minute, 10*time.Minute, 30*time.Second
		}},
		{"scale-down-stabilization alone", base(policy.KeyScaleDownStabilization, "1m"), func(s *policy.Spec) { s.ScaleDown.StabilizationWindow = time.Minute }},
		{"scale-down-delay alone", base(policy.KeyScaleDownDelay, "0s"), func(s *policy.Spec) { s.ScaleDownDelay = 0 }},
		{"scale-up-stabilization", base(policy.KeyScaleUpStabilization, "30s"), func(s *policy.Spec) { s.ScaleUp.StabilizationWindow = 30 * time.Second }},
		{"rate-floor off", base(policy.KeyRateFloor, "false"), func(s *policy.Spec) { s.RateFloor = false }},
		{"target-wait", base(policy.KeyTargetWait, "20s"), func(s *policy.Spec) { s.TargetWait = 20 * time.Second }},
		{"step with a period", base(policy.KeyMaxScaleUpStep, "4,100%/15s"), func(s *policy.Spec) {
			s.ScaleUp = policy.ScalingRules{Select: policy.SelectMax, Policies: []policy.ScalingPolicy{
				{Type: policy.PodsPolicy, Value: 4, Period: 15 * time.Second}, {Type: policy.PercentPolicy, Value: 100, Period: 15 * time.Second}}}
		}},
		{"behavior, as YAML, with the HPA's defaults for what it leaves out", base(policy.KeyBehavior, "scaleDown:\n  stabilizationWindowSeconds: 10\n  policies:\n  - type: Pods\n    value: 1\n    periodSeconds: 60\n"), func(s *policy.Spec) {
			hpa := policy.HPADefaultBehavior()
			s.ScaleUp = hpa.ScaleUp
			s.ScaleDown = policy.ScalingRules{StabilizationWindow: 10 * time.Second, Select: policy.SelectMax,
				Policies: []policy.ScalingPolicy{{Type: policy.PodsPolicy, Value: 1, Period: time.Minute}}}
			s.ScaleUpCooldown, s.ScaleDownDelay = 0, 0
		}},
		{"behavior as JSON, keeping an explicit scale-up-cooldown", base(policy.KeyBehavior, `{"scaleUp":{"selectPolicy":"Disabled"}}`, policy.KeyScaleUpCooldown, "1m"), func(s *policy.Spec) {
			hpa := policy.HPADefaultBehavior()
			s.ScaleUp, s.ScaleDown = hpa.ScaleUp, hpa.ScaleDown
			s.ScaleUp.Select = policy.SelectDisabled
			s.ScaleUpCooldown, s.ScaleDownDelay = time.Minute, 0
		}},
		{"max-scale-up-step pods", base(policy.KeyMaxScaleUpStep, "4"), func(s *policy.Spec) { s.ScaleUp = steps(4, 0) }},
		{"max-scale-up-step percent", base(policy.KeyMaxScaleUpStep, "100%"), func(s *policy.Spec) { s.ScaleUp = steps(0, 100) }},
		{"max-scale-up-step both", base(policy.KeyMaxScaleUpStep, "4,100%"), func(s *policy.Spec) { s.ScaleUp = steps(4, 100) }},
		{"max-scale-up-step both, other order", base(policy.KeyMaxScaleUpStep, "200% , 4"), func(s *policy.Spec) { s.ScaleUp = steps(4, 200) }},
		{"max-scale-up-step none", base(policy.KeyMaxScaleUpStep, "none"), func(s *policy.Spec) { s.ScaleUp = policy.ScalingRules{} }},
		{"max-scale-down-step pods", base(policy.KeyMaxScaleDownStep, "1"), func(s *policy.Spec) {
			s.ScaleDown.Policies, s.ScaleDown.Select = steps(1, 0).Policies, policy.SelectMax
		}},
		{"max-scale-down-step percent", base(policy.KeyMaxScaleDownStep, "50%"), func(s *policy.Spec) {
			s.ScaleDown.Policies, s.ScaleDown.Select = steps(0, 50).Policies, policy.SelectMax
		}},
		{"max-scale-down-step none", base(policy.KeyMaxScaleDownStep, "None"), func(s *policy.Spec) { s.ScaleDown.Policies = nil }},
		{"fallback-replicas", base(policy.KeyFallbackReplicas, "3"), func(s *policy.Spec) { s.FallbackReplicas = int32p(3) }},
		{"fallback-replicas 0 with min 0", base(policy.KeyFallbackReplicas, "0", policy.KeyMinReplicas, "0"), func(s *policy.Spec) {
			s.FallbackReplicas, s.MinReplicas = int32p(0), 0
		}},
		{"fallback-after", base(policy.KeyFallbackAfter, "30s"), func(s *policy.Spec) { s.FallbackAfter = 30 * time.Second }},
		{"paused", base(policy.KeyPaused, "true"), func(s *policy.Spec) { s.Paused = true }},
		{"dry-run", base(policy.KeyDryRun, "true"), func(s *policy.Spec) { s.DryRun = true }},
		{"values are trimmed", base(policy.KeyMaxReplicas, " 20 "), func(s *policy.Spec) { s.MaxReplicas = 20 }},
		{"other prefixes and status annotations are ignored", base(
			"app.kubernetes.io/name", "worker",
			"autoscaling.rabbitscale.io/queue", "x",
			policy.DecisionAnnotation, "{}",
			policy.StateAnnotation, "{}",
		), func(*policy.Spec) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := policy.ParseSpec(tt.ann)
			if err != nil {
				t.Fatalf("ParseSpec: %v", err)
			}
			want := defaults
			tt.want(&want)
			if diff := cmp.Diff(want, got, specCmp); diff != "" {
				t.Errorf("ParseSpec diff (-want +got):\n%s", diff)
			}
		})
	}
}

// messages flattens a ParseSpec error into its messages, and checks that
// each is a *FieldError whose message starts with its key.
func messages(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var fe *policy.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %q is a %T, want *policy.FieldError", e, e)
			continue
		}
		if !strings.HasPrefix(fe.Error(), fe.Key+": ") {
			t.Errorf("error %q does not start with its key %q", fe, fe.Key)
		}
		out = append(out, e.Error())
	}
	return out
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want []string
	}{
		{"not an integer", base(policy.KeyMaxReplicas, "ten"),
			[]string{`rabbitscale.io/max-replicas: "ten" is not an integer`}},
		{"negative min", base(policy.KeyMinReplicas, "-1"),
			[]string{`rabbitscale.io/min-replicas: -1 must not be negative`}},
		{"max zero", base(policy.KeyMaxReplicas, "0"),
			[]string{`rabbitscale.io/max-replicas: 0 must be at least 1`}},
		{"out of int32 range", base(policy.KeyMaxReplicas, "99999999999"),
			[]string{`rabbitscale.io/max-replicas: "99999999999" is out of range`}},
		{"min > max", base(policy.KeyMinReplicas, "5", policy.KeyMaxReplicas, "3"),
			[]string{`rabbitscale.io/min-replicas: 5 > rabbitscale.io/max-replicas: 3`}},
		{"min > default max", base(policy.KeyMinReplicas, "15"),
			[]string{`rabbitscale.io/min-replicas: 15 > rabbitscale.io/max-replicas: 10 (default)`}},
		{"target depth missing", map[string]string{policy.KeyQueue: "orders"},
			[]string{`rabbitscale.io/target-depth-per-pod: required`}},
		{"target depth zero", base(policy.KeyTargetDepthPerPod, "0"),
			[]string{`rabbitscale.io/target-depth-per-pod: 0 must be at least 1`}},
		{"target depth fractional", base(policy.KeyTargetDepthPerPod, "1.5"),
			[]string{`rabbitscale.io/target-depth-per-pod: "1.5" is not an integer`}},
		{"count-unacked", base(policy.KeyCountUnacked, "yes"),
			[]string{`rabbitscale.io/count-unacked: "yes" is not a boolean (true or false)`}},
		{"activation-depth negative", base(policy.KeyActivationDepth, "-3"),
			[]string{`rabbitscale.io/activation-depth: -3 must not be negative`}},
		{"duration words", base(policy.KeyActivationMaxWait, "5 minutes"),
			[]string{`rabbitscale.io/activation-max-wait: "5 minutes" is not a duration (such as 30s, 5m or 1h30m)`}},
		{"duration without unit", base(policy.KeyFallbackAfter, "30"),
			[]string{`rabbitscale.io/fallback-after: "30" is not a duration (such as 30s, 5m or 1h30m)`}},
		{"negative durations", base(
			policy.KeyActivationMaxWait, "-5m",
			policy.KeyScaleUpCooldown, "-15s",
			policy.KeyScaleDownCooldown, "-1h",
			policy.KeyFallbackAfter, "-1m",
		), []string{
			`rabbitscale.io/activation-max-wait: "-5m" must not be negative`,
			`rabbitscale.io/scale-up-cooldown: "-15s" must not be negative`,
			`rabbitscale.io/scale-down-cooldown: "-1h" must not be negative`,
			`rabbitscale.io/fallback-after: "-1m" must not be negative`,
		}},
		{"drain words", base(policy.KeyTargetDrainSeconds, "fast"),
			[]string{`rabbitscale.io/target-drain-seconds: "fast" is not a number of seconds`}},
		{"drain zero", base(policy.KeyTargetDrainSeconds, "0"),
			[]string{`rabbitscale.io/target-drain-seconds: "0" must be positive (remove the annotation to turn rate-aware sizing off)`}},
		{"drain negative", base(policy.KeyTargetDrainSeconds, "-10"),
			[]string{`rabbitscale.io/target-drain-seconds: "-10" must be positive (remove the annotation to turn rate-aware sizing off)`}},
		{"drain negative duration", base(policy.KeyTargetDrainSeconds, "-1m"),
			[]string{`rabbitscale.io/target-drain-seconds: "-1m" must be positive (remove the annotation to turn rate-aware sizing off)`}},
		{"per-pod-rate zero", base(policy.KeyTargetDrainSeconds, "60", policy.KeyPerPodRate, "0"),
			[]string{`rabbitscale.io/per-pod-rate: "0" must be positive (messages per second per pod)`}},
		{"per-pod-rate words", base(policy.KeyTargetDrainSeconds, "60", policy.KeyPerPodRate, "fast"),
			[]string{`rabbitscale.io/per-pod-rate: "fast" is not a number`}},
		{"per-pod-rate NaN", base(policy.KeyTargetDrainSeconds, "60", policy.KeyPerPodRate, "NaN"),
			[]string{`rabbitscale.io/per-pod-rate: "NaN" is not a finite number`}},
		{"per-pod-rate with the rate floor off", base(policy.KeyPerPodRate, "5", policy.KeyRateFloor, "false"),
			[]string{`rabbitscale.io/per-pod-rate: "5" has no effect with rabbitscale.io/rate-floor "false" and neither rabbitscale.io/target-drain-seconds nor rabbitscale.io/target-wait`}},
		{"step period out of range", base(policy.KeyMaxScaleUpStep, "4/0s"),
			[]string{`rabbitscale.io/max-scale-up-step: "4/0s": the period must be 1s to 30m (as an HPA's periodSeconds)`}},
		{"target-wait zero", base(policy.KeyTargetWait, "0s"),
			[]string{`rabbitscale.io/target-wait: "0s" must be positive (remove the annotation to turn the wait signal off)`}},
		{"behavior not an HPA behavior", base(policy.KeyBehavior, `{"scaleUp": {"policy": []}}`),
			[]string{`rabbitscale.io/behavior: is not an HPA behavior: unknown field "policy"`}},
		{"behavior with bad values, every one named", base(policy.KeyBehavior, "scaleUp:\n  selectPolicy: Fastest\n  policies:\n  - type: Pod\n    value: 0\n    periodSeconds: 3600\nscaleDown:\n  stabilizationWindowSeconds: -1\n  tolerance: lots\n"),
			[]string{`rabbitscale.io/behavior: scaleUp.selectPolicy: "Fastest" is not Max, Min or Disabled; scaleUp.policies[0].type: "Pod" is not Pods or Percent; scaleUp.policies[0].value: 0 must be above 0; scaleUp.policies[0].periodSeconds: 3600 must be 1 to 1800; scaleDown.stabilizationWindowSeconds: -1 must be 0 to 3600; scaleDown.tolerance: "lots" is not a number or a quantity such as "0.05" or "50m"`}},
		{"behavior with the keys it replaces", base(policy.KeyBehavior, "{}", policy.KeyMaxScaleUpStep, "4", policy.KeyScaleDownStabilization, "1m"),
			[]string{
				`rabbitscale.io/scale-down-stabilization: "1m" is set together with rabbitscale.io/behavior, which sets it too; use one`,
				`rabbitscale.io/max-scale-up-step: "4" is set together with rabbitscale.io/behavior, which sets it too; use one`,
			}},
		{"rate utilization above 100", base(policy.KeyTargetDrainSeconds, "60", policy.KeyTargetRateUtilization, "120"),
			[]string{`rabbitscale.io/target-rate-utilization: "120" must be at most 100`}},
		{"rate utilization zero", base(policy.KeyTargetDrainSeconds, "60", policy.KeyTargetRateUtilization, "0"),
			[]string{`rabbitscale.io/target-rate-utilization: "0" must be at least 1 (remove the annotation for the default)`}},
		{"rate utilization a fraction", base(policy.KeyTargetDrainSeconds, "60", policy.KeyTargetRateUtilization, "0.9"),
			[]string{`rabbitscale.io/target-rate-utilization: "0.9" is not a percentage (such as 70)`}},
		{"cpu zero", base(policy.KeyTargetCPUUtilization, "0"),
			[]string{`rabbitscale.io/target-cpu-utilization: "0" must be at least 1 (remove the annotation to turn the CPU signal off)`}},
		{"cpu words", base(policy.KeyTargetCPUUtilization, "seventy"),
			[]string{`rabbitscale.io/target-cpu-utilization: "seventy" is not a percentage (such as 70)`}},
		{"tolerance 1", base(policy.KeyTolerance, "1"),
			[]string{`rabbitscale.io/tolerance: "1" must be at least 0 and below 1 (a fraction, 0.1 for 10%)`}},
		{"tolerance negative", base(policy.KeyTolerance, "-0.1"),
			[]string{`rabbitscale.io/tolerance: "-0.1" must be at least 0 and below 1 (a fraction, 0.1 for 10%)`}},
		{"tolerance Inf", base(policy.KeyTolerance, "+Inf"),
			[]string{`rabbitscale.io/tolerance: "+Inf" is not a finite number`}},
		{"tolerance percent", base(policy.KeyTolerance, "10%"),
			[]string{`rabbitscale.io/tolerance: "10%" is not a number`}},
		{"step empty part", base(policy.KeyMaxScaleUpStep, "4,,100%"),
			[]string{`rabbitscale.io/max-scale-up-step: "4,,100%" is not a step (pods such as 4, a percentage such as 100%, or both: 4,100%; optionally per period: 4,100%/15s)`}},
		{"step twice pods", base(policy.KeyMaxScaleUpStep, "4,5"),
			[]string{`rabbitscale.io/max-scale-up-step: "4,5" is not a step (pods such as 4, a percentage such as 100%, or both: 4,100%; optionally per period: 4,100%/15s)`}},
		{"step words", base(policy.KeyMaxScaleDownStep, "fast"),
			[]string{`rabbitscale.io/max-scale-down-step: "fast" is not a step (pods such as 4, a percentage such as 100%, or both: 4,100%; optionally per period: 4,100%/15s)`}},
		{"step zero pods", base(policy.KeyMaxScaleUpStep, "0"),
			[]string{`rabbitscale.io/max-scale-up-step: "0": the number of pods must be at least 1`}},
		{"step zero percent", base(policy.KeyMaxScaleUpStep, "0%"),
			[]string{`rabbitscale.io/max-scale-up-step: "0%": the percentage must be at least 1% and no upper bound`}},
		{"scale-down step over 100%", base(policy.KeyMaxScaleDownStep, "150%"),
			[]string{`rabbitscale.io/max-scale-down-step: "150%": the percentage must be at least 1% and at most 100%`}},
		{"fallback outside bounds", base(policy.KeyFallbackReplicas, "20"),
			[]string{`rabbitscale.io/fallback-replicas: 20 is outside [rabbitscale.io/min-replicas: 1, rabbitscale.io/max-replicas: 10]`}},
		{"fallback negative", base(policy.KeyFallbackReplicas, "-1"),
			[]string{`rabbitscale.io/fallback-replicas: -1 must not be negative`}},
		{"paused", base(policy.KeyPaused, "maybe"),
			[]string{`rabbitscale.io/paused: "maybe" is not a boolean (true or false)`}},
		{"dry-run", base(policy.KeyDryRun, "2"),
			[]string{`rabbitscale.io/dry-run: "2" is not a boolean (true or false)`}},
		{"vhost empty", base(policy.KeyVHost, ""),
			[]string{`rabbitscale.io/vhost: "" is empty`}},
		{"broker blank", base(policy.KeyBroker, "  "),
			[]string{`rabbitscale.io/broker: "  " is empty`}},
		{"queue empty", base(policy.KeyQueue, ""),
			[]string{`rabbitscale.io/queue: "" is empty: name a queue, or several separated by commas`}},
		{"queue empty name", base(policy.KeyQueue, "a,,b"),
			[]string{`rabbitscale.io/queue: "a,,b" has an empty queue name`}},
		{"queue twice", base(policy.KeyQueue, "a, b, a"),
			[]string{`rabbitscale.io/queue: "a, b, a" names queue "a" twice`}},
		{"pattern does not compile", map[string]string{policy.KeyQueuePattern: "orders-(", policy.KeyTargetDepthPerPod: "1"},
			[]string{"rabbitscale.io/queue-pattern: \"orders-(\" does not compile: missing closing ): `orders-(`"}},
		{"pattern empty", map[string]string{policy.KeyQueuePattern: "", policy.KeyTargetDepthPerPod: "1"},
			[]string{`rabbitscale.io/queue-pattern: "" is empty: it would match every queue`}},
		{"queue and pattern", base(policy.KeyQueuePattern, "orders-.*"),
			[]string{`rabbitscale.io/queue-pattern: "orders-.*" is set together with rabbitscale.io/queue; use one`}},
		{"neither queue nor pattern", map[string]string{policy.KeyTargetDepthPerPod: "1"},
			[]string{`rabbitscale.io/queue: required (or rabbitscale.io/queue-pattern)`}},
		{"unknown key, close to a known one", base("rabbitscale.io/max-replica", "3"),
			[]string{`rabbitscale.io/max-replica: unknown annotation (did you mean rabbitscale.io/max-replicas?)`}},
		{"unknown key, wrong case", base("rabbitscale.io/Queue", "x"),
			[]string{`rabbitscale.io/Queue: unknown annotation (did you mean rabbitscale.io/queue?)`}},
		{"unknown key, old name", base("rabbitscale.io/cooldown-down", "5m"),
			[]string{`rabbitscale.io/cooldown-down: unknown annotation (see the README for the supported keys)`}},
		{"unknown key, far from all", base("rabbitscale.io/colour", "blue"),
			[]string{`rabbitscale.io/colour: unknown annotation (see the README for the supported keys)`}},
		{"every problem at once, in order", map[string]string{
			policy.KeyMaxReplicas:       "ten",
			policy.KeyMinReplicas:       "-2",
			policy.KeyTolerance:         "2",
			"rabbitscale.io/tolerants":  "0.2",
			"rabbitscale.io/min-replic": "1",
			policy.KeyQueuePattern:      "[",
		}, []string{
			"rabbitscale.io/queue-pattern: \"[\" does not compile: missing closing ]: `[`",
			`rabbitscale.io/min-replicas: -2 must not be negative`,
			`rabbitscale.io/max-replicas: "ten" is not an integer`,
			`rabbitscale.io/tolerance: "2" must be at least 0 and below 1 (a fraction, 0.1 for 10%)`,
			`rabbitscale.io/target-depth-per-pod: required`,
			`rabbitscale.io/min-replic: unknown annotation (did you mean rabbitscale.io/min-replicas?)`,
			`rabbitscale.io/tolerants: unknown annotation (did you mean rabbitscale.io/tolerance?)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := policy.ParseSpec(tt.ann)
			if diff := cmp.Diff(tt.want, messages(t, err)); diff != "" {
				t.Errorf("ParseSpec errors diff (-want +got):\n%s", diff)
			}
			if err != nil {
				if diff := cmp.Diff(policy.Spec{}, got, specCmp); diff != "" {
					t.Errorf("ParseSpec returned a Spec with its error, diff (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestFieldErrorFields(t *testing.T) {
	_, err := policy.ParseSpec(base(policy.KeyMaxReplicas, " ten "))
	var fe *policy.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(%v, *FieldError) = false", err)
	}
	want := &policy.FieldError{Key: policy.KeyMaxReplicas, Value: " ten ", Reason: `" ten " is not an integer`}
	if diff := cmp.Diff(want, fe); diff != "" {
		t.Errorf("FieldError diff (-want +got):\n%s", diff)
	}
}

func TestParseSpecNotManaged(t *testing.T) {
	tests := []struct {
		name        string
		ann         map[string]string
		wantManaged bool
		wantNoQueue bool
	}{
		{"nil", nil, false, true},
		{"foreign keys", map[string]string{"app": "web", "rabbitscale.io.queue": "x"}, false, true},
		{"status annotations only", map[string]string{policy.StateAnnotation: "{}", policy.DecisionAnnotation: "{}"}, false, true},
		{"a typo opts in", map[string]string{"rabbitscale.io/queu": "orders"}, true, false},
		{"target without queue opts in", map[string]string{policy.KeyTargetDepthPerPod: "1"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.ParseSpec(tt.ann)
			got := struct{ Managed, NoQueue bool }{policy.Managed(tt.ann), errors.Is(err, policy.ErrNoQueue)}
			want := struct{ Managed, NoQueue bool }{tt.wantManaged, tt.wantNoQueue}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
			if tt.wantNoQueue && (err == nil || err.Error() != policy.ErrNoQueue.Error()) {
				t.Errorf("ParseSpec error = %v, want ErrNoQueue alone", err)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	keys := policy.Keys()
	seen := map[string]bool{}
	for _, k := range append(keys, policy.StatusKeys()...) {
		if !strings.HasPrefix(k, policy.Prefix) {
			t.Errorf("key %q lacks the prefix %q", k, policy.Prefix)
		}
		if seen[k] {
			t.Errorf("key %q listed twice", k)
		}
		seen[k] = true
	}
	keys[0] = "changed"
	if policy.Keys()[0] != policy.KeyQueue {
		t.Errorf("Keys() shares its backing array with the caller")
	}
	// Every key is accepted by ParseSpec (no key is listed but unparsed).
	for _, k := range policy.Keys() {
		_, err := policy.ParseSpec(base(k, "x"))
		for _, m := range messages(t, err) {
			if strings.Contains(m, "unknown annotation") {
				t.Errorf("key %s listed by Keys is unknown to ParseSpec: %s", k, m)
			}
		}
	}
}

func TestStepLimitsEachDecision(t *testing.T) {
	// A step annotation without a period limits each decision on its own,
	// the larger of its pods and percentage winning (selectPolicy Max).
	tests := []struct {
		rules   policy.ScalingRules
		current int32
		up      int32
		down    int32
	}{
		{steps(4, 0), 10, 14, 6},
		{steps(0, 100), 10, 20, 0},
		{steps(0, 50), 3, 5, 1},   // ceil(4.5) up and trunc(1.5) down, as the HPA rounds
		{steps(0, 15), 10, 12, 8}, // ceil(11.5), trunc(8.5)
		{steps(4, 100), 2, 6, 0},
		{steps(4, 100), 10, 20, 0},
		{steps(0, 100), 0, 1, 0}, // from zero, at least one pod
		{policy.ScalingRules{}, 10, math.MaxInt32, 0},
	}
	for _, tt := range tests {
		got := [2]int32{tt.rules.Limit(true, tt.current, nil, t0), tt.rules.Limit(false, tt.current, nil, t0)}
		if diff := cmp.Diff([2]int32{tt.up, tt.down}, got); diff != "" {
			t.Errorf("%v from %d: limits up, down (-want +got):\n%s", tt.rules, tt.current, diff)
		}
	}
}

func TestQueueSelector(t *testing.T) {
	list, err := policy.ParseSpec(base(policy.KeyQueue, "orders,invoices"))
	if err != nil {
		t.Fatal(err)
	}
	pattern, err := policy.ParseSpec(map[string]string{policy.KeyQueuePattern: "orders-[a-z]+", policy.KeyTargetDepthPerPod: "1", policy.KeyVHost: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := list.Queue.String(), "orders,invoices"; got != want {
		t.Errorf("names selector String() = %q, want %q", got, want)
	}
	if got, want := pattern.Queue.String(), "^(?:orders-[a-z]+)$"; got != want {
		t.Errorf("pattern selector String() = %q, want %q", got, want)
	}
	type match struct{ List, Pattern bool }
	tests := []struct {
		vhost, name string
		want        match
	}{
		{"/", "orders", match{List: true}},
		{"/", "invoices", match{List: true}},
		{"eu", "orders", match{}}, // the names are in vhost "/"
		{"eu", "orders-eu", match{Pattern: true}},
		{"/", "orders-eu", match{}},      // the pattern is for vhost "eu"
		{"eu", "orders-eu.dlq", match{}}, // the pattern must match the whole name
		{"eu", "old-orders-eu", match{}},
		{"eu", "orders-", match{}},
	}
	for _, tt := range tests {
		got := match{list.Queue.Match(tt.vhost, tt.name), pattern.Queue.Match(tt.vhost, tt.name)}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Match(%q, %q) diff (-want +got):\n%s", tt.vhost, tt.name, diff)
		}
	}
}

// steps are the policies of a step annotation without a period.
func steps(pods, pct int32) policy.ScalingRules {
	r := policy.ScalingRules{Select: policy.SelectMax}
	if pods > 0 {
		r.Policies = append(r.Policies, policy.ScalingPolicy{Type: policy.PodsPolicy, Value: pods})
	}
	if pct > 0 {
		r.Policies = append(r.Policies, policy.ScalingPolicy{Type: policy.PercentPolicy, Value: pct})
	}
	return r
}

func percent(v int32) []policy.ScalingPolicy {
	return []policy.ScalingPolicy{{Type: policy.PercentPolicy, Value: v}}
}
