package policy_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// FuzzParseSpec: ParseSpec never panics, every error is a *FieldError that
// names its key, and every Spec it accepts is consistent.
func FuzzParseSpec(f *testing.F) {
	f.Add("orders", "", "100", "1", "10", "0.1", "4,100%", "100%", "5m", "60", "70", "3", "max-replica", "3", uint32(0xffff))
	f.Add("a,b", "q-.*", "ten", "5", "3", "1", "0%", "150%", "-1s", "0", "0", "20", "queue", "", uint32(0x3))
	f.Add("", "(", "0", "-1", "0", "NaN", ",", "x,y,z", "1h", "2m", "70%", "-1", "", "", uint32(0xfffe))
	f.Fuzz(func(t *testing.T, queue, pattern, target, minR, maxR, tol, up, down, cooldown, drain, cpu, fallback, extraKey, extraVal string, mask uint32) {
		values := []struct{ key, value string }{
			{policy.KeyQueue, queue}, {policy.KeyQueuePattern, pattern}, {policy.KeyTargetDepthPerPod, target},
			{policy.KeyMinReplicas, minR}, {policy.KeyMaxReplicas, maxR}, {policy.KeyTolerance, tol},
			{policy.KeyMaxScaleUpStep, up}, {policy.KeyMaxScaleDownStep, down}, {policy.KeyScaleDownCooldown, cooldown},
			{policy.KeyTargetDrainSeconds, drain}, {policy.KeyTargetCPUUtilization, cpu}, {policy.KeyFallbackReplicas, fallback},
			{policy.Prefix + extraKey, extraVal},
		}
		ann := map[string]string{}
		for i, v := range values {
			if mask&(1<<i) != 0 {
				ann[v.key] = v.value
			}
		}
		spec, err := policy.ParseSpec(ann)
		_, err2 := policy.ParseSpec(ann)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("ParseSpec is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			checkErrors(t, ann, err)
			return
		}
		if spec.MinReplicas < 0 || spec.MinReplicas > spec.MaxReplicas {
			t.Errorf("bounds [%d, %d] accepted", spec.MinReplicas, spec.MaxReplicas)
		}
		if spec.TargetDepthPerPod < 1 || !(spec.Tolerance >= 0 && spec.Tolerance < 1) {
			t.Errorf("target %d, tolerance %v accepted", spec.TargetDepthPerPod, spec.Tolerance)
		}
		if (len(spec.Queue.Names) == 0) == (spec.Queue.Pattern == nil) {
			t.Errorf("queues %q and pattern %v: want exactly one", spec.Queue.Names, spec.Queue.Pattern)
		}
		if spec.ScaleDown.StabilizationWindow < 0 || spec.ScaleDownDelay < 0 || spec.ScaleToZeroAfter < 0 || spec.TargetDrain < 0 {
			t.Errorf("negative duration accepted: %v %v %v %v", spec.ScaleDown.StabilizationWindow, spec.ScaleDownDelay, spec.ScaleToZeroAfter, spec.TargetDrain)
		}
		if fb := spec.FallbackReplicas; fb != nil && (*fb < spec.MinReplicas || *fb > spec.MaxReplicas) {
			t.Errorf("fallback %d outside [%d, %d] accepted", *fb, spec.MinReplicas, spec.MaxReplicas)
		}
		for _, p := range spec.ScaleDown.Policies {
			if p.Type == policy.PercentPolicy && p.Value > 100 {
				t.Errorf("scale-down step %v accepted", p)
			}
		}
	})
}

func checkErrors(t *testing.T, ann map[string]string, err error) {
	t.Helper()
	if errors.Is(err, policy.ErrNoQueue) {
		if policy.Managed(ann) {
			t.Errorf("ErrNoQueue for managed annotations %q", ann)
		}
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *policy.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q is a %T", e, e)
		}
		if !strings.HasPrefix(fe.Key, policy.Prefix) || !strings.HasPrefix(e.Error(), fe.Key+": ") {
			t.Errorf("error %q does not name its key %q", e, fe.Key)
		}
	}
}

var fallbackSpec = func() policy.Spec {
	spec, err := policy.ParseSpec(map[string]string{
		policy.KeyQueue: "q", policy.KeyTargetDepthPerPod: "100", policy.KeyMinReplicas: "0",
		policy.KeyTargetDrainSeconds: "60", policy.KeyTargetCPUUtilization: "70", policy.KeyFallbackReplicas: "2",
	})
	if err != nil {
		panic(err)
	}
	return spec
}()

// FuzzDecide: over annotation values and observation numbers, Decide never
// panics, Desired stays within [min, max] tick after tick, Apply agrees with
// paused and dry-run, and the state survives JSON.
func FuzzDecide(f *testing.F) {
	f.Add("0", "10", "100", "0.1", "4,100%", "100%", "60", "70", "5", "true", int32(3), int64(500), int64(20), int64(3), 50.0, 40.0, true, true, int64(300), int64(500), uint8(3), uint8(10), uint16(15))
	f.Add("1", "1", "1", "0", "1", "1", "1", "1", "0", "false", int32(0), int64(0), int64(0), int64(0), 0.0, 0.0, false, false, int64(0), int64(0), uint8(0), uint8(1), uint16(0))
	f.Add("0", "2147483647", "1", "0.99", "none", "none", "1", "1000", "9223372036854775807", "false", int32(-5), int64(math.MaxInt64), int64(math.MaxInt64), int64(-1), math.Inf(1), math.NaN(), true, true, int64(math.MaxInt64), int64(1), uint8(255), uint8(40), uint16(65535))
	f.Fuzz(func(t *testing.T, minR, maxR, target, tol, up, down, drain, cpu, activation, paused string,
		replicas int32, ready, unacked, consumers int64, publish, ack float64, available, rates bool,
		usage, request int64, npods, ticks uint8, dtSeconds uint16) {
		ann := map[string]string{
			policy.KeyQueue: "q", policy.KeyMinReplicas: minR, policy.KeyMaxReplicas: maxR,
			policy.KeyTargetDepthPerPod: target, policy.KeyTolerance: tol, policy.KeyMaxScaleUpStep: up,
			policy.KeyMaxScaleDownStep: down, policy.KeyTargetDrainSeconds: drain, policy.KeyTargetCPUUtilization: cpu,
			policy.KeyActivationDepth: activation, policy.KeyPaused: paused, policy.KeyFallbackReplicas: minR,
			policy.KeyPerPodRate: "2.5",
		}
		spec, err := policy.ParseSpec(ann)
		if err != nil {
			// Still exercise the engine with the fuzzed observation.
			spec = fallbackSpec
		}
		cpuObs := policy.CPUObservation{Available: available}
		for i := range int(npods % 64) {
			cpuObs.Pods = append(cpuObs.Pods, policy.PodCPU{Ready: i%3 != 0, HasMetric: i%4 != 1, UsageMilli: usage, RequestMilli: request})
		}
		var state policy.State
		now := t0
		for i := range int(ticks%40) + 1 {
			o := policy.Observation{
				Replicas: replicas,
				Queue: policy.QueueObservation{
					Available: available || i%5 == 0, Ready: ready / int64(i+1), Unacked: unacked, Consumers: consumers,
					RatesAvailable: rates, PublishRate: publish, DeliverRate: ack, AckRate: ack,
				},
				CPU: cpuObs,
			}
			d, next := policy.Decide(spec, o, state, now)
			if d.Desired < spec.MinReplicas || d.Desired > spec.MaxReplicas {
				t.Fatalf("tick %d: Desired %d outside [%d, %d]: %s", i, d.Desired, spec.MinReplicas, spec.MaxReplicas, d.Reason)
			}
			if want := d.Desired != max(replicas, 0) && !spec.Paused && !spec.DryRun; d.Apply != want {
				t.Fatalf("tick %d: Apply = %v, want %v", i, d.Apply, want)
			}
			if d.Reason == "" {
				t.Fatalf("tick %d: empty Reason", i)
			}
			if _, err := json.Marshal(d); err != nil {
				t.Fatalf("tick %d: Decision does not marshal: %v", i, err)
			}
			b, err := json.Marshal(next)
			if err != nil {
				t.Fatalf("tick %d: State does not marshal: %v", i, err)
			}
			state = policy.State{}
			if err := json.Unmarshal(b, &state); err != nil {
				t.Fatalf("tick %d: State does not unmarshal: %v", i, err)
			}
			if d.Apply {
				replicas = d.Desired
			}
			now = now.Add(time.Duration(dtSeconds) * time.Second)
		}
	})
}
