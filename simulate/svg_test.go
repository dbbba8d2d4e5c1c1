package simulate

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// elements decodes an SVG document with encoding/xml and counts its
// elements by name; it fails the test if the document is not well-formed.
func elements(t *testing.T, doc []byte) (map[string]int, []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	counts := map[string]int{}
	var texts []string
	var depth int
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
			}
			depth++
			counts[tok.Name.Local]++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced elements: depth %d at the end", depth)
	}
	return counts, texts
}

func TestChartOfARunIsWellFormed(t *testing.T) {
	r := run(t, scenario(t, "burst"), DefaultModel(), NewKEDA(testSpec(t)))
	var buf bytes.Buffer
	if err := WriteChart(&buf, ChartOf(r)); err != nil {
		t.Fatal(err)
	}
	counts, texts := elements(t, buf.Bytes())
	if counts["polyline"] != 3 {
		t.Errorf("%d polylines, want 3 (depth, replicas, ready pods)", counts["polyline"])
	}
	if counts["title"] != len(r.Events) || len(r.Events) == 0 {
		t.Errorf("%d marker titles for %d scale events", counts["title"], len(r.Events))
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"burst: keda", "messages", "pods", "replicas (right)", "depth (ready + unacked) (left)", "0:00", "30:00", "time (m:ss from start)"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart text lacks %q", want)
		}
	}
}

func TestWriteChartEscapesAndRejectsEmpty(t *testing.T) {
	c := Chart{
		Title:     `a <b> & "c"`,
		LeftLabel: "x<y",
		Series: []Series{
			{Name: "one & two", Points: []XY{{0, 1}, {time.Minute, 3}}},
			{Name: "</svg>", Axis: Right, Step: true, Points: []XY{{0, 0}, {30 * time.Second, 2}}},
		},
		Markers: []Marker{{T: 10 * time.Second, Kind: MarkerNote, Label: "<script>&"}},
	}
	var buf bytes.Buffer
	if err := WriteChart(&buf, c); err != nil {
		t.Fatal(err)
	}
	_, texts := elements(t, buf.Bytes())
	all := strings.Join(texts, "|")
	for _, want := range []string{`a <b> & "c"`, "x<y", "one & two (left)", "</svg> (right)", "<script>&"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart text lacks %q after decoding", want)
		}
	}
	if err := WriteChart(io.Discard, Chart{Series: []Series{{Name: "empty"}}}); !errors.Is(err, ErrEmptyChart) {
		t.Errorf("empty chart: %v, want ErrEmptyChart", err)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		max, top float64
		n        int
	}{{0, 1, 2}, {3, 3, 4}, {10045, 12500, 6}, {30, 30, 4}, {0.4, 0.4, 5}} {
		ticks, top := niceTicks(tc.max)
		if top != tc.top || len(ticks) != tc.n || top < tc.max {
			t.Errorf("niceTicks(%v) = %v, top %v; want top %v, %d ticks", tc.max, ticks, top, tc.top, tc.n)
		}
	}
}
