package policy_test

import (
	"testing"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// BenchmarkDecide runs one workload's tick with every signal on (depth,
// rate, CPU over 10 pods), feeding each state to the next call.
func BenchmarkDecide(b *testing.B) {
	spec := mustSpec(b, policy.KeyMaxReplicas, "50", policy.KeyTargetDrainSeconds, "60",
		policy.KeyTargetCPUUtilization, "70", policy.KeyMaxScaleUpStep, "4,100%", policy.KeyMinReplicas, "0")
	o := obs(10, withRates(q(900, 100), 180, 200))
	o.CPU = policy.CPUObservation{Available: true, Pods: pods(10, 600, true, true)}
	var state policy.State
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o.Queue.Ready = int64(i%20) * 100 // a saw-tooth, so the window keeps changing
		var d policy.Decision
		d, state = policy.Decide(spec, o, state, now)
		if d.Apply {
			o.Replicas = d.Desired
		}
		now = now.Add(15 * time.Second)
	}
}
