package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/rabbitscale/rabbitscale/deploy"
)

const (
	dashboardPath   = "../deploy/grafana/rabbitscale.json"
	rulesPath       = "../deploy/prometheus/rabbitscale-rules.yaml"
	rulesTestPath   = "../deploy/prometheus/rabbitscale-rules.test.yaml"
	promRulePath    = "../deploy/prometheus/prometheusrule.yaml"
	dashboardSchema = 39 // Grafana 10.4 and 11
)

// registeredNames lists every metric name a scrape of the controller can
// show: the collectors of NewCollectors and NewRegistry (histograms with
// their _bucket, _sum and _count series) and Prometheus' own up.
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true}
	reg := NewRegistry()
	c := NewCollectors(reg)
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, col := range c.collectors() {
		ch := make(chan *prometheus.Desc, 10)
		go func() { col.Describe(ch); close(ch) }()
		_, isHist := col.(prometheus.Histogram)
		_, isHistVec := col.(*prometheus.HistogramVec)
		for d := range ch {
			m := fq.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			names[m[1]] = true
			if isHist || isHistVec {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[m[1]+s] = true
				}
			}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

var (
	promqlGroupings = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlBraces    = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlIdent     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	labelValues     = regexp.MustCompile(`^label_values\(\s*([^,{)]+(?:\{[^}]*\})?)`)
	promqlKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression (or a Grafana
// label_values query) refers to.
func metricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlBraces.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGroupings.ReplaceAllString(e, " ")
	var names []string
	for _, loc := range promqlIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsRune("0123456789$.", rune(e[loc[0]-1])) {
			continue // a duration such as 5m, a Grafana variable, a number
		}
		if strings.HasPrefix(strings.TrimSpace(e[loc[1]:]), "(") || promqlKeywords[name] {
			continue // a function or aggregation, or a keyword
		}
		names = append(names, name)
	}
	return names
}

func TestMetricNamesOfPromQL(t *testing.T) {
	tests := map[string][]string{
		`sum by (broker, le) (rate(rabbitscale_broker_request_duration_seconds_bucket{broker=~"$b"}[$__rate_interval]))`: {"rabbitscale_broker_request_duration_seconds_bucket"},
		`a >= b and on (kind, namespace) c offset 5m`:                                                                    {"a", "b", "c"},
		`time() - max(rabbitscale_last_tick_timestamp_seconds) > 120`:                                                    {"rabbitscale_last_tick_timestamp_seconds"},
		`label_values(rabbitscale_workload_desired_replicas{x="y"}, workload)`:                                           {"rabbitscale_workload_desired_replicas"},
		`absent(up{job="rabbitscale"} == 1)`:                                                                             {"up"},
	}
	for expr, want := range tests {
		if diff := cmp.Diff(want, metricNames(expr)); diff != "" {
			t.Errorf("metricNames(%q) (-want +got):\n%s", expr, diff)
		}
	}
}

type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Annotations   struct {
		List []struct {
			Name       string     `json:"name"`
			Expr       string     `json:"expr"`
			Datasource datasource `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) (dashboard, []panel, string) {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, all, string(raw)
}

// dashboardExprs lists every PromQL expression of the dashboard by where
// it stands, as deploy.DashboardQueries reads them.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	exprs, err := deploy.DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	return exprs
}

// TestDashboardQueriesUseRegisteredMetrics fails when a panel, annotation
// or variable asks for a metric the controller does not export, as after a
// rename: the panel would silently show "No data".
func TestDashboardQueriesUseRegisteredMetrics(t *testing.T) {
	known := registeredNames(t)
	exprs := dashboardExprs(t)
	if len(exprs) < 20 {
		t.Fatalf("found only %d expressions in %s", len(exprs), dashboardPath)
	}
	used := map[string]bool{}
	for where, expr := range exprs {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !known[n] {
				t.Errorf("%s: %s is not a metric rabbitscale exports (expr %q)", where, n, expr)
			}
		}
	}
	// Every per-workload and controller series is on the dashboard.
	for n := range known {
		histogramBase := strings.HasSuffix(n, "_seconds") && known[n+"_bucket"]
		if strings.HasPrefix(n, Namespace+"_") && !used[n] && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") && !histogramBase {
			t.Errorf("%s is exported but no dashboard panel shows it", n)
		}
	}
	checkPromQLSyntax(t, exprs)
}

// TestDashboardStructure checks what Grafana needs to import the dashboard
// for the schema version it declares and what a user relies on: unique
// panel ids, every query on the datasource variable, every variable used.
func TestDashboardStructure(t *testing.T) {
	d, panels, raw := loadDashboard(t)
	if d.SchemaVersion != dashboardSchema {
		t.Errorf("schemaVersion = %d, want %d", d.SchemaVersion, dashboardSchema)
	}
	ids := map[int]string{}
	for _, p := range panels {
		if prev, ok := ids[p.ID]; ok || p.ID == 0 {
			t.Errorf("panel %q: id %d is not unique (also %q)", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos x=%d w=%d does not fit 24 columns", p.Title, p.GridPos.X, p.GridPos.W)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource %+v, want ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %q: datasource %+v, want ${datasource}", v.Name, v.Datasource)
		}
		// The variable's own definition does not count as a use.
		if strings.Count(raw, "$"+v.Name)+strings.Count(raw, "${"+v.Name+"}") < 2 {
			t.Errorf("variable %q is not used by any query", v.Name)
		}
	}
	for _, want := range []string{"datasource", "namespace", "workload"} {
		if !slices.Contains(vars, want) {
			t.Errorf("no %q template variable (have %v)", want, vars)
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" && a.Datasource.UID != "${datasource}" {
			t.Errorf("annotation %q: datasource %+v, want ${datasource}", a.Name, a.Datasource)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// TestAlertRules checks the alert rules with promtool (syntax and the unit
// tests of rabbitscale-rules.test.yaml), that they use exported metrics
// only, and that the PrometheusRule carries the same rules.
func TestAlertRules(t *testing.T) {
	var plain ruleFile
	readYAML(t, rulesPath, &plain)
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       ruleFile       `json:"spec"`
	}
	readYAML(t, promRulePath, &pr)
	if pr.Kind != "PrometheusRule" {
		t.Errorf("%s: kind %q, want PrometheusRule", promRulePath, pr.Kind)
	}
	if diff := cmp.Diff(plain, pr.Spec); diff != "" {
		t.Errorf("the PrometheusRule differs from %s (-plain +PrometheusRule):\n%s", rulesPath, diff)
	}

	known := registeredNames(t)
	var alerts []string
	for _, g := range plain.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			for _, n := range metricNames(r.Expr) {
				if !known[n] {
					t.Errorf("alert %s: %s is not a metric rabbitscale exports", r.Alert, n)
				}
			}
		}
	}
	wantAlerts := []string{"RabbitscaleControllerDown", "RabbitscaleControllerStalled", "RabbitscaleBrokerUnreachable",
		"RabbitscaleWorkloadAtMaxReplicas", "RabbitscaleQueueGrowingAtMaxReplicas", "RabbitscaleDecisionsFailing", "RabbitscaleWorkloadQueueUnavailable",
		"RabbitscaleWorkloadAnnotationsInvalid", "RabbitscaleFreshReadFailing"}
	if diff := cmp.Diff(wantAlerts, alerts); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}

	promtool := needPromtool(t)
	for _, args := range [][]string{{"check", "rules", rulesPath}, {"test", "rules", rulesTestPath}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// needPromtool returns promtool's path. Without it the test is skipped,
// except in CI (CI=true), where hack/install-deps.sh must have installed
// it.
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool is required in CI (Debian package prometheus; hack/install-deps.sh installs it): %v", err)
		}
		t.Skipf("promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

// checkPromQLSyntax has promtool parse every dashboard expression, with the
// Grafana variables replaced, as a recording rule.
func checkPromQLSyntax(t *testing.T, exprs map[string]string) {
	t.Helper()
	promtool := needPromtool(t)
	r := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$namespace", ".*", "$workload", ".*", "$kind", ".*")
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	where := map[string]string{}
	for _, w := range slices.Sorted(maps.Keys(exprs)) {
		e := exprs[w]
		if m := labelValues.FindStringSubmatch(e); m != nil {
			e = m[1]
		}
		rec := fmt.Sprintf("dashboard:expr_%d", len(rules))
		where[rec] = w
		rules = append(rules, rule{Record: rec, Expr: r.Replace(e)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Errorf("promtool rejects dashboard PromQL (records map to %v):\n%s", where, out)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
