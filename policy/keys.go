package policy

import "strings"

// Prefix starts every annotation rabbitscale reads or writes.
const Prefix = "rabbitscale.io/"

// Annotation keys a user sets on a Deployment or StatefulSet. The README
// table between the annotations markers documents them in the same order as
// Keys, and a test keeps the two in step.
const (
	KeyQueue                  = Prefix + "queue"
	KeyQueuePattern           = Prefix + "queue-pattern"
	KeyVHost                  = Prefix + "vhost"
	KeyBroker                 = Prefix + "broker"
	KeyTargetDepthPerPod      = Prefix + "target-depth-per-pod"
	KeyCountUnacked           = Prefix + "count-unacked"
	KeyMinReplicas            = Prefix + "min-replicas"
	KeyMaxReplicas            = Prefix + "max-replicas"
	KeyActivationDepth        = Prefix + "activation-depth"
	KeyActivationMaxWait      = Prefix + "activation-max-wait"
	KeyTargetDrainSeconds     = Prefix + "target-drain-seconds"
	KeyPerPodRate             = Prefix + "per-pod-rate"
	KeyTargetRateUtilization  = Prefix + "target-rate-utilization"
	KeyRateFloor              = Prefix + "rate-floor"
	KeyTargetWait             = Prefix + "target-wait"
	KeyTargetCPUUtilization   = Prefix + "target-cpu-utilization"
	KeyTolerance              = Prefix + "tolerance"
	KeyScaleUpCooldown        = Prefix + "scale-up-cooldown"
	KeyScaleUpStabilization   = Prefix + "scale-up-stabilization"
	KeyScaleDownCooldown      = Prefix + "scale-down-cooldown"
	KeyScaleDownStabilization = Prefix + "scale-down-stabilization"
	KeyScaleDownDelay         = Prefix + "scale-down-delay"
	KeyScaleToZeroAfter       = Prefix + "scale-to-zero-after"
	KeyMaxScaleUpStep         = Prefix + "max-scale-up-step"
	KeyMaxScaleDownStep       = Prefix + "max-scale-down-step"
	KeyBehavior               = Prefix + "behavior"
	KeyFallbackReplicas       = Prefix + "fallback-replicas"
	KeyFallbackAfter          = Prefix + "fallback-after"
	KeyPaused                 = Prefix + "paused"
	KeyDryRun                 = Prefix + "dry-run"
)

// Status annotations: written by the controller, never by users. ParseSpec
// accepts them silently so that the controller's own output is not reported
// as an unknown key.
const (
	// DecisionAnnotation holds the JSON of the last Decision.
	DecisionAnnotation = Prefix + "decision"
	// StateAnnotation holds the JSON of the State to pass to the next Decide.
	StateAnnotation = Prefix + "state"
)

var keys = [...]string{
	KeyQueue,
	KeyQueuePattern,
	KeyVHost,
	KeyBroker,
	KeyTargetDepthPerPod,
	KeyCountUnacked,
	KeyMinReplicas,
	KeyMaxReplicas,
	KeyActivationDepth,
	KeyActivationMaxWait,
	KeyTargetDrainSeconds,
	KeyPerPodRate,
	KeyTargetRateUtilization,
	KeyRateFloor,
	KeyTargetWait,
	KeyTargetCPUUtilization,
	KeyTolerance,
	KeyScaleUpCooldown,
	KeyScaleUpStabilization,
	KeyScaleDownCooldown,
	KeyScaleDownStabilization,
	KeyScaleDownDelay,
	KeyScaleToZeroAfter,
	KeyMaxScaleUpStep,
	KeyMaxScaleDownStep,
	KeyBehavior,
	KeyFallbackReplicas,
	KeyFallbackAfter,
	KeyPaused,
	KeyDryRun,
}

// Keys returns every configuration annotation key, in the order of the README
// table. The slice is a fresh copy.
func Keys() []string {
	out := make([]string, len(keys))
	copy(out, keys[:])
	return out
}

// StatusKeys returns the annotation keys the controller writes.
func StatusKeys() []string {
	return []string{DecisionAnnotation, StateAnnotation}
}

func isConfigKey(k string) bool {
	for _, known := range keys {
		if k == known {
			return true
		}
	}
	return false
}

func isStatusKey(k string) bool {
	return k == DecisionAnnotation || k == StateAnnotation
}

// Managed reports whether the annotations opt the workload in: whether any
// annotation under Prefix other than a status annotation is present
// (misspelt keys count, so that a typo is reported rather than ignored).
func Managed(annotations map[string]string) bool {
	for k := range annotations {
		if strings.HasPrefix(k, Prefix) && !isStatusKey(k) {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to an unknown one, or "" when none
// is close enough to be a plausible typo.
func suggest(unknown string) string {
	name := strings.ToLower(strings.TrimPrefix(unknown, Prefix))
	best, bestDist := "", -1
	for _, k := range keys {
		d := editDistance(name, strings.TrimPrefix(k, Prefix))
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	// A third of the name, at least 2 and at most 4 edits.
	limit := min(max(len(name)/3, 2), 4)
	if bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
