package policy_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

// step is one tick of a scenario: when, what the controller saw, and the
// decision expected, as "current -> desired driver [limits]".
type step struct {
	at     string // offset from t0, as a Go duration
	queue  policy.QueueObservation
	want   string
	reason string // when set, the expected Decision.Reason
}

// line renders a decision for a scenario's comparison.
func line(d policy.Decision) string {
	s := fmt.Sprintf("%d -> %d %s", d.Current, d.Desired, d.DrivenBy)
	if len(d.Limits) > 0 {
		kinds := make([]string, len(d.Limits))
		for i, l := range d.Limits {
			kinds[i] = string(l.Kind)
		}
		s += " [" + strings.Join(kinds, " ") + "]"
	}
	if d.Desired != d.Current && !d.Apply {
		s += " (not applied)"
	}
	return s
}

// replay feeds the steps through Decide as the controller would: it applies
// each decision to the replicas, and keeps the state only through JSON.
// It compares every decision, and returns the replicas and state at the end.
func replay(t *testing.T, spec policy.Spec, replicas int32, state policy.State, steps []step) (int32, policy.State) {
	t.Helper()
	var want, got []string
	for _, s := range steps {
		at, err := time.ParseDuration(s.at)
		if err != nil {
			t.Fatalf("bad step time %q: %v", s.at, err)
		}
		d, next := policy.Decide(spec, obs(replicas, s.queue), state, t0.Add(at))
		want = append(want, s.at+" "+s.want)
		got = append(got, s.at+" "+line(d))
		if s.reason != "" && s.reason != d.Reason {
			t.Errorf("at %s: Reason diff (-want +got):\n%s", s.at, cmp.Diff(s.reason, d.Reason))
		}
		if d.Desired < spec.MinReplicas || d.Desired > spec.MaxReplicas {
			t.Errorf("at %s: Desired %d outside [%d, %d]", s.at, d.Desired, spec.MinReplicas, spec.MaxReplicas)
		}
		if d.Apply {
			replicas = d.Desired
		}
		state = roundTrip(t, next)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions diff (-want +got):\n%s", diff)
	}
	return replicas, state
}

// roundTrip passes a state through encoding/json and checks that nothing
// is lost, to the last nanosecond and location.
func roundTrip(t *testing.T, s policy.State) policy.State {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("json.Marshal(State): %v", err)
	}
	var back policy.State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("json.Unmarshal(State): %v", err)
	}
	if !reflect.DeepEqual(s, back) {
		t.Fatalf("State changed through JSON %s, diff (-before +after):\n%s", b, cmp.Diff(s, back))
	}
	return back
}

func every(from, to, interval time.Duration, f func(i int, at string) step) []step {
	var out []step
	for i, at := 0, from; at <= to; i, at = i+1, at+interval {
		s := f(i, at.String())
		s.at = at.String()
		out = append(out, s)
	}
	return out
}

func TestScenarioBurst(t *testing.T) {
	spec := mustSpec(t, policy.KeyMaxReplicas, "20", policy.KeyMaxScaleUpStep, "4,100%")
	steps := []step{
		{"0s", q(0, 0), "1 -> 1 depth [scale-down-window]", ""},
		{"15s", q(4990, 10), "1 -> 5 depth [max-scale-up-step]", "depth 5000 > 1 pods x 100 wants 50; max-scale-up-step 50 -> 5; scale 1 -> 5"},
		{"30s", q(5100, 100), "5 -> 10 depth [max-scale-up-step]", ""},
		{"45s", q(4300, 500), "10 -> 20 depth [max-scale-up-step]", ""},
		{"1m0s", q(2000, 1000), "20 -> 20 depth [max-replicas]", "depth 3000 > 20 pods x 100 wants 30; max-replicas 30 -> 20; hold 20"},
		{"1m15s", q(0, 1500), "20 -> 20 depth [scale-down-window]", ""},
		{"1m30s", q(0, 200), "20 -> 20 depth [scale-down-window]", ""},
		{"2m0s", q(0, 0), "20 -> 20 depth [scale-down-window]", ""},
		{"3m0s", q(0, 0), "20 -> 20 depth [scale-down-window]", ""},
		{"4m0s", q(0, 0), "20 -> 20 depth [scale-down-window]", ""},
		{"5m0s", q(0, 0), "20 -> 20 depth [scale-down-window]", ""},
		// The 52 of 0:30 leaves the window; the 48 of 0:45 still holds.
		{"5m30s", q(0, 0), "20 -> 20 depth [scale-down-window]", "depth 0 < 20 pods x 100 wants 0; scale-down-window 0 -> 20; hold 20"},
		{"5m45s", q(0, 0), "20 -> 20 depth [scale-down-window]", ""},
		{"6m0s", q(0, 0), "20 -> 15 depth [scale-down-window]", "depth 0 < 20 pods x 100 wants 0; scale-down-window 0 -> 15; scale 20 -> 15"},
		{"6m15s", q(0, 0), "15 -> 2 depth [scale-down-window]", ""},
		{"6m30s", q(0, 0), "2 -> 1 depth [min-replicas]", ""},
		{"7m0s", q(0, 0), "1 -> 1 depth [min-replicas]", ""},
	}
	replay(t, spec, 1, policy.State{}, steps)
}

// TestScenarioSteadyLoad: with rate-aware sizing a steady flow keeps the
// pods it needs although the backlog is small, follows a step up in load,
// and comes back down one window after it. Pods finish 20 msg/s each; the
// engine plans them at 90% of that.
func TestScenarioSteadyLoad(t *testing.T) {
	spec := mustSpec(t, policy.KeyMaxReplicas, "20", policy.KeyTargetDrainSeconds, "60")
	steps := []step{
		{"0s", withRates(q(50, 100), 200, 200), "10 -> 12 rate", // 10 pods saturated at 20/s each
			"need 202.5/s (arrivals 200.0/s + backlog 150 in 1m0s) > 10 pods x 18.0/s (90% of 20.0/s) wants 12; scale 10 -> 12"},
	}
	steps = append(steps, every(time.Minute, 10*time.Minute, time.Minute, func(int, string) step {
		return step{queue: withRates(q(0, 60), 200, 200), want: "12 -> 12 rate"}
	})...)
	steps = append(steps,
		step{"11m0s", withRates(q(1200, 100), 340, 240), "12 -> 20 rate [max-replicas]",
			"need 361.7/s (arrivals 340.0/s + backlog 1300 in 1m0s) > 12 pods x 18.0/s (90% of 20.0/s) wants 21; max-replicas 21 -> 20; scale 12 -> 20"},
		step{"12m0s", withRates(q(800, 200), 340, 400), "20 -> 20 rate", ""},
	)
	steps = append(steps, every(13*time.Minute, 19*time.Minute, time.Minute, func(int, string) step {
		return step{queue: withRates(q(0, 200), 340, 340), want: "20 -> 20 rate"}
	})...)
	steps = append(steps, every(20*time.Minute, 23*time.Minute, time.Minute, func(int, string) step {
		return step{queue: withRates(q(0, 100), 200, 200), want: "20 -> 20 rate [scale-down-window]"}
	})...)
	steps = append(steps,
		step{"24m0s", withRates(q(0, 100), 200, 200), "20 -> 12 rate",
			"need 201.7/s (arrivals 200.0/s + backlog 100 in 1m0s) < 20 pods x 18.0/s (90% of 20.0/s) wants 12; scale 20 -> 12"},
		step{"25m0s", withRates(q(0, 100), 200, 200), "12 -> 12 rate", ""},
	)
	_, state := replay(t, spec, 10, policy.State{}, steps)
	if state.PerPodRate != 20 {
		t.Errorf("learned PerPodRate = %v, want 20", state.PerPodRate)
	}
}

// TestScenarioSlowDrain: a backlog drains over ten minutes; the replicas
// follow one window behind, one pod per minute.
func TestScenarioSlowDrain(t *testing.T) {
	spec := mustSpec(t, policy.KeyTargetDepthPerPod, "1000", policy.KeyMaxReplicas, "20", policy.KeyMaxScaleDownStep, "1")
	steps := every(0, 25*time.Minute, time.Minute, func(m int, _ string) step {
		depth := max(20000-2000*int64(m), 0)
		var want string
		switch {
		case m == 0:
			want = "20 -> 20 depth"
		case m == 1: // 18 pods is within tolerance of 20
			want = "20 -> 20 depth [tolerance]"
		case m <= 5: // the window holds the 20 of minute 1
			want = "20 -> 20 depth [scale-down-window]"
		case m <= 13: // the window holds the recommendation of 4 minutes ago, the step holds more
			want = fmt.Sprintf("%d -> %d depth [scale-down-window max-scale-down-step]", 26-m, 25-m)
		case m <= 24:
			want = fmt.Sprintf("%d -> %d depth [max-scale-down-step]", 26-m, 25-m)
		default:
			want = "1 -> 1 depth [min-replicas]"
		}
		return step{queue: q(depth, 0), want: want}
	})
	steps[6].reason = "depth 8000 < 20 pods x 1000 wants 8; scale-down-window 8 -> 16; max-scale-down-step 16 -> 19; scale 20 -> 19"
	replay(t, spec, 20, policy.State{}, steps)
}

// TestScenarioFlapping: depth jumping around the threshold every tick
// moves the replicas once up and, after it settles, once down.
func TestScenarioFlapping(t *testing.T) {
	spec := mustSpec(t, policy.KeyMaxReplicas, "20")
	t.Run("beyond tolerance", func(t *testing.T) {
		steps := every(0, 8*time.Minute+15*time.Second, 15*time.Second, func(i int, _ string) step {
			depth := int64(850)
			if i <= 12 && i%2 == 0 {
				depth = 1150
			}
			var want string
			switch {
			case i == 0:
				want = "10 -> 12 depth"
			case depth == 1150:
				want = "12 -> 12 depth" // 1150 is 12 pods x 100 within tolerance
			case i < 32:
				want = "12 -> 12 depth [scale-down-window]"
			case i == 32:
				want = "12 -> 9 depth"
			default:
				want = "9 -> 9 depth"
			}
			return step{queue: q(depth, 0), want: want}
		})
		replay(t, spec, 10, policy.State{}, steps)
	})
	t.Run("within tolerance", func(t *testing.T) {
		steps := every(0, 5*time.Minute, 15*time.Second, func(i int, _ string) step {
			if i%2 == 0 {
				return step{queue: q(1050, 0), want: "10 -> 10 depth [tolerance]"}
			}
			return step{queue: q(950, 0), want: "10 -> 10 depth"}
		})
		steps[0].reason = "depth 1050 > 10 pods x 100 wants 11; tolerance 11 -> 10; hold 10"
		replay(t, spec, 10, settled(10), steps)
	})
}

// TestScenarioBrokerOutage: hold while the queue cannot be read, fall back
// after fallback-after, recover when it comes back.
func TestScenarioBrokerOutage(t *testing.T) {
	down := policy.QueueObservation{}
	t.Run("fallback", func(t *testing.T) {
		spec := mustSpec(t, policy.KeyFallbackReplicas, "3", policy.KeyFallbackAfter, "1m")
		steps := []step{
			{"0s", q(800, 0), "8 -> 8 depth", ""},
			{"15s", down, "8 -> 8 hold", "queue unavailable for 0s (fallback after 1m0s); hold 8"},
			{"30s", down, "8 -> 8 hold", "queue unavailable for 15s (fallback after 1m0s); hold 8"},
			{"45s", down, "8 -> 8 hold", ""},
			{"1m0s", down, "8 -> 8 hold", ""},
			{"1m15s", down, "8 -> 3 fallback [fallback-replicas]", "queue unavailable for 1m0s: fallback-replicas 3; scale 8 -> 3"},
			{"1m30s", down, "3 -> 3 fallback", ""},
			{"2m0s", down, "3 -> 3 fallback", ""},
			{"3m0s", q(2500, 0), "3 -> 10 depth [max-replicas]", ""},
			{"3m15s", q(900, 0), "10 -> 10 depth [tolerance]", ""},
		}
		replay(t, spec, 8, policy.State{}, steps)
	})
	t.Run("no fallback: hold", func(t *testing.T) {
		spec := mustSpec(t)
		steps := every(0, 10*time.Minute, time.Minute, func(i int, _ string) step {
			if i == 0 {
				return step{queue: q(800, 0), want: "8 -> 8 depth"}
			}
			return step{queue: down, want: "8 -> 8 hold"}
		})
		steps[10].reason = "queue unavailable for 9m0s; hold 8"
		replay(t, spec, 8, policy.State{}, steps)
	})
}

// TestScenarioZeroAndBack: scale to zero after a quiet cooldown, stay at
// zero below activation-depth, wake after activation-max-wait or above
// activation-depth.
func TestScenarioZeroAndBack(t *testing.T) {
	spec := mustSpec(t, policy.KeyMinReplicas, "0", policy.KeyActivationDepth, "5", policy.KeyActivationMaxWait, "2m")
	idle := withRates(q(0, 0), 0, 0)
	steps := []step{
		{"0s", idle, "2 -> 2 depth [scale-down-window]", ""},
		{"1m0s", idle, "2 -> 2 depth [scale-down-window]", ""},
		{"2m0s", idle, "2 -> 2 depth [scale-down-window]", ""},
		{"3m0s", idle, "2 -> 2 depth [scale-down-window]", ""},
		{"4m0s", idle, "2 -> 2 depth [scale-down-window]", ""},
		{"5m0s", idle, "2 -> 0 idle", "queue empty, no arrivals for 5m0s wants 0; scale 2 -> 0"},
		{"6m0s", idle, "0 -> 0 idle", "queue empty at zero replicas; hold 0"},
		{"7m0s", withRates(q(3, 0), 0.05, 0), "0 -> 0 activation [activation-depth]",
			"depth 3 <= activation-depth 5 at zero replicas, waiting 0s of activation-max-wait 2m0s; hold 0"},
		{"8m0s", withRates(q(4, 0), 0.02, 0), "0 -> 0 activation [activation-depth]", ""},
		{"9m0s", withRates(q(4, 0), 0, 0), "0 -> 1 depth",
			"depth 4 > 0 pods x 100 wants 1 (waited 2m0s >= activation-max-wait); scale 0 -> 1"},
		{"10m0s", idle, "1 -> 1 depth [scale-down-window]", ""},
		{"11m0s", idle, "1 -> 1 depth [scale-down-window]", ""},
		{"12m0s", idle, "1 -> 1 depth [scale-down-window]", ""},
		{"13m0s", idle, "1 -> 1 depth [scale-down-window]", ""},
		// Quiet since 10m, the first tick that saw it so.
		{"14m0s", idle, "1 -> 1 depth [recent-arrivals]", ""},
		{"15m0s", idle, "1 -> 0 idle", "queue empty, no arrivals for 5m0s wants 0; scale 1 -> 0"},
		{"16m0s", withRates(q(50, 0), 1, 0), "0 -> 1 depth", "depth 50 > 0 pods x 100 wants 1; scale 0 -> 1"},
		{"17m0s", withRates(q(0, 0), 2, 2), "1 -> 1 depth [scale-down-window]", ""},
	}
	replay(t, spec, 2, policy.State{}, steps)
}

// TestScenarioKEDAActivationBug replays what made KEDA drop 20 replicas to
// zero: activation 5, about 50 messages per second arriving and consumed at
// once, depth hovering near zero. rabbitscale must not go to zero.
func TestScenarioKEDAActivationBug(t *testing.T) {
	hover := [4]policy.QueueObservation{ // depth 2, 1, 0, 4
		withRates(q(0, 2), 50, 50),
		withRates(q(1, 0), 49, 51),
		withRates(q(0, 0), 50, 50),
		withRates(q(3, 1), 52, 48),
	}
	kv := []string{policy.KeyMinReplicas, "0", policy.KeyActivationDepth, "5", policy.KeyMaxReplicas, "20"}
	t.Run("depth only", func(t *testing.T) {
		steps := every(0, 30*time.Minute, 15*time.Second, func(i int, _ string) step {
			var want string
			switch {
			case i < 20: // the first window, which holds the replicas found
				want = "20 -> 20 depth [scale-down-window]"
			case i == 20:
				want = "20 -> 1 depth"
			case i%4 == 2: // depth 0: the window holds the 1 of the tick before
				want = "1 -> 1 depth [scale-down-window]"
			default:
				want = "1 -> 1 depth"
			}
			return step{queue: hover[i%4], want: want}
		})
		replay(t, mustSpec(t, append(kv, policy.KeyRateFloor, "false")...), 20, policy.State{}, steps)
	})
	t.Run("the rate floor, by default", func(t *testing.T) {
		// The one pod left after the window saturates (a message waits
		// for it), so its rate is learned: about 50/s. The arrivals'
		// floor then keeps it when depth 0 alone would ask for none.
		spec := mustSpec(t, kv...)
		replicas, state := int32(20), policy.State{}
		for i := range 120 {
			d, next := policy.Decide(spec, obs(replicas, hover[i%4]), state, t0.Add(time.Duration(i)*15*time.Second))
			if i > 20 && d.Desired != 1 {
				t.Fatalf("tick %d: %s: want 1 pod", i, d.Reason)
			}
			if i == 22 && !strings.HasPrefix(d.Reason, "depth 0 < 1 pods x 100 wants 0; rate-floor 0 -> 1 (arrivals 50.0/s at ") {
				t.Errorf("tick %d: Reason %q does not state the floor and the arrivals", i, d.Reason)
			}
			if d.Apply {
				replicas = d.Desired
			}
			state = next
		}
	})
	t.Run("depth always zero", func(t *testing.T) {
		steps := every(0, 30*time.Minute, 15*time.Second, func(i int, _ string) step {
			var want string
			switch {
			case i < 20:
				want = "20 -> 20 depth [scale-down-window]"
			case i == 20:
				want = "20 -> 1 depth [recent-arrivals]"
			default:
				want = "1 -> 1 depth [recent-arrivals]"
			}
			return step{queue: withRates(q(0, 0), 50, 50), want: want}
		})
		steps[21].reason = "depth 0 < 1 pods x 100 wants 0; recent-arrivals 0 -> 1 (5m0s left); hold 1"
		replay(t, mustSpec(t, kv...), 20, policy.State{}, steps)
	})
	t.Run("rate-aware", func(t *testing.T) {
		spec := mustSpec(t, append(kv, policy.KeyTargetDrainSeconds, "60", policy.KeyPerPodRate, "5")...)
		steps := every(0, 30*time.Minute, 15*time.Second, func(i int, _ string) step {
			var want string
			switch {
			case i < 20:
				want = "20 -> 20 rate [scale-down-window]"
			case i == 20: // 50/s at 90% of 5/s per pod
				want = "20 -> 12 rate"
			case i%4 == 1: // 49/s needs 11 pods, within tolerance of 12
				want = "12 -> 12 rate [tolerance]"
			default:
				want = "12 -> 12 rate"
			}
			return step{queue: hover[i%4], want: want}
		})
		replay(t, spec, 20, policy.State{}, steps)
	})
}

// TestScenarioRateFloorHoldsWhileArrivalsContinue: a backlog drained by 10
// pods that each manage 10/s, with 60/s still arriving. Depth alone asks
// for 1 pod and would be back to 7 a tick later; the arrivals' floor keeps
// ceil(60 / (90% x 10)) = 7, and lets go as the arrivals fall.
func TestScenarioRateFloorHoldsWhileArrivalsContinue(t *testing.T) {
	spec := mustSpec(t, policy.KeyScaleDownStabilization, "0s", policy.KeyScaleDownDelay, "0s")
	state := policy.State{PerPodRate: 10, PerPodRateAt: t0}
	steps := []step{
		{"0s", withRates(q(20, 10), 60, 60), "10 -> 7 depth [rate-floor]",
			"depth 30 < 10 pods x 100 wants 1; rate-floor 1 -> 7 (arrivals 60.0/s at 9.0/s per pod); scale 10 -> 7"},
		{"15s", withRates(q(5, 7), 60, 60), "7 -> 7 depth [rate-floor]", ""},
		{"30s", withRates(q(3, 5), 30, 30), "7 -> 4 depth [rate-floor]", ""},
		{"45s", withRates(q(0, 2), 5, 5), "4 -> 1 depth", ""},
	}
	replay(t, spec, 10, state, steps)
	t.Run("off", func(t *testing.T) {
		spec := mustSpec(t, policy.KeyScaleDownStabilization, "0s", policy.KeyScaleDownDelay, "0s", policy.KeyRateFloor, "false")
		replay(t, spec, 10, state, []step{{"0s", withRates(q(20, 10), 60, 60), "10 -> 1 depth", ""}})
	})
}

// TestScenarioSeedProbe: a per-pod-rate annotation set too low would hold
// too many pods for good, since pods that keep up are never saturated and
// only saturation teaches a rate. While the annotation is in use, each
// minute the pods it plans keep up makes the rules plan a quarter more per
// pod; once fewer pods no longer keep up, saturation teaches the real rate
// (25/s here, against the annotation's 10) and the probe is done.
func TestScenarioSeedProbe(t *testing.T) {
	spec := mustSpec(t, policy.KeyPerPodRate, "10", policy.KeyScaleDownStabilization, "0s", policy.KeyScaleDownDelay, "0s")
	keepingUp := withRates(q(0, 20), 90, 90)
	waiting := withRates(q(5, 160), 90, 90)    // messages wait, though not one for every pod
	saturated := withRates(q(30, 160), 90, 90) // a message waits for every pod
	saturated.RecentRateSpan, saturated.RecentPublishRate, saturated.RecentDeliverRate, saturated.RecentAckRate = 5*time.Second, 90, 200, 200
	steps := []step{
		// 90/s at 9/s (90% of 10) per pod: the annotation plans 10 pods.
		{"0s", keepingUp, "10 -> 10 depth [rate-floor]",
			"depth 20 < 10 pods x 100 wants 1; rate-floor 1 -> 10 (arrivals 90.0/s at 9.0/s per pod); hold 10"},
		{"30s", keepingUp, "10 -> 10 depth [rate-floor]", ""},
		// A minute of keeping up at the plan: probe, 12.5/s per pod.
		{"1m", keepingUp, "10 -> 8 depth [rate-floor]",
			"depth 20 < 10 pods x 100 wants 1; rate-floor 1 -> 8 (arrivals 90.0/s at 11.2/s per pod, per-pod-rate 10 probed x1.25); scale 10 -> 8"},
		{"1m15s", keepingUp, "8 -> 8 depth [rate-floor]", ""},
		// Messages waiting interrupt the minute.
		{"1m45s", waiting, "8 -> 8 depth [rate-floor]", ""},
		{"2m", keepingUp, "8 -> 8 depth [rate-floor]", ""},
		{"2m45s", keepingUp, "8 -> 8 depth [rate-floor]", ""},
		{"3m", keepingUp, "8 -> 7 depth [rate-floor]",
			"depth 20 < 8 pods x 100 wants 1; rate-floor 1 -> 7 (arrivals 90.0/s at 14.1/s per pod, per-pod-rate 10 probed x1.56); scale 8 -> 7"},
		// Saturated over a whole sampling step: the real rate is learned,
		// and replaces the annotation and its probe.
		{"3m15s", saturated, "7 -> 7 depth [rate-floor]", ""},
		{"3m30s", saturated, "7 -> 4 depth [rate-floor]",
			"depth 190 < 7 pods x 100 wants 2; rate-floor 2 -> 4 (arrivals 90.0/s at 25.7/s per pod); scale 7 -> 4"},
	}
	replicas, state := replay(t, spec, 10, settled(10), steps)
	if state.PerPodRate < 28 || state.PerPodRate > 29 || state.SeedScale != 0 {
		t.Errorf("after saturation: per-pod rate %.1f, seed scale %v; want about 200/7 = 28.6 learned, and the probe done", state.PerPodRate, state.SeedScale)
	}
	d, _ := policy.Decide(spec, obs(replicas, keepingUp), state, t0.Add(4*time.Minute))
	if d.Desired != 4 || d.SeedProbe != 0 {
		t.Errorf("with the learned rate: %s (seed probe %v); want 4 pods for 90/s, from the learned rate alone", d.Reason, d.SeedProbe)
	}
}

// TestScenarioQuietFromTheCounters: a burst drained within a few seconds
// of its last publish. The queue is seen empty at 0s, but the broker's
// newest counter samples still span the burst's publishes until 5s, when a
// sample five seconds after the previous one shows the counter still.
// That still span began at 0s, so the 10 s of scale-to-zero-after are
// counted from 0s, the first tick that saw the queue empty: zero at 10s,
// not at 15s.
func TestScenarioQuietFromTheCounters(t *testing.T) {
	spec := mustSpec(t, policy.KeyMinReplicas, "0", policy.KeyScaleToZeroAfter, "10s")
	empty := withRates(q(0, 0), 3.3, 3.3) // the 30 s window still holds the burst
	burstInSpan, still := empty, empty
	burstInSpan.RecentRateSpan, burstInSpan.RecentPublishRate = 5*time.Second, 20
	still.RecentRateSpan = 5 * time.Second
	steps := []step{
		{"0s", burstInSpan, "4 -> 1 depth [recent-arrivals]", ""},
		{"4s", burstInSpan, "1 -> 1 depth [recent-arrivals]", ""},
		{"5s", still, "1 -> 1 depth [recent-arrivals]", ""},
		{"9s", still, "1 -> 1 depth [recent-arrivals]", ""},
		{"10s", still, "1 -> 0 idle", ""},
	}
	replay(t, spec, 4, settled(4), steps)
	t.Run("a queue seen empty only once the counter is still", func(t *testing.T) {
		// Never before the queue was seen empty: the still span began at
		// 0s, but messages were still there until 3s.
		steps := []step{
			{"0s", withRates(q(0, 40), 3.3, 3.3), "4 -> 1 depth", ""},
			{"3s", still, "1 -> 1 depth [scale-down-window]", ""},
			{"12s", still, "1 -> 1 depth [scale-down-window]", ""},
			{"13s", still, "1 -> 0 idle", ""},
		}
		replay(t, spec, 4, settled(4), steps)
	})
}
