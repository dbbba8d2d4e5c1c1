package policy

import "errors"

// Lint returns what a valid Spec accepts but never uses, or uses in a way
// that is unlikely to be what was meant: keys that have no effect given the
// others. Each problem is a *FieldError naming the key and its value, joined
// with errors.Join in the order of Keys; nil when there is none. s must be
// ParseSpec(annotations)'s result. The controller does not call it (such a
// workload scales as its Spec says); `rabbitscale validate` does, so that CI
// catches a setting that would silently do nothing.
func Lint(annotations map[string]string, s Spec) error {
	p := &parser{ann: annotations}
	if s.MinReplicas > 0 {
		for _, k := range []string{KeyActivationDepth, KeyActivationMaxWait, KeyScaleToZeroAfter} {
			if p.has(k) {
				p.fail(k, p.raw(k), "%s has no effect: %s is %d, so the workload is never at zero replicas to wake from",
					quote(p.raw(k)), KeyMinReplicas, s.MinReplicas)
			}
		}
	}
	if s.MinReplicas == s.MaxReplicas && (p.has(KeyMinReplicas) || p.has(KeyMaxReplicas)) {
		p.fail(KeyMinReplicas, p.raw(KeyMinReplicas), "%d = %s: %d%s, so the replicas never change (use %s to stop scaling)",
			s.MinReplicas, KeyMaxReplicas, s.MaxReplicas, defaulted(p, KeyMaxReplicas), KeyPaused)
	}
	if s.ScaleUp.Select == SelectDisabled && p.has(KeyScaleUpCooldown) {
		p.fail(KeyScaleUpCooldown, p.raw(KeyScaleUpCooldown), "%s has no effect: %s disables scale-up",
			quote(p.raw(KeyScaleUpCooldown)), KeyBehavior)
	}
	if s.ScaleDown.Select == SelectDisabled && p.has(KeyScaleDownDelay) {
		p.fail(KeyScaleDownDelay, p.raw(KeyScaleDownDelay), "%s has no effect: %s disables scale-down",
			quote(p.raw(KeyScaleDownDelay)), KeyBehavior)
	}
	if s.FallbackReplicas == nil && p.has(KeyFallbackAfter) {
		p.fail(KeyFallbackAfter, p.raw(KeyFallbackAfter), "%s has no effect without %s (the replicas hold while the queue cannot be read)",
			quote(p.raw(KeyFallbackAfter)), KeyFallbackReplicas)
	}
	return errors.Join(p.errs...)
}
