package simulate

import (
	"testing"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// TestFreshReadWakesFromZero: with the broker sampling its statistics
// every 30 s, a burst on a workload at zero is seen by the controller's
// passive declare at the first tick after it arrives, not at the next
// statistics sample, as the controller's own observe code decides.
func TestFreshReadWakesFromZero(t *testing.T) {
	m := DefaultModel()
	m.Sampling, m.InitialReplicas, m.Noise = 30*time.Second, 0, 0
	const burstAt = 62 * time.Second // after the sample and the tick at 60 s
	w := Workload{Name: "wake", Duration: 3 * time.Minute, Rate: func(t time.Duration) float64 {
		if t >= burstAt && t < burstAt+time.Second {
			return 100
		}
		return 0
	}}
	spec := testSpec(t, policy.KeyMinReplicas+"=0")
	r := run(t, w, m, &Rabbitscale{Spec: spec, Every: 5 * time.Second})
	if len(r.Events) == 0 {
		t.Fatal("never woke up")
	}
	// The tick at 65 s; the statistics alone would show the burst at the
	// sample of 90 s.
	if e := r.Events[0]; e.T != 65*time.Second || e.From != 0 || e.To < 1 {
		t.Errorf("first scale event %+v, want 0 -> at least 1 at 65s (the first tick after the burst)", e)
	}
}
