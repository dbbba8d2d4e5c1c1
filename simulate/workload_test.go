package simulate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCSV(t *testing.T) {
	w, err := ParseCSV("t.csv", strings.NewReader(`seconds,arrivals_per_second
# quiet, then a burst
0,10
60, 100
90,10

120,0.5
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{0, 10}, {59 * time.Second, 10}, {60 * time.Second, 100}, {89 * time.Second, 100}, {90 * time.Second, 10}, {time.Hour, 0.5}} {
		if got := w.Rate(tc.at); got != tc.want {
			t.Errorf("Rate(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if w.Duration != 7*time.Minute {
		t.Errorf("Duration = %s, want 7m (120 s + 5 min)", w.Duration)
	}
	// The median is 0.5 (the tail dominates): everything above 1 msg/s
	// is a burst.
	if diff := cmp.Diff([]Window{{0, 120 * time.Second}}, w.Bursts); diff != "" {
		t.Errorf("bursts diff (-want +got):\n%s", diff)
	}
}

func TestParseCSVErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "t.csv: no data lines"},
		{"0,1\n0,2\n", "t.csv:2: seconds 0 do not increase"},
		{"0,1,2\n", "t.csv:1: want 2 fields (seconds,arrivals_per_second), got 3"},
		{"0,1\nx,2\n", `t.csv:2: "x,2" is not two numbers`},
		{"0,-1\n", "t.csv:1: arrivals_per_second -1 must be a non-negative number"},
		{"-5,1\n", "t.csv:1: seconds -5 must be a non-negative number"},
	} {
		_, err := ParseCSV("t.csv", strings.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseCSV(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestScenarios(t *testing.T) {
	for _, name := range ScenarioNames() {
		w, err := Scenario(name)
		if err != nil || w.Name != name || w.Duration <= 0 || w.Rate == nil {
			t.Errorf("Scenario(%q) = %+v, %v", name, w, err)
		}
	}
	if _, err := Scenario("bursty"); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("Scenario(bursty) error %v, want ErrUnknownScenario", err)
	}
	burst, _ := Scenario("burst")
	if burst.Rate(4*time.Minute) != 20 || burst.Rate(5*time.Minute) != 300 || burst.Rate(10*time.Minute) != 20 {
		t.Error("burst: want 20, 300 from 5:00, 20 from 10:00")
	}
}
