package demo

import (
	"fmt"
	"os"

	"github.com/rabbitscale/rabbitscale/simulate"
)

// WriteSVG draws depth and replicas over time, with each replica change
// marked (its reason shows on hover), to path.
func WriteSVG(path string, r *Result) error {
	depth := simulate.Series{Name: "depth (ready + unacked)", Axis: simulate.Left, Color: "#1f77b4"}
	replicas := simulate.Series{Name: "replicas", Axis: simulate.Right, Step: true, Color: "#d62728"}
	c := simulate.Chart{Title: "make demo: a real controller on a real queue", LeftLabel: "messages", RightLabel: "pods"}
	for i, s := range r.Samples {
		if s.Depth >= 0 {
			depth.Points = append(depth.Points, simulate.XY{T: s.At, V: float64(s.Depth)})
		}
		replicas.Points = append(replicas.Points, simulate.XY{T: s.At, V: float64(s.Replicas)})
		if i == 0 || s.Replicas == r.Samples[i-1].Replicas {
			continue
		}
		kind := simulate.MarkerUp
		if s.Replicas < r.Samples[i-1].Replicas {
			kind = simulate.MarkerDown
		}
		c.Markers = append(c.Markers, simulate.Marker{T: s.At, Kind: kind, Label: s.Reason})
	}
	c.Series = []simulate.Series{depth, replicas}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := simulate.WriteChart(f, c); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
