package policy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

const (
	beginMarker = "<!-- annotations:begin -->"
	endMarker   = "<!-- annotations:end -->"
)

// readmeSection returns the README text between the annotation markers.
func readmeSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("reading the README: %v", err)
	}
	text := string(b)
	i, j := strings.Index(text, beginMarker), strings.Index(text, endMarker)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks %s ... %s", beginMarker, endMarker)
	}
	return text[i+len(beginMarker) : j]
}

// readmeTable returns the rows of the first markdown table of the section,
// as cells without surrounding spaces.
func readmeTable(t *testing.T, section string) [][]string {
	t.Helper()
	var rows [][]string
	started := false
	for _, l := range strings.Split(section, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) < 3 || !strings.HasPrefix(rows[1][0], "--") {
		t.Fatalf("no markdown table (header, separator, rows) between the annotation markers")
	}
	if diff := cmp.Diff([]string{"key", "meaning", "default"}, rows[0]); diff != "" {
		t.Errorf("table header diff (-want +got):\n%s", diff)
	}
	return rows[2:]
}

// TestReadmeTableMatchesKeys keeps the README table, the single source of
// truth for users, and Keys in step, order included.
func TestReadmeTableMatchesKeys(t *testing.T) {
	var got []string
	for _, row := range readmeTable(t, readmeSection(t)) {
		got = append(got, strings.Trim(row[0], "`"))
	}
	if diff := cmp.Diff(policy.Keys(), got); diff != "" {
		t.Errorf("README table keys differ from policy.Keys() (-Keys +README):\n%s", diff)
	}
}

// TestReadmeDefaults checks every default the table writes as a single
// value: setting it explicitly must give the same Spec as leaving it out.
func TestReadmeDefaults(t *testing.T) {
	single := regexp.MustCompile("^`([^`]*)`$")
	want := mustSpec(t)
	checked := 0
	for _, row := range readmeTable(t, readmeSection(t)) {
		if len(row) != 3 {
			t.Errorf("row %q has %d cells, want 3", row, len(row))
			continue
		}
		m := single.FindStringSubmatch(row[2])
		if m == nil {
			continue // "required", "off", prose
		}
		key := strings.Trim(row[0], "`")
		got, err := policy.ParseSpec(base(key, m[1]))
		if err != nil {
			t.Errorf("README default %s of %s: %v", row[2], key, err)
			continue
		}
		if diff := cmp.Diff(want, got, specCmp); diff != "" {
			t.Errorf("README default %s of %s is not the code's, diff (-code +README):\n%s", row[2], key, diff)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("only %d defaults checked; is the table's default column written as `value`?", checked)
	}
}

// TestReadmeExample parses the annotations of the example Deployment.
func TestReadmeExample(t *testing.T) {
	section := readmeSection(t)
	i := strings.Index(section, "```yaml")
	if i < 0 {
		t.Fatalf("no yaml example between the annotation markers")
	}
	block := section[i+len("```yaml"):]
	block = block[:strings.Index(block, "```")]
	line := regexp.MustCompile(`^\s+(rabbitscale\.io/[a-z-]+):\s*"?([^"]*)"?\s*$`)
	ann := map[string]string{}
	for _, l := range strings.Split(block, "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			ann[m[1]] = m[2]
		}
	}
	if len(ann) < 3 {
		t.Fatalf("example has %d rabbitscale.io/ annotations, want a real example", len(ann))
	}
	if _, err := policy.ParseSpec(ann); err != nil {
		t.Errorf("the README example does not parse: %v", err)
	}
}
