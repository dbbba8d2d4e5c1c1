package policy_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

// fieldErrors flattens an errors.Join of *FieldError values.
func fieldErrors(t *testing.T, err error) []policy.FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []policy.FieldError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *policy.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *policy.FieldError", e)
		}
		out = append(out, *fe)
	}
	return out
}

func TestLint(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want []policy.FieldError
	}{
		{"defaults", base(), nil},
		{"activation from zero", base(policy.KeyMinReplicas, "0", policy.KeyActivationDepth, "5", policy.KeyActivationMaxWait, "1m"), nil},
		{"activation never used", base(policy.KeyActivationDepth, "5", policy.KeyActivationMaxWait, "1m"), []policy.FieldError{
			{Key: policy.KeyActivationDepth, Value: "5", Reason: `"5" has no effect: rabbitscale.io/min-replicas is 1, so the workload is never at zero replicas to wake from`},
			{Key: policy.KeyActivationMaxWait, Value: "1m", Reason: `"1m" has no effect: rabbitscale.io/min-replicas is 1, so the workload is never at zero replicas to wake from`},
		}},
		{"pinned", base(policy.KeyMinReplicas, "3", policy.KeyMaxReplicas, "3"), []policy.FieldError{
			{Key: policy.KeyMinReplicas, Value: "3", Reason: "3 = rabbitscale.io/max-replicas: 3, so the replicas never change (use rabbitscale.io/paused to stop scaling)"},
		}},
		{"pinned at the default max", base(policy.KeyMinReplicas, "10"), []policy.FieldError{
			{Key: policy.KeyMinReplicas, Value: "10", Reason: "10 = rabbitscale.io/max-replicas: 10 (default), so the replicas never change (use rabbitscale.io/paused to stop scaling)"},
		}},
		{"fallback-after alone", base(policy.KeyFallbackAfter, "2m"), []policy.FieldError{
			{Key: policy.KeyFallbackAfter, Value: "2m", Reason: `"2m" has no effect without rabbitscale.io/fallback-replicas (the replicas hold while the queue cannot be read)`},
		}},
		{"fallback", base(policy.KeyFallbackAfter, "2m", policy.KeyFallbackReplicas, "2"), nil},
		{"scale-to-zero-after without min-replicas 0", base(policy.KeyScaleToZeroAfter, "10s"), []policy.FieldError{
			{Key: policy.KeyScaleToZeroAfter, Value: "10s", Reason: `"10s" has no effect: rabbitscale.io/min-replicas is 1, so the workload is never at zero replicas to wake from`},
		}},
		{"a delay for a disabled direction", base(policy.KeyBehavior, "scaleDown: {selectPolicy: Disabled}", policy.KeyScaleDownDelay, "1m"), []policy.FieldError{
			{Key: policy.KeyScaleDownDelay, Value: "1m", Reason: `"1m" has no effect: rabbitscale.io/behavior disables scale-down`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := policy.ParseSpec(tt.ann)
			if err != nil {
				t.Fatalf("ParseSpec: %v", err)
			}
			if diff := cmp.Diff(tt.want, fieldErrors(t, policy.Lint(tt.ann, s))); diff != "" {
				t.Errorf("Lint diff (-want +got):\n%s", diff)
			}
		})
	}
}
