package simulate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

// Regenerate the golden summaries with: go test ./simulate/ -run TestGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testAnnotations are `rabbitscale simulate`'s defaults.
func testAnnotations() map[string]string {
	return map[string]string{
		policy.KeyQueue:              "work",
		policy.KeyTargetDepthPerPod:  "100",
		policy.KeyMaxReplicas:        "30",
		policy.KeyTargetDrainSeconds: "60",
	}
}

func testSpec(t *testing.T, extra ...string) policy.Spec {
	t.Helper()
	ann := testAnnotations()
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		ann[k] = v
	}
	spec, err := policy.ParseSpec(ann)
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	return spec
}

func controllers(t *testing.T, spec policy.Spec, kc KEDAConfig) []Autoscaler {
	t.Helper()
	out := []Autoscaler{&Rabbitscale{Spec: spec, Every: 5 * time.Second}}
	for _, name := range []string{"keda", "hpa-cpu", "fixed:12"} {
		c, err := ParseBaseline(name, spec, kc)
		if err != nil {
			t.Fatalf("ParseBaseline(%q): %v", name, err)
		}
		out = append(out, c)
	}
	return out
}

func run(t *testing.T, w Workload, m Model, c Autoscaler) *Result {
	t.Helper()
	r, err := Run(w, 0, m, c)
	if err != nil {
		t.Fatalf("Run(%s, %s): %v", w.Name, c.Name(), err)
	}
	return r
}

func scenario(t *testing.T, name string) Workload {
	t.Helper()
	w, err := Scenario(name)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// setup is what `rabbitscale simulate` runs a scenario with when no flag
// overrides it: the scenario's annotations (else testSpec's, the
// command's defaults), model settings and keda knobs.
func setup(t *testing.T, w Workload) (policy.Spec, Model, KEDAConfig) {
	t.Helper()
	spec := testSpec(t)
	if w.Annotations != nil {
		var err error
		if spec, err = policy.ParseSpec(w.Annotations); err != nil {
			t.Fatalf("%s: ParseSpec: %v", w.Name, err)
		}
	}
	m, kc := w.Settings(DefaultModel())
	return spec, m, kc
}

// TestGoldenSummaries pins every built-in scenario's comparison table for
// seed 1 (the same table the README shows).
func TestGoldenSummaries(t *testing.T) {
	for _, name := range ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			w := scenario(t, name)
			spec, m, kc := setup(t, w)
			var sums []Summary
			for _, c := range controllers(t, spec, kc) {
				sums = append(sums, run(t, w, m, c).Summary)
			}
			var got bytes.Buffer
			if err := WriteTable(&got, sums); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("summary of %s diff (-want +got):\n%s", name, diff)
			}
		})
	}
}

// TestGoldenVersus pins the table of rabbitscale against keda on the
// comparison scenarios, each with its own settings on both sides: the
// table `make simulate-keda` prints (TestSimulateVersusMatchesTheGolden in
// cmd/rabbitscale checks that it does).
func TestGoldenVersus(t *testing.T) {
	var rows []Versus
	for _, name := range []string{"flash-crowd", "batches", "keda-e2e"} {
		w := scenario(t, name)
		spec, m, kc := setup(t, w)
		ann := w.Annotations
		if ann == nil {
			ann = testAnnotations()
		}
		rs := run(t, w, m, &Rabbitscale{Spec: spec, Every: 5 * time.Second}).Summary
		k := run(t, w, m, NewKEDAWith(spec, kc)).Summary
		rows = append(rows, Versus{Rabbitscale: rs, Baseline: k, Settings: SettingsNote(ann, 5*time.Second, kc, m)})
	}
	var got bytes.Buffer
	if err := WriteVersus(&got, rows); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "versus.golden"), got.String())
}

// TestCheaperAndSteadierThanKEDA holds rabbitscale's defaults to what the
// comparison scenarios promise against keda with the same settings on both
// sides: on keda-e2e no more replica-seconds than KEDA; on the flash crowd
// at most 2 reversals and 75% of KEDA's replica-seconds, with a p99 wait no
// worse than KEDA's; on both, a first scale-up within one tick of the
// first burst.
func TestCheaperAndSteadierThanKEDA(t *testing.T) {
	for _, tc := range []struct {
		name         string
		maxShare     float64
		maxReversals int
	}{
		{"keda-e2e", 1, 1},
		{"flash-crowd", 0.75, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := scenario(t, tc.name)
			spec, m, kc := setup(t, w)
			const tick = 5 * time.Second
			rs := run(t, w, m, &Rabbitscale{Spec: spec, Every: tick}).Summary
			k := run(t, w, m, NewKEDAWith(spec, kc)).Summary
			if share := float64(rs.ReplicaSeconds) / float64(k.ReplicaSeconds); share > tc.maxShare {
				t.Errorf("replica-seconds %d are %.0f%% of keda's %d; want at most %.0f%%",
					rs.ReplicaSeconds, 100*share, k.ReplicaSeconds, 100*tc.maxShare)
			}
			if rs.Reversals > tc.maxReversals {
				t.Errorf("%d reversals; want at most %d (keda: %d)", rs.Reversals, tc.maxReversals, k.Reversals)
			}
			if rs.P99Wait > k.P99Wait {
				t.Errorf("p99 wait %s; want no worse than keda's %s", rs.P99Wait, k.P99Wait)
			}
			if rs.Reaction < 0 || rs.Reaction > tick {
				t.Errorf("first scale-up %s after the first burst; want within one tick (%s)", rs.Reaction, tick)
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s diff (-want +got):\n%s", path, diff)
	}
}

func TestDeterministicForASeed(t *testing.T) {
	w := scenario(t, "spiky")
	m := DefaultModel()
	m.Noise = 0.3
	a := run(t, w, m, &Rabbitscale{Spec: testSpec(t), Every: 5 * time.Second})
	b := run(t, w, m, &Rabbitscale{Spec: testSpec(t), Every: 5 * time.Second})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different runs (-first +second):\n%s", diff)
	}
	m.Seed = 2
	c := run(t, w, m, &Rabbitscale{Spec: testSpec(t), Every: 5 * time.Second})
	if cmp.Equal(a.Timeline, c.Timeline) {
		t.Error("seeds 1 and 2 gave the same timeline; the noise is not seeded")
	}
}

// TestConservation checks, every second and at the end, that every message
// that arrived was processed or is still in the queue (ready or unacked),
// across scenarios, controllers and model parameters that stress requeues
// (fast scale-downs with large prefetch) and noise.
func TestConservation(t *testing.T) {
	models := map[string]func(*Model){
		"default":         func(*Model) {},
		"big prefetch":    func(m *Model) { m.Prefetch, m.Noise = 500, 0.5 },
		"slow start":      func(m *Model) { m.StartupDelay, m.PerPodRate = 3*time.Minute, 7.3 },
		"sparse sampling": func(m *Model) { m.Sampling, m.Seed = 30*time.Second, 99 },
	}
	spec := testSpec(t, policy.KeyMinReplicas+"=0", policy.KeyScaleDownCooldown+"=30s")
	for mname, modify := range models {
		for _, name := range ScenarioNames() {
			for _, c := range controllers(t, spec, DefaultKEDAConfig()) {
				m := DefaultModel()
				modify(&m)
				r := run(t, scenario(t, name), m, c)
				var arrived, processed int64
				for _, p := range r.Timeline {
					arrived += p.Arrived
					processed += p.Processed
					if arrived != processed+p.Depth() {
						t.Fatalf("%s/%s/%s at %s: arrived %d != processed %d + depth %d",
							mname, name, c.Name(), p.T, arrived, processed, p.Depth())
					}
				}
				s := r.Summary
				if s.Arrived != s.Processed+s.Left || s.Arrived != arrived {
					t.Errorf("%s/%s/%s: arrived %d, processed %d, left %d", mname, name, c.Name(), s.Arrived, s.Processed, s.Left)
				}
			}
		}
	}
}

// TestWaitsAreFIFO checks the wait figures on cases worked out by hand.
func TestWaitsAreFIFO(t *testing.T) {
	m := DefaultModel()
	m.Noise, m.PerPodRate = 0, 10
	// 5 msg/s into one pod that does 10: each message is done in the
	// second it arrives, a wait of 1 s (whole seconds, rounded up).
	steady := Workload{Name: "steady", Duration: time.Minute, Rate: func(time.Duration) float64 { return 5 }}
	s := run(t, steady, m, Fixed{Replicas: 1}).Summary
	if s.MaxWait != time.Second || s.P99Wait != time.Second || s.PeakDepth != 0 {
		t.Errorf("steady: max wait %s, p99 %s, peak depth %d; want 1s, 1s, 0", s.MaxWait, s.P99Wait, s.PeakDepth)
	}
	// 100 messages at once (second 0), then nothing, one pod at 10 msg/s:
	// the last ten are done in second 9, a wait of 10 s; the 99th
	// percentile message (the 99th) too.
	once := Workload{Name: "once", Duration: time.Minute, Rate: func(t time.Duration) float64 {
		if t < time.Second {
			return 100
		}
		return 0
	}}
	m.Prefetch = 1
	s = run(t, once, m, Fixed{Replicas: 1}).Summary
	if s.MaxWait != 10*time.Second || s.P99Wait != 10*time.Second || s.PeakDepth != 90 {
		t.Errorf("once: max wait %s, p99 %s, peak depth %d; want 10s, 10s, 90", s.MaxWait, s.P99Wait, s.PeakDepth)
	}
	m.WaitSLO = 5 * time.Second
	s = run(t, once, m, Fixed{Replicas: 1}).Summary
	// The oldest message (arrived in second 0) is older than 5 s at the
	// ends of seconds 5 to 8: 4 seconds.
	if s.SecondsOverSLO != 4 {
		t.Errorf("once: seconds over a 5s SLO = %d, want 4", s.SecondsOverSLO)
	}
}

// recorder is a controller that remembers what it was shown.
type recorder struct {
	views []View
	at    []time.Time
	want  int32
}

func (r *recorder) Name() string            { return "recorder" }
func (r *recorder) Interval() time.Duration { return 5 * time.Second }
func (r *recorder) Decide(now time.Time, v View) Choice {
	r.views, r.at = append(r.views, v), append(r.at, now)
	return Choice{Desired: r.want}
}

func TestTheControllerSeesTheBrokerSampleAndOutages(t *testing.T) {
	w := scenario(t, "outage")
	m := DefaultModel()
	m.Sampling = 10 * time.Second
	rec := &recorder{want: 12}
	r := run(t, w, m, rec)
	for i, v := range rec.views {
		at := rec.at[i].Sub(Epoch)
		q := v.Observation.Queue
		if want := !inAny(w.Outages, at); q.Available != want {
			t.Fatalf("at %s: Queue.Available = %v, want %v", at, q.Available, want)
		}
		if !q.Available {
			continue
		}
		// The figures are those of the sample at the last multiple of
		// 10 s, i.e. the end of the second before it.
		sampled := at.Truncate(m.Sampling)
		var want int64
		if sampled > 0 {
			p := r.Timeline[int(sampled/time.Second)-1]
			want = p.Ready + p.Unacked
		}
		if got := q.Ready + q.Unacked; got != want {
			t.Fatalf("at %s: depth seen %d, want the %s sample's %d", at, got, sampled, want)
		}
		// Steady 50 msg/s well before the burst: the controller's own
		// rate is the publish rate.
		if at >= 2*time.Minute && at < 9*time.Minute && (!q.RatesAvailable || q.PublishRate != 50) {
			t.Fatalf("at %s: publish rate %v (available %v), want 50", at, q.PublishRate, q.RatesAvailable)
		}
		if got := len(v.Observation.CPU.Pods); got != int(v.Observation.Replicas) {
			t.Fatalf("at %s: %d CPU samples for %d replicas", at, got, v.Observation.Replicas)
		}
	}
	if len(r.Events) != 1 || r.Events[0] != (Event{T: 0, From: 1, To: 12}) {
		t.Errorf("events %+v, want one 1 -> 12 at 0s", r.Events)
	}
}

func TestRabbitscaleHoldsThroughAnOutage(t *testing.T) {
	w := scenario(t, "outage")
	r := run(t, w, DefaultModel(), &Rabbitscale{Spec: testSpec(t), Every: 5 * time.Second})
	for _, e := range r.Events {
		// fallback-after defaults to 1m but no fallback-replicas is set:
		// the replicas hold until the broker is back.
		if inAny(w.Outages, e.T) {
			t.Errorf("scale event during the outage: %+v", e)
		}
	}
}

func TestPodsStartAfterTheDelayAndScaleDownRequeues(t *testing.T) {
	m := DefaultModel()
	m.Noise, m.StartupDelay, m.Prefetch = 0, 20*time.Second, 50
	w := Workload{Name: "busy", Duration: 2 * time.Minute, Rate: func(time.Duration) float64 { return 100 }}
	c := &scripted{plan: map[time.Duration]int32{10 * time.Second: 4, 60 * time.Second: 1}}
	r := run(t, w, m, c)
	for _, tc := range []struct {
		at    time.Duration
		ready int32
	}{{9 * time.Second, 1}, {29 * time.Second, 1}, {30 * time.Second, 4}, {61 * time.Second, 1}} {
		if got := r.Timeline[int(tc.at/time.Second)].ReadyPods; got != tc.ready {
			t.Errorf("ready pods at %s = %d, want %d", tc.at, got, tc.ready)
		}
	}
	// Three pods with full prefetch were removed: their unacked messages
	// are back in the ready queue, nothing is lost (TestConservation), and
	// one pod holds at most the prefetch.
	if p := r.Timeline[60]; p.Unacked > int64(m.Prefetch) {
		t.Errorf("unacked after scale-down = %d, want <= %d", p.Unacked, m.Prefetch)
	}
}

type scripted struct{ plan map[time.Duration]int32 }

func (s *scripted) Name() string            { return "scripted" }
func (s *scripted) Interval() time.Duration { return 10 * time.Second }
func (s *scripted) Decide(now time.Time, v View) Choice {
	if n, ok := s.plan[now.Sub(Epoch)]; ok {
		return Choice{Desired: n}
	}
	return Choice{Desired: v.Observation.Replicas}
}

func TestSummaryCountsReversalsAndDrain(t *testing.T) {
	r := &Result{
		Timeline: make([]Point, 20*60),
		Events: []Event{
			{T: 0, From: 1, To: 5},
			{T: 2 * time.Minute, From: 5, To: 2},                 // reversal within 5m
			{T: 8 * time.Minute, From: 2, To: 6},                 // reversal, but 6m later
			{T: 9 * time.Minute, From: 6, To: 8},                 // same direction
			{T: 13*time.Minute + 59*time.Second, From: 8, To: 3}, // within 5m: counted
		},
	}
	for i := range r.Timeline {
		r.Timeline[i] = Point{T: time.Duration(i) * time.Second, Rate: 10, Replicas: 1}
	}
	// A burst from 1:00 to 2:00 leaves 500 ready at its end, draining by
	// 100 a second: under 10 ready at 1:04 plus one second.
	for i := 60; i < 120; i++ {
		r.Timeline[i].Ready = 500
	}
	for i, n := 119, int64(500); n >= 0; i, n = i+1, n-100 {
		r.Timeline[i].Ready = n
	}
	w := Workload{Bursts: []Window{{time.Minute, 2 * time.Minute}, {19 * time.Minute, 21 * time.Minute}}}
	s := summarize(r, w, DefaultModel(), nil)
	if s.ScaleEvents != 5 || s.Reversals != 2 {
		t.Errorf("events %d, reversals %d; want 5, 2", s.ScaleEvents, s.Reversals)
	}
	if diff := cmp.Diff([]time.Duration{5 * time.Second, -1}, s.Drain); diff != "" {
		t.Errorf("drain diff (-want +got):\n%s", diff)
	}
}

// A per-pod-rate annotation set too low is corrected rather than trusted:
// on diurnal, at a fifth or two fifths of the pods' real 25 msg/s, it costs
// about what learning the rate from scratch does (before the probe of the
// annotation: 3.9 and 2.4 times as much, the floor holding every pod it
// planned), without more reversals or a worse wait.
func TestLowPerPodRateAnnotationIsCorrected(t *testing.T) {
	w := scenario(t, "diurnal")
	m := DefaultModel()
	learned := run(t, w, m, &Rabbitscale{Spec: testSpec(t), Every: 5 * time.Second}).Summary
	for _, rate := range []string{"5", "10"} {
		s := run(t, w, m, &Rabbitscale{Spec: testSpec(t, policy.KeyPerPodRate+"="+rate), Every: 5 * time.Second}).Summary
		if float64(s.ReplicaSeconds) > 1.05*float64(learned.ReplicaSeconds) {
			t.Errorf("per-pod-rate %s: %d replica-seconds; want at most 5%% over the %d of learning from scratch", rate, s.ReplicaSeconds, learned.ReplicaSeconds)
		}
		if s.Reversals > learned.Reversals || s.P99Wait > learned.P99Wait+time.Second {
			t.Errorf("per-pod-rate %s: %d reversals, p99 wait %s; want no worse than %d and %s", rate, s.Reversals, s.P99Wait, learned.Reversals, learned.P99Wait)
		}
	}
}
