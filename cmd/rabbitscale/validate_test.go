package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/rabbitscale/rabbitscale/policy"
)

// manifestOf renders a workload with the smallest valid annotations (queue
// orders, target depth 100) changed by kv: pairs of key (without the
// rabbitscale.io/ prefix) and value, where a key "-k" removes k. ns may be
// empty.
func manifestOf(kind, ns, name string, kv ...string) string {
	ann := map[string]string{"queue": "orders", "target-depth-per-pod": "100"}
	order := []string{"queue", "target-depth-per-pod"}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i]
		if del, ok := strings.CutPrefix(k, "-"); ok {
			delete(ann, del)
			continue
		}
		if _, seen := ann[k]; !seen {
			order = append(order, k)
		}
		ann[k] = kv[i+1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: %s\nmetadata:\n  name: %s\n", kind, name)
	if ns != "" {
		fmt.Fprintf(&b, "  namespace: %s\n", ns)
	}
	b.WriteString("  annotations:\n")
	for _, k := range order {
		if v, ok := ann[k]; ok {
			fmt.Fprintf(&b, "    rabbitscale.io/%s: %s\n", k, strconv.Quote(v))
		}
	}
	b.WriteString("spec:\n  replicas: 1\n")
	return b.String()
}

// orders is shop's Deployment orders with the annotations changed by kv.
func orders(kv ...string) map[string]string {
	return map[string]string{"workers.yaml": manifestOf("Deployment", "shop", "orders", kv...)}
}

const twoBrokers = "brokers:\n- name: default\n  prometheusURLs: [\"http://rabbit-0:15692\"]\n- name: eu\n  prometheusURLs: [\"http://rabbit-eu:15692\"]\n"

func TestValidateCommand(t *testing.T) {
	const w = "workers.yaml: Deployment/shop/orders: "
	tests := []struct {
		name  string
		files map[string]string // relative path -> content
		args  []string          // after "validate"; default -f workers.yaml
		stdin string
		want  []string // stdout lines
		// wantErr is the error, and so the "Error: " line on stderr and
		// exit status 1; "" for success.
		wantErr string
	}{
		{name: "valid", files: orders(), want: []string{"1 workload checked, no problems"}},
		{name: "target-depth-per-pod not an integer", files: orders("target-depth-per-pod", "ten"),
			want: []string{w + `rabbitscale.io/target-depth-per-pod: "ten" is not an integer`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "target-depth-per-pod required", files: orders("-target-depth-per-pod", ""),
			want: []string{w + `rabbitscale.io/target-depth-per-pod: required`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "count-unacked not a boolean", files: orders("count-unacked", "sometimes"),
			want: []string{w + `rabbitscale.io/count-unacked: "sometimes" is not a boolean (true or false)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "min-replicas negative", files: orders("min-replicas", "-1"),
			want: []string{w + `rabbitscale.io/min-replicas: -1 must not be negative`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "max-replicas zero", files: orders("max-replicas", "0"),
			want: []string{w + `rabbitscale.io/max-replicas: 0 must be at least 1`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "max-replicas out of range", files: orders("max-replicas", "99999999999"),
			want: []string{w + `rabbitscale.io/max-replicas: "99999999999" is out of range`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "activation-depth negative", files: orders("min-replicas", "0", "activation-depth", "-5"),
			want: []string{w + `rabbitscale.io/activation-depth: -5 must not be negative`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "activation-max-wait not a duration", files: orders("min-replicas", "0", "activation-max-wait", "soon"),
			want: []string{w + `rabbitscale.io/activation-max-wait: "soon" is not a duration (such as 30s, 5m or 1h30m)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "target-drain-seconds zero", files: orders("target-drain-seconds", "0"),
			want: []string{w + `rabbitscale.io/target-drain-seconds: "0" must be positive (remove the annotation to turn rate-aware sizing off)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "per-pod-rate not a number", files: orders("target-drain-seconds", "60", "per-pod-rate", "fast"),
			want: []string{w + `rabbitscale.io/per-pod-rate: "fast" is not a number`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "per-pod-rate with nothing to use it", files: orders("per-pod-rate", "20", "rate-floor", "false"),
			want: []string{w + `rabbitscale.io/per-pod-rate: "20" has no effect with rabbitscale.io/rate-floor "false" and neither rabbitscale.io/target-drain-seconds nor rabbitscale.io/target-wait`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "rate-floor not a boolean", files: orders("rate-floor", "sometimes"),
			want: []string{w + `rabbitscale.io/rate-floor: "sometimes" is not a boolean (true or false)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "target-wait not a duration", files: orders("target-wait", "10"),
			want: []string{w + `rabbitscale.io/target-wait: "10" is not a duration (such as 30s, 5m or 1h30m)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "scale-up-stabilization negative", files: orders("scale-up-stabilization", "-1s"),
			want: []string{w + `rabbitscale.io/scale-up-stabilization: "-1s" must not be negative`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "scale-down-stabilization not a duration", files: orders("scale-down-stabilization", "5"),
			want: []string{w + `rabbitscale.io/scale-down-stabilization: "5" is not a duration (such as 30s, 5m or 1h30m)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "scale-down-delay negative", files: orders("scale-down-delay", "-5m"),
			want: []string{w + `rabbitscale.io/scale-down-delay: "-5m" must not be negative`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "scale-to-zero-after not a duration", files: orders("scale-to-zero-after", "soon"),
			want: []string{w + `rabbitscale.io/scale-to-zero-after: "soon" is not a duration (such as 30s, 5m or 1h30m)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "behavior with a bad period", files: orders("behavior", `{"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}}`),
			want: []string{w + `rabbitscale.io/behavior: scaleDown.policies[0].periodSeconds: 0 must be 1 to 1800`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "target-rate-utilization above 100%", files: orders("target-drain-seconds", "60", "target-rate-utilization", "150"),
			want: []string{w + `rabbitscale.io/target-rate-utilization: "150" must be at most 100`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "target-cpu-utilization zero", files: orders("target-cpu-utilization", "0%"),
			want: []string{w + `rabbitscale.io/target-cpu-utilization: "0%" must be at least 1 (remove the annotation to turn the CPU signal off)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "tolerance not a fraction", files: orders("tolerance", "10%"),
			want: []string{w + `rabbitscale.io/tolerance: "10%" is not a number`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "tolerance too large", files: orders("tolerance", "1.5"),
			want: []string{w + `rabbitscale.io/tolerance: "1.5" must be at least 0 and below 1 (a fraction, 0.1 for 10%)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "scale-up-cooldown negative", files: orders("scale-up-cooldown", "-1s"),
			want: []string{w + `rabbitscale.io/scale-up-cooldown: "-1s" must not be negative`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "scale-down-cooldown in words", files: orders("scale-down-cooldown", "5 minutes"),
			want: []string{w + `rabbitscale.io/scale-down-cooldown: "5 minutes" is not a duration (such as 30s, 5m or 1h30m)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "max-scale-up-step twice pods", files: orders("max-scale-up-step", "4,4"),
			want: []string{w + `rabbitscale.io/max-scale-up-step: "4,4" is not a step (pods such as 4, a percentage such as 100%, or both: 4,100%; optionally per period: 4,100%/15s)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "max-scale-down-step above 100%", files: orders("max-scale-down-step", "150%"),
			want: []string{w + `rabbitscale.io/max-scale-down-step: "150%": the percentage must be at least 1% and at most 100%`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "fallback-replicas not an integer", files: orders("fallback-replicas", "some"),
			want: []string{w + `rabbitscale.io/fallback-replicas: "some" is not an integer`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "fallback-replicas outside the bounds", files: orders("max-replicas", "5", "fallback-replicas", "8"),
			want: []string{w + `rabbitscale.io/fallback-replicas: 8 is outside [rabbitscale.io/min-replicas: 1, rabbitscale.io/max-replicas: 5]`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "fallback-after not a duration", files: orders("fallback-replicas", "2", "fallback-after", "later"),
			want: []string{w + `rabbitscale.io/fallback-after: "later" is not a duration (such as 30s, 5m or 1h30m)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "paused not a boolean", files: orders("paused", "yes"),
			want: []string{w + `rabbitscale.io/paused: "yes" is not a boolean (true or false)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "dry-run not a boolean", files: orders("dry-run", "maybe"),
			want: []string{w + `rabbitscale.io/dry-run: "maybe" is not a boolean (true or false)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "queue empty", files: orders("queue", ""),
			want: []string{w + `rabbitscale.io/queue: "" is empty: name a queue, or several separated by commas`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "queue named twice", files: orders("queue", "a,a"),
			want: []string{w + `rabbitscale.io/queue: "a,a" names queue "a" twice`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "queue missing", files: orders("-queue", ""),
			want: []string{w + `rabbitscale.io/queue: required (or rabbitscale.io/queue-pattern)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "queue-pattern does not compile", files: orders("-queue", "", "queue-pattern", "orders-("),
			want: []string{w + "rabbitscale.io/queue-pattern: \"orders-(\" does not compile: missing closing ): `orders-(`"}, wantErr: "1 problem found (1 workload checked)"},
		{name: "queue and queue-pattern", files: orders("queue-pattern", "orders-.*"),
			want: []string{w + `rabbitscale.io/queue-pattern: "orders-.*" is set together with rabbitscale.io/queue; use one`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "vhost empty", files: orders("vhost", " "),
			want: []string{w + `rabbitscale.io/vhost: " " is empty`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "broker empty", files: orders("broker", ""),
			want: []string{w + `rabbitscale.io/broker: "" is empty`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "min-replicas above max-replicas", files: orders("min-replicas", "12"),
			want: []string{w + `rabbitscale.io/min-replicas: 12 > rabbitscale.io/max-replicas: 10 (default)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "unknown keys", files: orders("max-replica", "5", "colour", "blue"),
			want: []string{
				w + `rabbitscale.io/colour: unknown annotation (see the README for the supported keys)`,
				w + `rabbitscale.io/max-replica: unknown annotation (did you mean rabbitscale.io/max-replicas?)`,
			}, wantErr: "2 problems found (1 workload checked)"},
		{name: "every problem at once", files: orders("target-depth-per-pod", "lots", "min-replicas", "two", "paused", "no"),
			want: []string{
				w + `rabbitscale.io/target-depth-per-pod: "lots" is not an integer`,
				w + `rabbitscale.io/min-replicas: "two" is not an integer`,
				w + `rabbitscale.io/paused: "no" is not a boolean (true or false)`,
			}, wantErr: "3 problems found (1 workload checked)"},

		// Accepted by the controller, but useless (policy.Lint).
		{name: "activation while min-replicas is 1", files: orders("activation-depth", "5"),
			want: []string{w + `rabbitscale.io/activation-depth: "5" has no effect: rabbitscale.io/min-replicas is 1, so the workload is never at zero replicas to wake from`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "min-replicas = max-replicas", files: orders("min-replicas", "3", "max-replicas", "3"),
			want: []string{w + `rabbitscale.io/min-replicas: 3 = rabbitscale.io/max-replicas: 3, so the replicas never change (use rabbitscale.io/paused to stop scaling)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "fallback-after without fallback-replicas", files: orders("fallback-after", "2m"),
			want: []string{w + `rabbitscale.io/fallback-after: "2m" has no effect without rabbitscale.io/fallback-replicas (the replicas hold while the queue cannot be read)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "unquoted number", files: map[string]string{"workers.yaml": "kind: StatefulSet\nmetadata:\n  name: mail\n  annotations:\n    rabbitscale.io/queue: mail\n    rabbitscale.io/target-depth-per-pod: 50\n"},
			want:    []string{`workers.yaml: StatefulSet/mail: rabbitscale.io/target-depth-per-pod: 50 is not a string: quote it ("50"), the API server accepts only strings as annotation values`},
			wantErr: "1 problem found (1 workload checked)"},

		// Brokers.
		{name: "configured broker", files: map[string]string{"workers.yaml": orders("broker", "eu")["workers.yaml"], "brokers.yaml": twoBrokers},
			args: []string{"-f", "workers.yaml", "--brokers", "brokers.yaml"}, want: []string{"1 workload checked, no problems"}},
		{name: "unknown broker", files: map[string]string{"workers.yaml": orders("broker", "us")["workers.yaml"], "brokers.yaml": twoBrokers},
			args: []string{"-f", "workers.yaml", "--brokers", "brokers.yaml"},
			want: []string{w + `rabbitscale.io/broker: "us" is not a broker of brokers.yaml (it has default, eu)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "default broker not configured", files: map[string]string{"workers.yaml": orders()["workers.yaml"],
			"brokers.yaml": "brokers:\n- name: eu\n  prometheusURLs: [\"http://rabbit-eu:15692\"]\n"},
			args: []string{"-f", "workers.yaml", "--brokers", "brokers.yaml"},
			want: []string{w + `rabbitscale.io/broker: not set, and the default broker "default" is not in brokers.yaml (it has eu)`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "broker configuration in a ConfigMap", files: map[string]string{"workers.yaml": orders("broker", "eu")["workers.yaml"],
			"brokers-configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rabbitscale-brokers\ndata:\n  brokers.yaml: |\n" +
				"    brokers:\n    - name: eu\n      prometheusURLs: [\"http://rabbit-eu:15692\"]\n"},
			args: []string{"-f", "workers.yaml", "--brokers", "brokers-configmap.yaml"}, want: []string{"1 workload checked, no problems"}},
		{name: "invalid broker configuration", files: map[string]string{"workers.yaml": orders()["workers.yaml"],
			"brokers.yaml": "brokers:\n- name: Default\n  managementURL: \"ftp://rabbit\"\n  pageSize: 1000\n"},
			args: []string{"-f", "workers.yaml", "--brokers", "brokers.yaml"},
			want: []string{
				`brokers.yaml: brokers[0].name: "Default" is not a DNS label (lower case letters, digits and '-', at most 63)`,
				`brokers.yaml: brokers[0].managementURL: "ftp://rabbit" must use scheme http or https`,
				`brokers.yaml: brokers[0].credentials.username: "" is required by source management (or usernameEnv/usernameFile)`,
				`brokers.yaml: brokers[0].pageSize: 1000 must be between 1 and 500`,
			}, wantErr: "4 problems found (1 workload checked)"},
		{name: "unknown field in the broker configuration", files: map[string]string{"workers.yaml": orders()["workers.yaml"],
			"brokers.yaml": "brokers:\n- name: default\n  url: http://rabbit:15672\n"},
			args:    []string{"-f", "workers.yaml", "--brokers", "brokers.yaml"},
			want:    []string{`brokers.yaml: error unmarshaling JSON: while decoding JSON: json: unknown field "url"`},
			wantErr: "1 problem found (1 workload checked)"},
		{name: "missing broker configuration", files: orders(), args: []string{"-f", "workers.yaml", "--brokers", "nope.yaml"},
			want: []string{`nope.yaml: no such file or directory`}, wantErr: "1 problem found (1 workload checked)"},

		// Files.
		{name: "unparseable document", files: map[string]string{"workers.yaml": orders()["workers.yaml"] + "---\nkind: Deployment\nmetadata: [oops\n"},
			want:    []string{"workers.yaml: document 2: error converting YAML to JSON: yaml: line 2: did not find expected ',' or ']'"},
			wantErr: "1 problem found (1 workload checked)"},
		{name: "List, other kinds and unmanaged workloads", files: map[string]string{"workers.yaml": "apiVersion: v1\nkind: List\nitems:\n" +
			"- kind: ConfigMap\n  metadata: {name: c, annotations: {rabbitscale.io/queue: \"\"}}\n" +
			"- kind: Deployment\n  metadata: {name: plain}\n" +
			"- kind: StatefulSet\n  metadata: {name: mail, namespace: shop, annotations: {rabbitscale.io/queue: mail, rabbitscale.io/target-depth-per-pod: \"x\"}}\n" +
			"- kind: Deployment\n  metadata: {name: orders, namespace: shop, annotations: {rabbitscale.io/queue: orders, rabbitscale.io/target-depth-per-pod: \"9\"}}\n"},
			want:    []string{`workers.yaml: StatefulSet/shop/mail: rabbitscale.io/target-depth-per-pod: "x" is not an integer`},
			wantErr: "1 problem found (2 workloads checked)"},
		{name: "directory", files: map[string]string{
			"deploy/a.yaml":       orders()["workers.yaml"],
			"deploy/sub/b.yml":    manifestOf("StatefulSet", "", "b", "paused", "on"),
			"deploy/sub/c.json":   `{"kind": "Deployment", "metadata": {"name": "c", "annotations": {"rabbitscale.io/queue": "c", "rabbitscale.io/target-depth-per-pod": "1"}}}`,
			"deploy/sub/notes.md": "kind: Deployment\nnot: [yaml\n",
		}, args: []string{"-f", "deploy"},
			want:    []string{`deploy/sub/b.yml: StatefulSet/b: rabbitscale.io/paused: "on" is not a boolean (true or false)`},
			wantErr: "1 problem found (3 workloads checked)"},
		{name: "several files, one missing", files: orders(), args: []string{"-f", "workers.yaml", "-f", "other.yaml"},
			want: []string{`other.yaml: no such file or directory`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "standard input", args: []string{"-f", "-"}, stdin: manifestOf("Deployment", "shop", "orders", "min-replicas", "-2"),
			want: []string{`<stdin>: Deployment/shop/orders: rabbitscale.io/min-replicas: -2 must not be negative`}, wantErr: "1 problem found (1 workload checked)"},
		{name: "no files", args: []string{}, wantErr: "--filename: at least one file or directory is required"},
	}
	// Every key of the contract has a case with a problem of its own.
	for _, k := range policy.Keys() {
		covered := false
		for _, tt := range tests {
			for _, line := range tt.want {
				covered = covered || strings.Contains(line, ": "+k+": ")
			}
		}
		if !covered {
			t.Errorf("no case reports a problem with %s", k)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			for path, content := range tt.files {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := tt.args
			if args == nil {
				args = []string{"-f", "workers.yaml"}
			}
			cmd := newRootCommand()
			var stdout, stderr bytes.Buffer
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			cmd.SetIn(strings.NewReader(tt.stdin))
			cmd.SetArgs(append([]string{"validate"}, args...))
			err := cmd.Execute()

			var got []string
			if s := strings.TrimSuffix(stdout.String(), "\n"); s != "" && !strings.HasPrefix(s, "Usage:") {
				got = strings.Split(s, "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stdout diff (-want +got):\n%s", diff)
			}
			// main exits 1 exactly when Execute returns an error.
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("error %q, want %q (exit status %d)", gotErr, tt.wantErr, map[bool]int{true: 1, false: 0}[tt.wantErr != ""])
			}
			if tt.wantErr != "" && !strings.Contains(stderr.String(), "Error: "+tt.wantErr) {
				t.Errorf("stderr %q does not say %q", stderr.String(), "Error: "+tt.wantErr)
			}
		})
	}
}

func TestValidateOptions(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want ValidateOptions
		errs []string
	}{
		{"files and brokers", []string{"-f", "a.yaml", "--filename", "deploy/", "--brokers", "b.yaml"},
			ValidateOptions{Filenames: []string{"a.yaml", "deploy/"}, Brokers: "b.yaml"}, nil},
		{"standard input", []string{"-f", "-"}, ValidateOptions{Filenames: []string{"-"}}, nil},
		{"nothing", nil, ValidateOptions{}, []string{"--filename: at least one file or directory is required"}},
		{"empty name", []string{"-f", ""}, ValidateOptions{Filenames: []string{""}}, []string{`--filename: "" is empty`}},
		{"standard input twice", []string{"-f", "-", "-f", "-"}, ValidateOptions{Filenames: []string{"-", "-"}},
			[]string{`--filename: "-" (standard input) is given 2 times; it can be read once`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewValidateOptions()
			fs := pflag.NewFlagSet("validate", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, o); diff != "" {
				t.Errorf("options diff (-want +got):\n%s", diff)
			}
			var errs []string
			for _, err := range o.Validate() {
				errs = append(errs, err.Error())
			}
			if diff := cmp.Diff(tt.errs, errs); diff != "" {
				t.Errorf("Validate() diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidateTheShippedManifests: the examples and the broker ConfigMap in
// deploy/ pass, as the README's CI line runs them.
func TestValidateTheShippedManifests(t *testing.T) {
	cmd := newRootCommand()
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"validate", "-f", "../../deploy", "--brokers", "../../deploy/base/brokers-configmap.yaml"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("rabbitscale validate on deploy/: %v\n%s", err, stdout.String())
	}
	if got := stdout.String(); !strings.HasSuffix(got, " checked, no problems\n") || strings.HasPrefix(got, "0 ") {
		t.Errorf("output %q, want the workloads of deploy/examples checked without problems", got)
	}
}
