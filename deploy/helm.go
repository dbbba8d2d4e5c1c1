package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The chart cannot read files outside its directory, so it carries copies
// of the dashboard and the alert rules; TestChartFilesMatchTheirSources
// fails when they drift.
//go:generate cp grafana/rabbitscale.json helm/rabbitscale/files/rabbitscale.json
//go:generate cp prometheus/rabbitscale-rules.yaml helm/rabbitscale/files/rabbitscale-rules.yaml

// ChartDir is the Helm chart, relative to Dir.
const ChartDir = "helm/rabbitscale"

// ChartCopies maps each file of the chart's files/ (relative to Dir) to the
// original it copies.
var ChartCopies = map[string]string{
	ChartDir + "/files/rabbitscale.json":       DashboardFile,
	ChartDir + "/files/rabbitscale-rules.yaml": "prometheus/rabbitscale-rules.yaml",
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// Helm returns the path of the helm CLI: $HELM when set, else what
// hack/helm.sh prints (it builds helm into the tools cache the first time).
func Helm() (string, error) {
	helmOnce.Do(func() {
		if p := os.Getenv("HELM"); p != "" {
			helmPath = p
			return
		}
		cmd := exec.Command(filepath.Join(Dir(), "..", "hack", "helm.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			helmErr = fmt.Errorf("hack/helm.sh: %w\n%s", err, stderr.Bytes())
			return
		}
		helmPath = strings.TrimSpace(string(out))
	})
	return helmPath, helmErr
}

// RunHelm runs the helm CLI with args, with its cache, configuration and
// data directories under home so that no user's helm setup takes part, and
// returns its standard output. An error carries helm's standard error.
func RunHelm(home string, args ...string) ([]byte, error) {
	helm, err := Helm()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// WriteValues writes values as a YAML file in dir for helm's --values.
func WriteValues(dir string, values map[string]any) (string, error) {
	b, err := yaml.Marshal(values)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "values-*.yaml")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

// RenderChart runs `helm template` of the chart as release name in
// namespace with values, and returns the objects it renders.
func RenderChart(home, name, namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	vf, err := WriteValues(home, values)
	if err != nil {
		return nil, err
	}
	out, err := RunHelm(home, "template", name, filepath.Join(Dir(), ChartDir), "--namespace", namespace, "--values", vf)
	if err != nil {
		return nil, err
	}
	return Decode(out)
}
