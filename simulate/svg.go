package simulate

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart is a time chart: two or more series against a time axis, each
// read on the left or the right value axis, with event markers. WriteChart
// draws it; ChartOf builds the usual one from a Result.
type Chart struct {
	Title string
	// Width and Height in pixels; 0 means 960 x 480.
	Width, Height int
	// LeftLabel and RightLabel name the value axes, e.g. "messages" and
	// "replicas". The right axis is drawn only when a series uses it.
	LeftLabel, RightLabel string
	Series                []Series
	Markers               []Marker
	// Bands shade spans of time, e.g. a broker outage.
	Bands []Band
}

// Band is a shaded span of time with a label at its top.
type Band struct {
	Start, End time.Duration
	Label      string
}

// Axis says which value axis a series is read on.
type Axis int

// Axes.
const (
	Left Axis = iota
	Right
)

// Series is one line of the chart.
type Series struct {
	Name   string
	Axis   Axis
	Points []XY
	// Step draws a staircase (for counts such as replicas) instead of
	// straight segments.
	Step bool
	// Color is an SVG color; "" picks one from a palette.
	Color string
}

// XY is one point: a time from the start and a value.
type XY struct {
	T time.Duration
	V float64
}

// MarkerKind styles a marker.
type MarkerKind int

// Marker kinds.
const (
	MarkerUp MarkerKind = iota
	MarkerDown
	MarkerNote
)

// Marker is a vertical line at a time, e.g. a scale event. Label shows on
// hover (an SVG title).
type Marker struct {
	T     time.Duration
	Kind  MarkerKind
	Label string
}

// ErrEmptyChart is returned by WriteChart for a chart without points.
var ErrEmptyChart = errors.New("chart has no points")

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"}

// ChartOf is a Result's chart: depth (ready + unacked) on the left axis,
// replicas and ready pods on the right, and each scale event marked.
func ChartOf(r *Result) Chart {
	c := Chart{
		Title:     fmt.Sprintf("%s: %s", r.Workload, r.Controller),
		LeftLabel: "messages", RightLabel: "pods",
	}
	depth := Series{Name: "depth (ready + unacked)", Axis: Left, Color: "#1f77b4"}
	replicas := Series{Name: "replicas", Axis: Right, Step: true, Color: "#d62728"}
	readyPods := Series{Name: "ready pods", Axis: Right, Step: true, Color: "#f4a6a6"}
	for _, p := range r.Timeline {
		depth.Points = append(depth.Points, XY{p.T, float64(p.Depth())})
		replicas.Points = append(replicas.Points, XY{p.T, float64(p.Replicas)})
		readyPods.Points = append(readyPods.Points, XY{p.T, float64(p.ReadyPods)})
	}
	c.Series = []Series{depth, readyPods, replicas} // replicas drawn over ready pods
	for _, o := range r.Outages {
		c.Bands = append(c.Bands, Band{Start: o.Start, End: o.End, Label: "broker unreadable"})
	}
	for _, e := range r.Events {
		k := MarkerUp
		if e.To < e.From {
			k = MarkerDown
		}
		c.Markers = append(c.Markers, Marker{T: e.T, Kind: k,
			Label: fmt.Sprintf("%s scale %d -> %d: %s", clock(e.T), e.From, e.To, e.Reason)})
	}
	return c
}

// WriteChart writes the chart as a standalone SVG document.
func WriteChart(w io.Writer, c Chart) error {
	width, height := c.Width, c.Height
	if width <= 0 || height <= 0 {
		width, height = 960, 480
	}
	const (
		left, right, top, bottom = 70.0, 70.0, 56.0, 52.0
	)
	pw, ph := float64(width)-left-right, float64(height)-top-bottom
	if pw < 50 || ph < 50 {
		return fmt.Errorf("chart %dx%d is too small", width, height)
	}
	var tmax time.Duration
	var lmax, rmax float64
	hasRight, points := false, 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			points++
			tmax = max(tmax, p.T)
			if s.Axis == Right {
				rmax, hasRight = max(rmax, p.V), true
			} else {
				lmax = max(lmax, p.V)
			}
		}
	}
	if points == 0 {
		return ErrEmptyChart
	}
	tmax = max(tmax, time.Second)
	tstep := timeStep(tmax)
	if r := tmax % tstep; r != 0 && r >= tstep*9/10 {
		tmax += tstep - r // end on a tick when the data nearly does
	}
	lTicks, lTop := niceTicks(lmax)
	rTicks, rTop := niceTicks(rmax)
	x := func(t time.Duration) float64 { return left + pw*float64(t)/float64(tmax) }
	yl := func(v float64) float64 { return top + ph - ph*v/lTop }
	yr := func(v float64) float64 { return top + ph - ph*v/rTop }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="22" font-size="16" font-weight="bold">%s</text>`+"\n", left, esc(c.Title))

	// Grid and the left axis.
	for _, v := range lTicks {
		y := yl(v)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, esc(formatValue(v)))
	}
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+ph/2, esc(c.LeftLabel))
	if hasRight {
		for _, v := range rTicks {
			fmt.Fprintf(&b, `<text x="%g" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", left+pw+6, yr(v), esc(formatValue(v)))
		}
		fmt.Fprintf(&b, `<text transform="translate(%g %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", float64(width)-16, top+ph/2, esc(c.RightLabel))
	}
	// Time axis.
	for t := time.Duration(0); t <= tmax; t += tstep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#999"/>`+"\n", x(t), top+ph, x(t), top+ph+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", x(t), top+ph+18, clock(t))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">time (m:ss from start)</text>`+"\n", left+pw/2, float64(height)-8)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)

	// Bands and markers under the lines.
	for _, band := range c.Bands {
		x0, x1 := x(min(max(band.Start, 0), tmax)), x(min(max(band.End, 0), tmax))
		fmt.Fprintf(&b, `<g><title>%s</title><rect x="%.1f" y="%g" width="%.1f" height="%g" fill="#7f7f7f" fill-opacity="0.15"/><text x="%.1f" y="%g" font-size="11" fill="#555">%s</text></g>`+"\n",
			esc(band.Label), x0, top, x1-x0, ph, x0+4, top+14, esc(band.Label))
	}
	for _, m := range c.Markers {
		color, glyph := "#2ca02c", "▲"
		switch m.Kind {
		case MarkerDown:
			color, glyph = "#d62728", "▼"
		case MarkerNote:
			color, glyph = "#7f7f7f", "●"
		}
		fmt.Fprintf(&b, `<g><title>%s</title><line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="%s" stroke-dasharray="3 3" stroke-opacity="0.6"/><text x="%.1f" y="%g" fill="%s" text-anchor="middle" font-size="10">%s</text></g>`+"\n",
			esc(m.Label), x(m.T), top, x(m.T), top+ph, color, x(m.T), top-3, color, glyph)
	}

	// Series.
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		y := yl
		if s.Axis == Right {
			y = yr
		}
		var pts strings.Builder
		for j, p := range s.Points {
			// The inside of a flat run adds nothing to the line.
			if j > 0 && j < len(s.Points)-1 && s.Points[j-1].V == p.V && s.Points[j+1].V == p.V {
				continue
			}
			if s.Step && j > 0 {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x(p.T), y(s.Points[j-1].V))
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(p.T), y(p.V))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`+"\n", esc(color), strings.TrimSpace(pts.String()))
	}

	// Legend, right-aligned above the plot.
	lx := left + pw
	for i := len(c.Series) - 1; i >= 0; i-- {
		s := c.Series[i]
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		label := s.Name
		if hasRight {
			label += map[Axis]string{Left: " (left)", Right: " (right)"}[s.Axis]
		}
		w := 7*float64(len([]rune(label))) + 28
		lx -= w
		fmt.Fprintf(&b, `<line x1="%.1f" y1="40" x2="%.1f" y2="40" stroke="%s" stroke-width="3"/><text x="%.1f" y="44">%s</text>`+"\n", lx, lx+18, esc(color), lx+22, esc(label))
	}
	if len(c.Markers) > 0 {
		fmt.Fprintf(&b, `<text x="%g" y="44" font-size="11" fill="#555"><tspan fill="#2ca02c">▲</tspan> scale up  <tspan fill="#d62728">▼</tspan> scale down</text>`+"\n", left)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// niceTicks returns 0 and evenly spaced round values up to a top at or
// above v.
func niceTicks(v float64) ([]float64, float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		return []float64{0, 1}, 1
	}
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var stepSize float64
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*mag >= raw {
			stepSize = f * mag
			break
		}
	}
	if stepSize < 1 && v >= 1 {
		stepSize = 1
	}
	var ticks []float64
	top := stepSize * math.Ceil(v/stepSize-1e-9)
	for t := 0.0; t <= top+stepSize/2; t += stepSize {
		ticks = append(ticks, t)
	}
	return ticks, top
}

func timeStep(tmax time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
		5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour} {
		if tmax/s <= 12 {
			return s
		}
	}
	return tmax / 10
}

// clock formats a duration from the start as m:ss (h:mm:ss past an hour).
func clock(d time.Duration) string {
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func formatValue(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
