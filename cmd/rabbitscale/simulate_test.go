package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/rabbitscale/rabbitscale/simulate"
)

func TestSimulateOptionsValidate(t *testing.T) {
	testValidate(t, NewSimulateOptions, []validateCase[*SimulateOptions]{
		{name: "defaults are valid", modify: func(*SimulateOptions) {}},
		{name: "a csv instead of the default scenario", modify: func(o *SimulateOptions) { o.CSV = "traffic.csv" }},
		{name: "csv and an explicit scenario", modify: func(o *SimulateOptions) { o.CSV, o.Scenario = "t.csv", "ramp" },
			want: []string{"--csv and --scenario: use one"}},
		{name: "unknown scenario", modify: func(o *SimulateOptions) { o.Scenario = "bursty" },
			want: []string{`--scenario: "bursty" is not one of burst, diurnal, spiky, ramp, outage, flash-crowd, batches, keda-e2e, all`}},
		{name: "all scenarios in markdown", modify: func(o *SimulateOptions) { o.Scenario, o.Format = "all", "markdown" }},
		{name: "unknown format", modify: func(o *SimulateOptions) { o.Format = "json" },
			want: []string{`--format: "json" is not table, markdown or versus`}},
		{name: "several scenarios, one unknown", modify: func(o *SimulateOptions) { o.Scenario = "flash-crowd,keda-e2e,bursts" },
			want: []string{`--scenario: "bursts" is not one of burst, diurnal, spiky, ramp, outage, flash-crowd, batches, keda-e2e, all`}},
		{name: "keda knobs", modify: func(o *SimulateOptions) {
			o.KEDA, o.KEDAScaleUp, o.KEDAScaleDown = "polling=5s,cooldown=10s,activation=5,cached=true", "select=Min,pods=1/60s", "window=30s"
		}},
		{name: "bad keda knobs", modify: func(o *SimulateOptions) {
			o.KEDA, o.KEDAScaleUp, o.KEDAScaleDown = "polling=fast,activation=5", "select=Most", "percent=150,window=3h"
		}, want: []string{
			`--keda: polling: "fast" is not a duration`,
			`--keda-scale-up: select: "Most" is not Max, Min or Disabled`,
			`--keda-scale-down: percent: "150" is not N/PERIOD (e.g. percent=4/15s)`,
		}},
		{name: "a keda behavior", modify: func(o *SimulateOptions) {
			o.KEDABehavior = "scaleDown: {stabilizationWindowSeconds: 60, policies: [{type: Pods, value: 1, periodSeconds: 30}]}"
		}},
		{name: "a bad keda behavior", modify: func(o *SimulateOptions) { o.KEDABehavior = "scaleUp: {selectPolicy: Fast}" },
			want: []string{`--keda-behavior: scaleUp.selectPolicy: "Fast" is not Max, Min or Disabled`}},
		{name: "keda knobs out of range", modify: func(o *SimulateOptions) { o.KEDA, o.KEDAScaleDown = "polling=0", "window=2h" },
			want: []string{
				"--keda: polling: 0s must be a whole number of seconds, at least 1s",
				"--keda-scale-down: window: 2h0m0s must be whole seconds from 0s to 1h",
			}},
		{name: "annotation without =", modify: func(o *SimulateOptions) { o.Annotations = []string{"rabbitscale.io/max-replicas"} },
			want: []string{`--annotation: "rabbitscale.io/max-replicas" is not key=value`}},
		{name: "fractional interval and duration", modify: func(o *SimulateOptions) {
			o.Interval, o.Duration = 1500*time.Millisecond, -time.Second
		}, want: []string{
			"--duration: -1s must be a whole, non-negative number of seconds",
			"--interval: 1.5s must be a whole number of seconds, at least 1s",
		}},
		{name: "model", modify: func(o *SimulateOptions) { o.Model.PerPodRate, o.Model.Prefetch = 0, 0 },
			want: []string{"--per-pod-rate: 0 must be positive", "--prefetch: 0 must be at least 1"}},
		{name: "bad baselines", modify: func(o *SimulateOptions) { o.Compare = []string{"keda", "fixed:x", "knative"} },
			want: []string{
				`--compare: unknown baseline "fixed:x": fixed:N needs a replica count N >= 0`,
				`--compare: unknown baseline "knative" (known: keda, hpa-cpu, fixed:N)`,
			}},
	})
}

func TestSimulateOptionsFlagsReachTheStruct(t *testing.T) {
	o := NewSimulateOptions()
	fs := pflag.NewFlagSet("simulate", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{"--annotation=rabbitscale.io/max-replicas=8", "--annotation", "rabbitscale.io/min-replicas=0",
		"--scenario=ramp", "--per-pod-rate=12.5", "--noise=0", "--startup-delay=1m", "--prefetch=5",
		"--broker-sampling-interval=10s", "--seed=7", "--wait-slo=1m", "--compare=keda,fixed:3", "--out=x", "--interval=15s",
		"--keda=polling=5s", "--keda-scale-up=window=30s", "--keda-scale-down=select=Disabled"})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{o.Annotations, o.Scenario, o.Model.PerPodRate, o.Model.Noise, o.Model.StartupDelay, o.Model.Prefetch,
		o.Model.Sampling, o.Model.Seed, o.Model.WaitSLO, o.Compare, o.Out, o.Interval, o.KEDA, o.KEDAScaleUp, o.KEDAScaleDown}
	want := []any{[]string{"rabbitscale.io/max-replicas=8", "rabbitscale.io/min-replicas=0"}, "ramp", 12.5, 0.0, time.Minute, 5,
		10 * time.Second, uint64(7), time.Minute, []string{"keda", "fixed:3"}, "x", 15 * time.Second,
		"polling=5s", "window=30s", "select=Disabled"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags diff (-want +got):\n%s", diff)
	}
}

func TestSimulateCommandWritesTableCSVAndSVG(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "worker.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  annotations:
    rabbitscale.io/queue: "orders"
    rabbitscale.io/target-depth-per-pod: "50"
    rabbitscale.io/max-replicas: "12"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	traffic := filepath.Join(dir, "traffic.csv")
	if err := os.WriteFile(traffic, []byte("seconds,arrivals_per_second\n0,10\n60,200\n180,10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := newRootCommand()
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"simulate", "--manifest", manifest, "--annotation", "rabbitscale.io/max-replicas=9",
		"--csv", traffic, "--compare", "keda,fixed:4", "--out", out})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("rabbitscale simulate: %v\n%s", err, stdout.String())
	}
	text := stdout.String()
	for _, want := range []string{"workload traffic.csv, seed 1", "rabbitscale", "keda", "fixed:4", "peak depth", "drain after bursts"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// --annotation overrides the manifest: max-replicas 9, not 12.
	if !strings.Contains(text, "max replicas") || !strings.Contains(strings.Split(text, "max replicas")[1], " 9 ") {
		t.Errorf("max replicas row does not show the --annotation's 9:\n%s", text)
	}
	for _, name := range []string{"traffic.csv-rabbitscale", "traffic.csv-keda", "traffic.csv-fixed-4"} {
		csvData, err := os.ReadFile(filepath.Join(out, name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(string(csvData), "\n"); lines != 1+8*60 {
			t.Errorf("%s.csv has %d lines, want a header and 480 seconds", name, lines)
		}
		svg, err := os.ReadFile(filepath.Join(out, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s.svg: %v", name, err)
			}
		}
	}
}

func TestSimulateCommandReportsAnnotationErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"not an integer", []string{"--annotation", "rabbitscale.io/target-depth-per-pod=ten"},
			`rabbitscale.io/target-depth-per-pod: "ten" is not an integer`},
		// An empty queue is not replaced by the simulator's own name.
		{"empty queue", []string{"--annotation", "rabbitscale.io/target-depth-per-pod=10", "--annotation", "rabbitscale.io/queue="},
			`rabbitscale.io/queue: "" is empty`},
	}
	for _, tt := range tests {
		cmd := newRootCommand()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"simulate", "--duration", "1m"}, tt.args...))
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestSimulateAllScenariosAsMarkdown(t *testing.T) {
	cmd := newRootCommand()
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"simulate", "--scenario", "all", "--format", "markdown", "--compare", "fixed:12", "--duration", "10m"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2+8*2 {
		t.Fatalf("%d lines, want a header, a rule and 16 rows:\n%s", len(lines), stdout.String())
	}
	for i, want := range []string{"| burst | rabbitscale |", "| burst | fixed:12 |", "| diurnal | rabbitscale |"} {
		if !strings.HasPrefix(lines[2+i], want) {
			t.Errorf("row %d = %q, want it to start with %q", i, lines[2+i], want)
		}
	}
}

// TestSimulateVersusMatchesTheGolden: the documented command (make
// simulate-keda) prints the table simulate's TestGoldenVersus pins.
func TestSimulateVersusMatchesTheGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "simulate", "testdata", "versus.golden"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := newRootCommand()
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"simulate", "--scenario", "flash-crowd,batches,keda-e2e", "--compare", "keda", "--format", "versus"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
		t.Errorf("versus table diff (-want +got):\n%s", diff)
	}
}

// TestSimulateScenarioSettings: a scenario's model settings and keda knobs
// apply, the flags given win over them, and --annotation over its
// annotations.
func TestSimulateScenarioSettings(t *testing.T) {
	o := NewSimulateOptions()
	fs := pflag.NewFlagSet("simulate", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--startup-delay=20s", "--keda=cooldown=30s", "--keda-scale-down=window=0s",
		"--keda-behavior=scaleDown: {stabilizationWindowSeconds: 60, selectPolicy: Min}",
		"--annotation=rabbitscale.io/max-replicas=8"}); err != nil {
		t.Fatal(err)
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { o.set[f.Name] = true })
	w, err := simulate.Scenario("keda-e2e")
	if err != nil {
		t.Fatal(err)
	}
	m, kc, err := o.settings(w)
	if err != nil {
		t.Fatal(err)
	}
	// --keda-scale-down's window=0s applies over --keda-behavior's 60 s;
	// its selectPolicy Min stays.
	got := []any{m.StartupDelay, m.Sampling, m.PerPodRate, m.Prefetch, m.InitialReplicas, kc.Polling, kc.Cooldown, kc.Activation,
		kc.Behavior.ScaleDown.StabilizationWindow, string(kc.Behavior.ScaleDown.Select)}
	want := []any{20 * time.Second, 5 * time.Second, 1.0, 1, int32(0), 5 * time.Second, 30 * time.Second, 5.0, time.Duration(0), "Min"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings diff (-want +got):\n%s", diff)
	}
	ann, err := o.annotations(w)
	if err != nil {
		t.Fatal(err)
	}
	if ann["rabbitscale.io/max-replicas"] != "8" || ann["rabbitscale.io/activation-depth"] != "5" || ann["rabbitscale.io/queue"] != "hello" {
		t.Errorf("annotations %v: want the scenario's with max-replicas 8", ann)
	}
}

func TestManifestAnnotations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "workers.yaml")
	if err := os.WriteFile(path, []byte(`apiVersion: v1
kind: Secret
metadata:
  name: broker
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: a
  annotations:
    rabbitscale.io/queue: "a"
    rabbitscale.io/target-depth-per-pod: "10"
---
kind: StatefulSet
metadata:
  name: b
  annotations:
    rabbitscale.io/queue: "b"
---
kind: Deployment
metadata:
  name: plain
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		want    map[string]string
		wantErr string
	}{
		{name: "", wantErr: "several workloads (a, b); choose one with --workload"},
		{name: "a", want: map[string]string{"rabbitscale.io/queue": "a", "rabbitscale.io/target-depth-per-pod": "10"}},
		{name: "b", want: map[string]string{"rabbitscale.io/queue": "b"}},
		{name: "plain", want: map[string]string{}},
		{name: "broker", wantErr: `no Deployment or StatefulSet named "broker"`},
	}
	for _, tt := range tests {
		got, err := manifestAnnotations(path, tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("--workload %q: error %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("--workload %q: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("--workload %q annotations diff (-want +got):\n%s", tt.name, diff)
		}
	}
}
