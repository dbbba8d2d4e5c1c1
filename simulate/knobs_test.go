package simulate

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

func TestParseKEDAKnobs(t *testing.T) {
	def := DefaultKEDAConfig()
	tests := []struct {
		name    string
		in      string
		want    func(*KEDAConfig)
		wantErr []string
	}{
		{name: "empty keeps the base", in: "", want: func(*KEDAConfig) {}},
		{name: "the e2e test's knobs", in: "polling=5s, cooldown=10, activation=5",
			want: func(c *KEDAConfig) { c.Polling, c.Cooldown, c.Activation = 5*time.Second, 10*time.Second, 5 }},
		{name: "cached metrics", in: "cached=true", want: func(c *KEDAConfig) { c.CachedMetrics = true }},
		{name: "every problem at once", in: "polling=5x,activation=many,cached=maybe,speed=1,oops", wantErr: []string{
			`polling: "5x" is not a duration`,
			`activation: "many" is not a number`,
			`cached: "maybe" is not true or false`,
			`speed: "speed" is not a knob (known: polling, cooldown, activation, cached)`,
			`oops: "oops" is not key=value`,
		}},
		{name: "validated", in: "polling=0s,cooldown=-1s,activation=-2", wantErr: []string{
			"polling: 0s must be a whole number of seconds, at least 1s",
			"cooldown: -1s must be a whole, non-negative number of seconds",
			"activation: -2 must be a non-negative number",
		}},
	}
	for _, tt := range tests {
		got, err := ParseKEDAKnobs(tt.in, def)
		if tt.wantErr != nil {
			if err == nil {
				t.Errorf("%s: no error", tt.name)
				continue
			}
			if diff := cmp.Diff(tt.wantErr, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("%s: errors diff (-want +got):\n%s", tt.name, diff)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		want := DefaultKEDAConfig()
		tt.want(&want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: diff (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestParseHPARules(t *testing.T) {
	def := policy.HPADefaultBehavior()
	got, err := ParseHPARules("window=60s,select=Min,pods=2/30s,percent=50/1m", def.ScaleDown)
	if err != nil {
		t.Fatal(err)
	}
	want := policy.ScalingRules{StabilizationWindow: time.Minute, Select: policy.SelectMin, Policies: []policy.ScalingPolicy{
		{Type: policy.PodsPolicy, Value: 2, Period: 30 * time.Second},
		{Type: policy.PercentPolicy, Value: 50, Period: time.Minute},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	// Without a policy the base's stay, as the API defaults them.
	if got, err := ParseHPARules("window=0", def.ScaleDown); err != nil || len(got.Policies) != 1 || got.StabilizationWindow != 0 {
		t.Errorf("window only: %+v, %v", got, err)
	}
	if s := RulesString(def.ScaleUp); s != "window=0s,select=Max,pods=4/15s,percent=100/15s" {
		t.Errorf("String() = %q", s)
	}
	_, err = ParseHPARules("select=Fast,pods=4,percent=0/15s,window=2h", def.ScaleUp)
	wantErr := []string{
		`select: "Fast" is not Max, Min or Disabled`,
		`pods: "4" is not N/PERIOD (e.g. pods=4/15s)`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(wantErr, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors diff (-want +got):\n%s", diff)
	}
	_, err = ParseHPARules("percent=0/15s,window=2h,pods=1/31m", def.ScaleUp)
	wantErr = []string{
		"window: 2h0m0s must be whole seconds from 0s to 1h",
		"percent=0/15s: the value must be above zero",
		"pods=1/31m0s: the period must be whole seconds from 1s to 30m",
	}
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(wantErr, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("validation errors diff (-want +got):\n%s", diff)
	}
}

func TestSummaryReactionAndZeroAfterLastAck(t *testing.T) {
	r := &Result{Timeline: make([]Point, 120), Events: []Event{
		{T: 5 * time.Second, From: 1, To: 2},  // before the burst
		{T: 40 * time.Second, From: 2, To: 1}, // a scale-down does not react
		{T: 45 * time.Second, From: 1, To: 4},
		{T: 70 * time.Second, From: 4, To: 0}, // before the last ack
		{T: 75 * time.Second, From: 0, To: 1},
		{T: 100 * time.Second, From: 1, To: 0},
	}}
	for i := range r.Timeline {
		r.Timeline[i].T = time.Duration(i) * time.Second
	}
	r.Timeline[80].Processed = 3 // the last ack, in second 80
	w := Workload{Bursts: []Window{{30 * time.Second, 31 * time.Second}}}
	m := DefaultModel()
	s := summarize(r, w, m, []int64{0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 2})
	if s.Reaction != 15*time.Second || s.ZeroAfterLastAck != 19*time.Second || s.MessagesOverSLO != 9 {
		t.Errorf("reaction %s, zero after last ack %s, over SLO %d; want 15s, 19s (81s to 100s), 9 (waits 31s and 32s)",
			s.Reaction, s.ZeroAfterLastAck, s.MessagesOverSLO)
	}
	s = summarize(&Result{Timeline: r.Timeline[:10]}, Workload{}, m, nil)
	if s.Reaction != -1 || s.ZeroAfterLastAck != -1 {
		t.Errorf("no burst, no ack: reaction %s, zero %s; want -1, -1", s.Reaction, s.ZeroAfterLastAck)
	}
}
