package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// stdinName is the -f value that reads standard input.
const stdinName = "-"

// ValidateOptions are the flags of `rabbitscale validate`.
type ValidateOptions struct {
	// Filenames are manifest files or directories (read recursively for
	// *.yaml, *.yml and *.json), or "-" for standard input.
	Filenames []string
	// Brokers is the controller's broker configuration file, optional.
	Brokers string
}

// NewValidateOptions returns the defaults: no files, no broker check.
func NewValidateOptions() *ValidateOptions { return &ValidateOptions{} }

// AddFlags registers the options on fs.
func (o *ValidateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.Filenames, "filename", "f", o.Filenames, "A manifest file, a directory read recursively for *.yaml, *.yml and *.json (Helm charts in it are skipped: pipe helm template into -f -), or - for standard input; repeat it.")
	fs.StringVar(&o.Brokers, "brokers", o.Brokers, "The controller's broker configuration (as for rabbitscale run --config): check it, and that every workload's rabbitscale.io/broker names one of its brokers. Nothing is connected to.")
}

// Validate returns every problem with the options, each naming the flag.
func (o *ValidateOptions) Validate() []error {
	var errs []error
	if len(o.Filenames) == 0 {
		errs = append(errs, errors.New("--filename: at least one file or directory is required"))
	}
	for _, f := range o.Filenames {
		if strings.TrimSpace(f) == "" {
			errs = append(errs, fmt.Errorf("--filename: %q is empty", f))
		}
	}
	stdin := 0
	for _, f := range o.Filenames {
		if f == stdinName {
			stdin++
		}
	}
	if stdin > 1 {
		errs = append(errs, fmt.Errorf("--filename: %q (standard input) is given %d times; it can be read once", stdinName, stdin))
	}
	return errs
}

func newValidateCommand() *cobra.Command {
	o := NewValidateOptions()
	cmd := &cobra.Command{
		Use:   "validate -f FILE_OR_DIR [-f ...] [--brokers brokers.yaml]",
		Short: "Check the rabbitscale.io/ annotations of manifests, and a broker configuration, without a cluster",
		Long: `Validate reads manifests (multi-document YAML or JSON, kind: List included) and checks
every Deployment and StatefulSet that carries rabbitscale.io/ annotations as the
controller would parse them, plus settings the controller accepts but never uses.
It prints every problem, one per line:

  FILE: Kind/namespace/name: KEY: PROBLEM

(Kind/name when the manifest sets no namespace), and exits non-zero when there is
any. With --brokers it also checks the broker configuration (FILE: FIELD: PROBLEM)
and that every workload's rabbitscale.io/broker is configured. It reads no cluster
and connects to no broker.`,
		Example: `  rabbitscale validate -f deploy/ --brokers deploy/base/brokers-configmap.yaml
  kustomize build overlays/prod | rabbitscale validate -f - --brokers brokers.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			return runValidate(cmd.InOrStdin(), cmd.OutOrStdout(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// errProblems is what validate returns when it printed problems, so that
// the process exits non-zero.
type errProblems struct{ problems, workloads int }

func (e errProblems) Error() string {
	return fmt.Sprintf("%d problem%s found (%d workload%s checked)", e.problems, plural(e.problems), e.workloads, plural(e.workloads))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func runValidate(stdin io.Reader, out io.Writer, o *ValidateOptions) error {
	v := &validator{out: out}
	if o.Brokers != "" {
		v.loadBrokers(o.Brokers)
	}
	for _, name := range o.Filenames {
		v.walk(stdin, name)
	}
	if v.problems > 0 {
		return errProblems{v.problems, v.workloads}
	}
	fmt.Fprintf(out, "%d workload%s checked, no problems\n", v.workloads, plural(v.workloads))
	return nil
}

// validator prints problems as it finds them and counts them.
type validator struct {
	out       io.Writer
	problems  int
	workloads int
	// brokersFile and brokers are set when --brokers parsed: then every
	// workload's broker must be one of brokers.
	brokersFile string
	brokers     []string
}

func (v *validator) problem(file, format string, args ...any) {
	v.problems++
	fmt.Fprintf(v.out, "%s: %s\n", file, fmt.Sprintf(format, args...))
}

// brokersKey is the ConfigMap key deploy/base mounts as the controller's
// --config.
const brokersKey = "brokers.yaml"

// loadBrokers reads the broker configuration as queue.LoadConfig does
// (unknown fields rejected, defaults, validation) and prints each of its
// problems on its own line. The file is the configuration itself, or a
// ConfigMap manifest holding it under brokers.yaml (as deploy/base's). It
// does not call queue.Open: that reads the credential files and variables,
// which exist in the controller's pod, not where validate runs.
func (v *validator) loadBrokers(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		v.problem(path, "%v", unwrapPath(err))
		return
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if yaml.Unmarshal(b, &cm) == nil && cm.Kind == "ConfigMap" {
		data, ok := cm.Data[brokersKey]
		if !ok {
			v.problem(path, "ConfigMap has no data key %s", brokersKey)
			return
		}
		b = []byte(data)
	}
	cfg, err := queue.ParseConfig(b)
	if err != nil {
		// One problem per line of the errors.Join; each names its field.
		for _, line := range strings.Split(err.Error(), "\n") {
			v.problem(path, "%s", strings.TrimPrefix(line, queue.ErrInvalidConfig.Error()+": "))
		}
		return
	}
	v.brokersFile = path
	for _, br := range cfg.Brokers {
		v.brokers = append(v.brokers, br.Name)
	}
}

// joined splits an errors.Join into its errors; any other error is one.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // the join itself, not an error it wraps
		return j.Unwrap()
	}
	return []error{err}
}

// unwrapPath drops the *fs.PathError's own "open PATH:" so that the path
// is named once, at the start of the line.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// walk checks a file, every manifest under a directory, or standard input.
func (v *validator) walk(stdin io.Reader, name string) {
	if name == stdinName {
		data, err := io.ReadAll(stdin)
		if err != nil {
			v.problem("<stdin>", "%v", err)
			return
		}
		v.checkFile("<stdin>", data)
		return
	}
	info, err := os.Stat(name)
	if err != nil {
		v.problem(name, "%v", unwrapPath(err))
		return
	}
	if !info.IsDir() { // a file named on the command line is read whatever its extension
		v.readFile(name)
		return
	}
	var files []string
	err = filepath.WalkDir(name, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			v.problem(path, "%v", unwrapPath(err))
			return nil
		}
		switch ext := strings.ToLower(filepath.Ext(path)); {
		case d.IsDir():
			// A Helm chart's templates are not manifests until rendered:
			// `helm template ... | rabbitscale validate -f -` checks them.
			if _, err := os.Stat(filepath.Join(path, "Chart.yaml")); err == nil {
				return fs.SkipDir
			}
		case ext == ".yaml" || ext == ".yml" || ext == ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		v.problem(name, "%v", err)
	}
	for _, f := range files {
		v.readFile(f)
	}
}

func (v *validator) readFile(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		v.problem(path, "%v", unwrapPath(err))
		return
	}
	v.checkFile(path, data)
}

// manifest is the part of an object that validate reads. Annotation values
// are kept as YAML gave them, so that an unquoted number is reported rather
// than refused.
type manifest struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string         `json:"name"`
		Namespace   string         `json:"namespace"`
		Annotations map[string]any `json:"annotations"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// checkFile checks every document of a multi-document YAML (or JSON) file.
func (v *validator) checkFile(file string, data []byte) {
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			v.problem(file, "document %d: %v", i, err)
			return // the reader cannot resynchronise
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var m manifest
		if err := yaml.Unmarshal(doc, &m); err != nil {
			v.problem(file, "document %d: %v", i, err)
			continue
		}
		v.checkObject(file, fmt.Sprintf("document %d", i), m)
	}
}

// checkObject checks a Deployment or StatefulSet, or the items of a List.
// where names the object in a file for problems that have no workload
// name yet.
func (v *validator) checkObject(file, where string, m manifest) {
	if strings.HasSuffix(m.Kind, "List") {
		for j, raw := range m.Items {
			var item manifest
			if err := yaml.Unmarshal(raw, &item); err != nil {
				v.problem(file, "%s, items[%d]: %v", where, j, err)
				continue
			}
			v.checkObject(file, fmt.Sprintf("%s, items[%d]", where, j), item)
		}
		return
	}
	if m.Kind != "Deployment" && m.Kind != "StatefulSet" {
		return
	}
	id := m.Kind + "/" + m.Metadata.Name
	if m.Metadata.Namespace != "" {
		id = m.Kind + "/" + m.Metadata.Namespace + "/" + m.Metadata.Name
	}
	ann, notStrings := stringAnnotations(m.Metadata.Annotations)
	if !policy.Managed(ann) {
		return
	}
	v.workloads++
	for _, k := range notStrings {
		v.problem(file, "%s: %s: %s is not a string: quote it (%s), the API server accepts only strings as annotation values",
			id, k, ann[k], strconv.Quote(ann[k]))
	}
	spec, err := policy.ParseSpec(ann)
	if err != nil {
		v.fieldProblems(file, id, err)
	} else {
		v.fieldProblems(file, id, policy.Lint(ann, spec))
	}
	v.checkBroker(file, id, ann)
}

// fieldProblems prints each *policy.FieldError of err on its own line.
func (v *validator) fieldProblems(file, id string, err error) {
	if err == nil {
		return
	}
	for _, e := range joined(err) {
		var fe *policy.FieldError
		if errors.As(e, &fe) {
			v.problem(file, "%s: %s: %s", id, fe.Key, fe.Reason)
		} else {
			v.problem(file, "%s: %v", id, e)
		}
	}
}

// checkBroker checks that the workload's broker is in --brokers. An empty
// rabbitscale.io/broker is ParseSpec's to report.
func (v *validator) checkBroker(file, id string, ann map[string]string) {
	if v.brokersFile == "" {
		return
	}
	name, set := ann[policy.KeyBroker]
	name = strings.TrimSpace(name)
	switch {
	case set && name == "":
		return
	case !set:
		name = policy.DefaultSpec().Broker
	}
	if slices.Contains(v.brokers, name) {
		return
	}
	configured := strings.Join(v.brokers, ", ")
	if set {
		v.problem(file, "%s: %s: %q is not a broker of %s (it has %s)", id, policy.KeyBroker, ann[policy.KeyBroker], v.brokersFile, configured)
		return
	}
	v.problem(file, "%s: %s: not set, and the default broker %q is not in %s (it has %s)", id, policy.KeyBroker, name, v.brokersFile, configured)
}

// stringAnnotations converts YAML annotation values to strings, returning
// the rabbitscale.io/ keys whose value was not a string (an unquoted
// number or boolean, which the API server refuses), sorted.
func stringAnnotations(in map[string]any) (map[string]string, []string) {
	out := make(map[string]string, len(in))
	var notStrings []string
	for k, val := range in {
		switch s := val.(type) {
		case string:
			out[k] = s
		case nil:
			out[k] = ""
		default:
			b, _ := json.Marshal(s)
			out[k] = string(b)
			if strings.HasPrefix(k, policy.Prefix) {
				notStrings = append(notStrings, k)
			}
		}
	}
	slices.Sort(notStrings)
	return out, notStrings
}
