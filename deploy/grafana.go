package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// DashboardFile is the Grafana dashboard, relative to Dir.
const DashboardFile = "grafana/rabbitscale.json"

// labelValuesQuery unwraps a template variable's label_values(series, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\(\s*([^,{)]+(?:\{[^}]*\})?)`)

// DashboardQueries returns every PromQL expression of the dashboard (panel
// targets, annotations and query variables, label_values unwrapped to its
// series selector), keyed by where it stands, with Grafana's variables
// left in.
func DashboardQueries() (map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(Dir(), DashboardFile))
	if err != nil {
		return nil, err
	}
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels      []json.RawMessage `json:"panels"`
		Annotations struct {
			List []struct {
				Name string `json:"name"`
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	out := map[string]string{}
	var walk func([]json.RawMessage) error
	walk = func(ps []json.RawMessage) error {
		for _, r := range ps {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				return fmt.Errorf("%s: %w", DashboardFile, err)
			}
			for _, t := range p.Targets {
				if t.Expr != "" {
					out[fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, t.RefID)] = t.Expr
				}
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out[fmt.Sprintf("annotation %q", a.Name)] = a.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query)
		}
		if m := labelValuesQuery.FindStringSubmatch(q.Query); m != nil {
			q.Query = m[1]
		}
		out[fmt.Sprintf("variable %q", v.Name)] = q.Query
	}
	return out, nil
}
