package policy_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

// Regenerate the golden files with:
//
//	go test ./policy -run JSON -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s diff (-want +got):\n%s", path, diff)
	}
}

// TestStateJSON checks the stored form of a State with every field set and
// its exact round trip, through encoding/json and through the annotation
// helpers.
func TestStateJSON(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	full := policy.State{
		History: []policy.Recommendation{
			{Time: at(-4 * time.Minute), Replicas: 12},
			{Time: at(-90*time.Second + 123456789), Replicas: 7},
		},
		LastScaleUp:       at(-4 * time.Minute),
		LastScaleDown:     at(-time.Minute),
		PerPodRate:        17.123456789012345,
		PerPodRateAt:      at(-5 * time.Minute),
		QueueFailingSince: at(-20 * time.Second),
		WaitingSince:      at(-10 * time.Second),
		LastArrival:       at(-30 * time.Second),
	}
	b, err := json.MarshalIndent(full, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "state.json", append(b, '\n'))

	var back policy.State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(full, back) {
		t.Errorf("State changed through encoding/json, diff (-before +after):\n%s", cmp.Diff(full, back))
	}

	value, err := policy.EncodeState(full)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := policy.DecodeState(value)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(full, decoded) {
		t.Errorf("State changed through EncodeState/DecodeState, diff (-before +after):\n%s", cmp.Diff(full, decoded))
	}

	zero, err := policy.EncodeState(policy.State{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("{}", zero); diff != "" {
		t.Errorf("zero State JSON diff (-want +got):\n%s", diff)
	}
	for _, v := range []string{"", "  "} {
		if s, err := policy.DecodeState(v); err != nil || !reflect.DeepEqual(s, policy.State{}) {
			t.Errorf("DecodeState(%q) = %+v, %v; want the zero State", v, s, err)
		}
	}
	if _, err := policy.DecodeState("{"); err == nil || !strings.HasPrefix(err.Error(), policy.StateAnnotation+": ") {
		t.Errorf("DecodeState of bad JSON: error %v, want one naming %s", err, policy.StateAnnotation)
	}
}

// TestDecideStateRoundTrips: the states Decide returns survive JSON exactly,
// even when now comes in another zone and carries a monotonic reading.
func TestDecideStateRoundTrips(t *testing.T) {
	spec := mustSpec(t, policy.KeyMinReplicas, "0", policy.KeyTargetDrainSeconds, "60",
		policy.KeyFallbackReplicas, "0", policy.KeyFallbackAfter, "0s")
	wall := time.Now() // only to carry a monotonic reading into Decide
	now := wall.Add(t0.Sub(wall)).In(time.FixedZone("CET", 3600))
	steps := []struct {
		at       time.Duration
		replicas int32
		queue    policy.QueueObservation
	}{
		{0, 0, withRates(q(3, 0), 0, 0)},                                // waiting at zero
		{15 * time.Second, 0, withRates(q(900, 40), 30, 80)},            // wake: scale-up
		{30*time.Second + 123456789, 10, withRates(q(900, 40), 30, 80)}, // learn a rate
		{45 * time.Second, 10, policy.QueueObservation{}},               // outage: fallback, scale-down
		{time.Minute, 0, policy.QueueObservation{}},                     // still failing
		{time.Minute + 15*time.Second, 0, withRates(q(0, 0), 0, 0)},     // back
	}
	var s policy.State
	for _, st := range steps {
		_, s = policy.Decide(spec, obs(st.replicas, st.queue), s, now.Add(st.at))
		roundTrip(t, s)
	}
}

// TestDecisionJSON locks the field names of the decision annotation.
func TestDecisionJSON(t *testing.T) {
	spec := mustSpec(t, policy.KeyTargetDepthPerPod, "300", policy.KeyMaxReplicas, "30",
		policy.KeyMaxScaleUpStep, "2", policy.KeyTargetDrainSeconds, "120", policy.KeyTargetCPUUtilization, "70")
	o := obs(10, withRates(q(4000, 200), 40, 20))
	o.CPU = policy.CPUObservation{Available: true, Pods: pods(10, 500, true, true)}
	state := settled(10)
	state.LastScaleUp = t0.Add(-10 * time.Second)
	d, _ := policy.Decide(spec, o, state, t0)
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "decision.json", append(b, '\n'))

	value, err := policy.EncodeDecision(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(value, `"reason":"`+d.Reason+`"`) {
		t.Errorf("EncodeDecision escapes the reason: %s", value)
	}
	var back policy.Decision
	if err := json.Unmarshal([]byte(value), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, back); diff != "" {
		t.Errorf("Decision changed through EncodeDecision, diff (-before +after):\n%s", diff)
	}
}
