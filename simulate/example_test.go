package simulate_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/simulate"
)

func Example() {
	spec, err := policy.ParseSpec(map[string]string{
		"rabbitscale.io/queue":                "work",
		"rabbitscale.io/target-depth-per-pod": "100",
		"rabbitscale.io/max-replicas":         "30",
		"rabbitscale.io/target-drain-seconds": "60",
	})
	if err != nil {
		panic(err)
	}
	w, _ := simulate.Scenario("burst")
	m := simulate.DefaultModel() // 25 msg/s per pod, 30 s start-up, seed 1

	var sums []simulate.Summary
	for _, c := range []simulate.Autoscaler{
		&simulate.Rabbitscale{Spec: spec, Every: 5 * time.Second},
		simulate.NewKEDA(spec),
	} {
		r, err := simulate.Run(w, 0, m, c)
		if err != nil {
			panic(err)
		}
		sums = append(sums, r.Summary)
	}
	for _, s := range sums {
		fmt.Printf("%s: arrived %d = processed %d + left %d\n", s.Controller, s.Arrived, s.Processed, s.Left)
	}
	rs := sums[0]
	fmt.Printf("rabbitscale: peak depth %d, p99 wait %s, %d scale events, replica-seconds %d\n",
		rs.PeakDepth, rs.P99Wait, rs.ScaleEvents, rs.ReplicaSeconds)
	// Output:
	// rabbitscale: arrived 120000 = processed 120000 + left 0
	// keda: arrived 120000 = processed 120000 + left 0
	// rabbitscale: peak depth 9621, p99 wait 32s, 10 scale events, replica-seconds 15195
}

// A chart of anything over time: the demo draws its live run with it.
func ExampleWriteChart() {
	c := simulate.Chart{
		Title:     "demo",
		LeftLabel: "messages", RightLabel: "pods",
		Series: []simulate.Series{
			{Name: "depth", Axis: simulate.Left, Points: []simulate.XY{{T: 0, V: 0}, {T: time.Minute, V: 1200}, {T: 2 * time.Minute, V: 40}}},
			{Name: "replicas", Axis: simulate.Right, Step: true, Points: []simulate.XY{{T: 0, V: 1}, {T: 70 * time.Second, V: 6}, {T: 2 * time.Minute, V: 6}}},
		},
		Markers: []simulate.Marker{{T: 70 * time.Second, Kind: simulate.MarkerUp, Label: "scale 1 -> 6"}},
	}
	var b strings.Builder
	if err := simulate.WriteChart(&b, c); err != nil {
		panic(err)
	}
	svg := b.String()
	fmt.Println(strings.SplitN(svg, "\n", 2)[0])
	fmt.Println(strings.Count(svg, "<polyline"), "series,", strings.Count(svg, "<title>"), "marker")
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// 2 series, 1 marker
}
