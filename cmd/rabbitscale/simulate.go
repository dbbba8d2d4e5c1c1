package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/simulate"
)

// defaultSimAnnotations apply when neither --annotation nor --manifest is
// given.
var defaultSimAnnotations = []string{
	policy.KeyTargetDepthPerPod + "=100",
	policy.KeyMaxReplicas + "=30",
	policy.KeyTargetDrainSeconds + "=60",
}

// SimulateOptions are the flags of `rabbitscale simulate`.
type SimulateOptions struct {
	// Annotations are key=value pairs; they override the manifest's.
	Annotations []string
	// Manifest is a YAML file of one or more documents; the annotations of
	// its Deployment or StatefulSet (the one named Workload when there
	// are several) are read.
	Manifest string
	Workload string
	Scenario string
	CSV      string
	Duration time.Duration
	// Interval is rabbitscale's tick.
	Interval time.Duration
	Model    simulate.Model
	Compare  []string
	// KEDA, KEDAScaleUp and KEDAScaleDown are the keda baseline's knobs
	// (simulate.ParseKEDAKnobs, simulate.ParseHPARules), set over the
	// scenario's.
	KEDA, KEDAScaleUp, KEDAScaleDown string
	// KEDABehavior is an HPA spec.behavior as YAML or JSON, or a file
	// holding one (policy.ParseBehavior); --keda-scale-up and
	// --keda-scale-down apply over it.
	KEDABehavior string
	Out          string
	// Format is "table" (side by side), "markdown" (a row per run) or
	// "versus" (rabbitscale against the first --compare baseline, a row
	// per workload).
	Format string

	// set holds the flags given on the command line: they win over a
	// scenario's model settings.
	set map[string]bool
}

// NewSimulateOptions returns the defaults: the burst scenario, a 5 s tick
// and simulate.DefaultModel.
func NewSimulateOptions() *SimulateOptions {
	return &SimulateOptions{Scenario: "burst", Format: "table", Interval: 5 * time.Second, Model: simulate.DefaultModel()}
}

// modelFlags copy one model parameter, by the flag that sets it.
var modelFlags = map[string]func(dst *simulate.Model, src simulate.Model){
	"per-pod-rate":             func(d *simulate.Model, s simulate.Model) { d.PerPodRate = s.PerPodRate },
	"noise":                    func(d *simulate.Model, s simulate.Model) { d.Noise = s.Noise },
	"startup-delay":            func(d *simulate.Model, s simulate.Model) { d.StartupDelay = s.StartupDelay },
	"prefetch":                 func(d *simulate.Model, s simulate.Model) { d.Prefetch = s.Prefetch },
	"broker-sampling-interval": func(d *simulate.Model, s simulate.Model) { d.Sampling = s.Sampling },
	"cpu-request":              func(d *simulate.Model, s simulate.Model) { d.CPURequestMilli = s.CPURequestMilli },
	"initial-replicas":         func(d *simulate.Model, s simulate.Model) { d.InitialReplicas = s.InitialReplicas },
	"seed":                     func(d *simulate.Model, s simulate.Model) { d.Seed = s.Seed },
	"wait-slo":                 func(d *simulate.Model, s simulate.Model) { d.WaitSLO = s.WaitSLO },
}

// settings returns the model and the keda knobs for a workload: the
// scenario's model settings over the defaults, the model flags given on
// the command line over those, and --keda, --keda-scale-up and
// --keda-scale-down over the scenario's knobs.
func (o *SimulateOptions) settings(w simulate.Workload) (simulate.Model, simulate.KEDAConfig, error) {
	m, kc := w.Settings(o.Model)
	for name, copyFlag := range modelFlags {
		if o.set[name] {
			copyFlag(&m, o.Model)
		}
	}
	var errs []error
	kc, err := simulate.ParseKEDAKnobs(o.KEDA, kc)
	if err != nil {
		errs = append(errs, prefixed("--keda", err)...)
	}
	if o.KEDABehavior != "" {
		text := o.KEDABehavior
		if data, err := os.ReadFile(text); err == nil {
			text = string(data)
		}
		if b, err := policy.ParseBehavior(text); err != nil {
			errs = append(errs, fmt.Errorf("--keda-behavior: %w", err))
		} else {
			kc.Behavior = b
		}
	}
	if kc.Behavior.ScaleUp, err = simulate.ParseHPARules(o.KEDAScaleUp, kc.Behavior.ScaleUp); err != nil {
		errs = append(errs, prefixed("--keda-scale-up", err)...)
	}
	if kc.Behavior.ScaleDown, err = simulate.ParseHPARules(o.KEDAScaleDown, kc.Behavior.ScaleDown); err != nil {
		errs = append(errs, prefixed("--keda-scale-down", err)...)
	}
	return m, kc, errors.Join(errs...)
}

// prefixed splits joined errors into one per line, each led by the flag.
func prefixed(flag string, err error) []error {
	var out []error
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, fmt.Errorf("%s: %s", flag, line))
	}
	return out
}

// AddFlags registers the options on fs.
func (o *SimulateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Annotations, "annotation", o.Annotations, "A rabbitscale.io/ annotation as key=value; repeat it. It overrides the manifest's or a scenario's own (keda-e2e carries KEDA's e2e settings); without any of them: "+strings.Join(defaultSimAnnotations, ", ")+". The queue key may be left out.")
	fs.StringVar(&o.Manifest, "manifest", o.Manifest, "A YAML file with a Deployment or StatefulSet whose metadata.annotations configure the workload.")
	fs.StringVar(&o.Workload, "workload", o.Workload, "The Deployment or StatefulSet of --manifest to read, when it holds several with rabbitscale.io/ annotations.")
	fs.StringVar(&o.Scenario, "scenario", o.Scenario, "Built-in workloads, comma-separated: "+strings.Join(simulate.ScenarioNames(), ", ")+", or all of them in turn. A scenario's own model settings apply unless the flag is given.")
	fs.StringVar(&o.CSV, "csv", o.CSV, "Workload from a CSV file of seconds,arrivals_per_second (instead of --scenario).")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "Simulated time; 0 uses the workload's own length.")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "rabbitscale's tick interval (as for rabbitscale run --interval).")
	fs.Float64Var(&o.Model.PerPodRate, "per-pod-rate", o.Model.PerPodRate, "Messages per second one ready pod processes.")
	fs.Float64Var(&o.Model.Noise, "noise", o.Model.Noise, "Relative standard deviation of a pod's rate, per pod and second.")
	fs.DurationVar(&o.Model.StartupDelay, "startup-delay", o.Model.StartupDelay, "Time from a scale-up to the new pods consuming.")
	fs.IntVar(&o.Model.Prefetch, "prefetch", o.Model.Prefetch, "Consumer prefetch: unacked messages held by each pod.")
	fs.DurationVar(&o.Model.Sampling, "broker-sampling-interval", o.Model.Sampling, "The broker's collect_statistics_interval: controllers see figures as of the last sample.")
	fs.Int64Var(&o.Model.CPURequestMilli, "cpu-request", o.Model.CPURequestMilli, "Each pod's CPU request in millicores; a pod busy all the time uses all of it.")
	fs.Int32Var(&o.Model.InitialReplicas, "initial-replicas", o.Model.InitialReplicas, "Pods ready at the start (fixed:N starts at N).")
	fs.Uint64Var(&o.Model.Seed, "seed", o.Model.Seed, "Seed of the rate noise; the same seed gives the same run.")
	fs.DurationVar(&o.Model.WaitSLO, "wait-slo", o.Model.WaitSLO, "Longest acceptable message wait, for the seconds-over-SLO figure.")
	fs.StringSliceVar(&o.Compare, "compare", o.Compare, "Baselines to run on the same workload and seed: keda, hpa-cpu, fixed:N (comma-separated).")
	fs.StringVar(&o.KEDA, "keda", o.KEDA, "The keda baseline's ScaledObject knobs over the scenario's (default polling=30s,cooldown=300s,activation=0,cached=false): pollingInterval, cooldownPeriod, activationValue, useCachedMetrics.")
	fs.StringVar(&o.KEDABehavior, "keda-behavior", o.KEDABehavior, "The HPA behavior KEDA passes through (advanced.horizontalPodAutoscalerConfig.behavior): a file holding it as YAML or JSON, or the text itself; what it leaves out keeps the HPA's default.")
	fs.StringVar(&o.KEDAScaleUp, "keda-scale-up", o.KEDAScaleUp, "The scale-up behavior KEDA passes to its HPA, over the default (window=0s,select=Max,pods=4/15s,percent=100/15s); giving a policy replaces the default ones.")
	fs.StringVar(&o.KEDAScaleDown, "keda-scale-down", o.KEDAScaleDown, "The scale-down behavior KEDA passes to its HPA, over the default (window=300s,select=Max,percent=100/15s); giving a policy replaces the default ones.")
	fs.StringVar(&o.Out, "out", o.Out, "Directory for a CSV timeline and an SVG chart per workload and policy.")
	fs.StringVar(&o.Format, "format", o.Format, "Terminal output: table (policies side by side), markdown (a row per workload and policy) or versus (one markdown table, a row per workload, rabbitscale against the first --compare baseline, keda by default).")
}

// Validate returns every problem with the options, each naming the flag.
func (o *SimulateOptions) Validate() []error {
	var errs []error
	for _, a := range o.Annotations {
		if k, _, ok := strings.Cut(a, "="); !ok || strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("--annotation: %q is not key=value", a))
		}
	}
	switch {
	case o.CSV != "" && o.Scenario != "" && o.Scenario != NewSimulateOptions().Scenario:
		errs = append(errs, errors.New("--csv and --scenario: use one"))
	case o.CSV == "":
		for _, name := range strings.Split(o.Scenario, ",") {
			if name = strings.TrimSpace(name); name != "all" && !slices.Contains(simulate.ScenarioNames(), name) {
				errs = append(errs, fmt.Errorf("--scenario: %q is not one of %s, all", name, strings.Join(simulate.ScenarioNames(), ", ")))
			}
		}
	}
	if o.Format != "table" && o.Format != "markdown" && o.Format != "versus" {
		errs = append(errs, fmt.Errorf("--format: %q is not table, markdown or versus", o.Format))
	}
	if o.Duration < 0 || o.Duration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--duration: %s must be a whole, non-negative number of seconds", o.Duration))
	}
	if o.Interval < time.Second || o.Interval%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--interval: %s must be a whole number of seconds, at least 1s", o.Interval))
	}
	if err := o.Model.Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			errs = append(errs, errors.New("--"+e))
		}
	}
	for _, c := range o.Compare {
		if _, err := simulate.ParseBaseline(c, policy.DefaultSpec(), simulate.DefaultKEDAConfig()); err != nil {
			errs = append(errs, fmt.Errorf("--compare: %w", err))
		}
	}
	if _, _, err := o.settings(simulate.Workload{}); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			errs = append(errs, errors.New(e))
		}
	}
	return errs
}

// annotations merges the manifest's annotations, or else the workload's
// own, with --annotation, adding a queue name when neither queue nor
// queue-pattern is given (the simulator reads no broker). Without a
// manifest, workload annotations or --annotation, defaultSimAnnotations
// apply.
func (o *SimulateOptions) annotations(w simulate.Workload) (map[string]string, error) {
	ann := map[string]string{}
	switch {
	case o.Manifest != "":
		var err error
		if ann, err = manifestAnnotations(o.Manifest, o.Workload); err != nil {
			return nil, err
		}
	case w.Annotations != nil:
		for k, v := range w.Annotations {
			ann[k] = v
		}
	}
	pairs := o.Annotations
	if o.Manifest == "" && w.Annotations == nil && len(pairs) == 0 {
		pairs = defaultSimAnnotations
	}
	for _, a := range pairs {
		k, v, _ := strings.Cut(a, "=")
		ann[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	// Only when neither key is there: an empty queue (queue: "") is the
	// user's mistake, which ParseSpec reports, not a gap to fill.
	_, hasQueue := ann[policy.KeyQueue]
	_, hasPattern := ann[policy.KeyQueuePattern]
	if !hasQueue && !hasPattern {
		ann[policy.KeyQueue] = "simulated"
	}
	return ann, nil
}

// manifestAnnotations returns the annotations of the Deployment or
// StatefulSet in a YAML file: the one named name, or the only one managed
// by rabbitscale.
func manifestAnnotations(path, name string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--manifest: %w", err)
	}
	type object struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	var found []object
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("--manifest %s, document %d: %w", path, i, err)
		}
		var obj object
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("--manifest %s, document %d: %w", path, i, err)
		}
		if obj.Kind != "Deployment" && obj.Kind != "StatefulSet" {
			continue
		}
		if name != "" && obj.Metadata.Name == name || name == "" && policy.Managed(obj.Metadata.Annotations) {
			found = append(found, obj)
		}
	}
	switch {
	case len(found) == 1:
		ann := found[0].Metadata.Annotations
		if ann == nil {
			ann = map[string]string{}
		}
		return ann, nil
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("--manifest %s: no Deployment or StatefulSet named %q", path, name)
	case len(found) == 0:
		return nil, fmt.Errorf("--manifest %s: no Deployment or StatefulSet with rabbitscale.io/ annotations", path)
	}
	var names []string
	for _, f := range found {
		names = append(names, f.Metadata.Name)
	}
	return nil, fmt.Errorf("--manifest %s: several workloads (%s); choose one with --workload", path, strings.Join(names, ", "))
}

func (o *SimulateOptions) workloads() ([]simulate.Workload, error) {
	if o.CSV == "" {
		var names []string
		for _, n := range strings.Split(o.Scenario, ",") {
			if n = strings.TrimSpace(n); n == "all" {
				names = append(names, simulate.ScenarioNames()...)
			} else {
				names = append(names, n)
			}
		}
		var out []simulate.Workload
		for _, n := range names {
			w, err := simulate.Scenario(n)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
		return out, nil
	}
	f, err := os.Open(o.CSV)
	if err != nil {
		return nil, fmt.Errorf("--csv: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	w, err := simulate.ParseCSV(filepath.Base(o.CSV), f)
	if err != nil {
		return nil, err
	}
	return []simulate.Workload{w}, nil
}

func newSimulateCommand() *cobra.Command {
	o := NewSimulateOptions()
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Replay a workload offline against the scaling engine, and against KEDA, CPU HPA or fixed baselines",
		Long: `Simulate runs the real scaling engine (policy.Decide) tick by tick against a model
of the queue, the pods and the broker's statistics sampling, on a built-in scenario
or a CSV of seconds,arrivals_per_second. It is deterministic for a seed and reads no
clock, broker or cluster. --compare runs baselines on the same workload and seed.`,
		Example: `  rabbitscale simulate --scenario burst --compare keda,hpa-cpu,fixed:15 --out sim
  rabbitscale simulate --manifest deploy/examples/workers.yaml --csv traffic.csv --per-pod-rate 35
  rabbitscale simulate --scenario flash-crowd,batches,keda-e2e --compare keda --format versus
  rabbitscale simulate --scenario flash-crowd --compare keda --keda polling=5s,cooldown=60s --keda-scale-down window=60s,percent=50/30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.set = map[string]bool{}
			cmd.Flags().Visit(func(f *pflag.Flag) { o.set[f.Name] = true })
			if errs := o.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			return runSimulate(cmd.OutOrStdout(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSimulate(out io.Writer, o *SimulateOptions) error {
	workloads, err := o.workloads()
	if err != nil {
		return err
	}
	if o.Out != "" {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	compare := o.Compare
	if o.Format == "versus" && len(compare) == 0 {
		compare = []string{"keda"}
	}
	var all []simulate.Summary
	var versus []simulate.Versus
	var written []string
	for _, w := range workloads {
		ann, err := o.annotations(w)
		if err != nil {
			return err
		}
		spec, err := policy.ParseSpec(ann)
		if err != nil {
			return err
		}
		m, kc, err := o.settings(w)
		if err != nil {
			return err
		}
		// Fresh controllers per workload: they keep state.
		controllers := []simulate.Autoscaler{&simulate.Rabbitscale{Spec: spec, Every: o.Interval}}
		for _, name := range compare {
			c, err := simulate.ParseBaseline(name, spec, kc)
			if err != nil {
				return err
			}
			controllers = append(controllers, c)
		}
		var sums []simulate.Summary
		for _, c := range controllers {
			r, err := simulate.Run(w, o.Duration, m, c)
			if err != nil {
				return err
			}
			sums = append(sums, r.Summary)
			if o.Out != "" {
				base := filepath.Join(o.Out, w.Name+"-"+strings.ReplaceAll(r.Controller, ":", "-"))
				if err := writeFile(base+".csv", func(f io.Writer) error { return simulate.WriteTimelineCSV(f, r) }); err != nil {
					return err
				}
				if err := writeFile(base+".svg", func(f io.Writer) error { return simulate.WriteChart(f, simulate.ChartOf(r)) }); err != nil {
					return err
				}
				written = append(written, base+".csv", base+".svg")
			}
		}
		all = append(all, sums...)
		if len(sums) > 1 {
			versus = append(versus, simulate.Versus{Rabbitscale: sums[0], Baseline: sums[1], Settings: simulate.SettingsNote(ann, o.Interval, kc, m)})
		}
		if o.Format == "table" {
			fmt.Fprintf(out, "workload %s, seed %d, per-pod rate %g msg/s, start-up %s, tick %s, broker sampling %s\n",
				w.Name, m.Seed, m.PerPodRate, m.StartupDelay, o.Interval, m.Sampling)
			if slices.Contains(compare, "keda") {
				fmt.Fprintf(out, "keda %s\n", kc)
			}
			fmt.Fprintln(out)
			if err := simulate.WriteTable(out, sums); err != nil {
				return err
			}
			fmt.Fprintln(out)
		}
	}
	switch o.Format {
	case "markdown":
		if err := simulate.WriteMarkdown(out, all); err != nil {
			return err
		}
	case "versus":
		if err := simulate.WriteVersus(out, versus); err != nil {
			return err
		}
	}
	for _, p := range written {
		fmt.Fprintln(out, "wrote", p)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		return errors.Join(fmt.Errorf("%s: %w", path, err), f.Close())
	}
	return f.Close()
}
