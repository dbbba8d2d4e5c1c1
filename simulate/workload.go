package simulate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// ErrUnknownScenario is returned by Scenario for a name it does not know.
var ErrUnknownScenario = errors.New("unknown scenario")

// Window is a span of simulated time, [Start, End), from the start of the
// run.
type Window struct {
	Start, End time.Duration
}

func (w Window) contains(t time.Duration) bool { return t >= w.Start && t < w.End }

// Workload is the traffic of a run: an arrival rate over time, the bursts
// whose drain time is reported, and the windows during which the broker
// cannot be read.
type Workload struct {
	Name string
	// Duration is the run's default length.
	Duration time.Duration
	// Rate is the arrival rate in messages per second at t from the start.
	Rate func(t time.Duration) float64
	// Bursts are the windows after whose end the drain time is measured.
	Bursts []Window
	// Outages are the windows during which the broker's statistics cannot
	// be read (Queue.Available is false for the controller).
	Outages []Window

	// What a scenario fixes so that rabbitscale and the keda baseline run
	// with the same settings (Settings applies them):
	//
	// Annotations are the workload's rabbitscale.io/ annotations; nil
	// leaves them to the caller.
	Annotations map[string]string
	// Model sets the model parameters the scenario fixes (start-up delay,
	// statistics interval, per-pod rate...); nil fixes none.
	Model func(*Model)
	// KEDA are the matching ScaledObject knobs; nil for KEDA's defaults.
	KEDA *KEDAConfig
}

// Settings returns the model with the workload's own parameters applied
// over m, and the keda knobs the workload carries (KEDA's defaults when it
// carries none).
func (w Workload) Settings(m Model) (Model, KEDAConfig) {
	if w.Model != nil {
		w.Model(&m)
	}
	k := DefaultKEDAConfig()
	if w.KEDA != nil {
		k = *w.KEDA
	}
	return m, k
}

// ScenarioNames lists the built-in scenarios.
func ScenarioNames() []string {
	return []string{"burst", "diurnal", "spiky", "ramp", "outage", "flash-crowd", "batches", "keda-e2e"}
}

// Scenario returns a built-in workload by name:
//
//   - burst: 20 msg/s for 30 minutes with 300 msg/s from 5:00 to 10:00;
//   - diurnal: a day compressed to two hours, 10 to 200 msg/s and back
//     along a cosine;
//   - spiky: 40 msg/s for an hour with a 30 s spike of 400 msg/s every 4
//     minutes, from 2:00;
//   - ramp: 10 to 300 msg/s linearly over 40 minutes, 300 for 10, then 10;
//   - outage: 50 msg/s for 30 minutes with 250 msg/s from 10:00 to 15:00,
//     and the broker unreadable from 9:00 to 14:00;
//   - flash-crowd: 20 msg/s for 30 minutes with 400 msg/s (20 times the
//     base) from 5:00 to 6:00, then a tail whose excess over the base
//     decays with a 90 s time constant (about 110 msg/s at 7:00, 35 at
//     8:00); with keda-e2e's knobs on both sides but 0 to 20 replicas and
//     the 10 s cooldown for every scale-down (rabbitscale's
//     scale-down-cooldown, KEDA's scale-down stabilization window), from
//     one pod serving the base load;
//   - batches: a batch of 3000 messages published within one second every
//     5 minutes from 1:00, nothing in between, for an hour;
//   - keda-e2e: KEDA's own RabbitMQ end-to-end test (kedacore/keda
//     tests/scalers/rabbitmq/rabbitmq_queue_amqp): a workload at zero
//     replicas, 100 messages published at once at 1:00, then nothing,
//     for 5 minutes. It carries the test's ScaledObject (pollingInterval
//     5 s, cooldownPeriod 10 s, 0 to 4 replicas, QueueLength 10,
//     activationValue 5; the AMQP protocol counts ready messages only)
//     and the same settings as annotations; and the test's consumer
//     (kedacore/test-tools e2e/images/rabbitmq receive: prefetch 1, one
//     second per message, so 1 msg/s without noise), ready 5 s after it
//     is asked for, with 5 s broker statistics.
func Scenario(name string) (Workload, error) {
	const (
		sec = time.Second
		min = time.Minute
	)
	switch name {
	case "burst":
		b := Window{5 * min, 10 * min}
		return Workload{Name: name, Duration: 30 * min, Bursts: []Window{b},
			Rate: func(t time.Duration) float64 { return level(t, b, 20, 300) }}, nil
	case "diurnal":
		const period = 2 * time.Hour
		return Workload{Name: name, Duration: period,
			Rate: func(t time.Duration) float64 {
				return 10 + 190*(1-math.Cos(2*math.Pi*t.Seconds()/period.Seconds()))/2
			}}, nil
	case "spiky":
		var spikes []Window
		for s := 2 * min; s < time.Hour; s += 4 * min {
			spikes = append(spikes, Window{s, s + 30*sec})
		}
		return Workload{Name: name, Duration: time.Hour, Bursts: spikes,
			Rate: func(t time.Duration) float64 {
				for _, w := range spikes {
					if w.contains(t) {
						return 400
					}
				}
				return 40
			}}, nil
	case "ramp":
		return Workload{Name: name, Duration: time.Hour, Bursts: []Window{{0, 50 * min}},
			Rate: func(t time.Duration) float64 {
				switch {
				case t < 40*min:
					return 10 + 290*t.Seconds()/(40*min).Seconds()
				case t < 50*min:
					return 300
				}
				return 10
			}}, nil
	case "outage":
		b := Window{10 * min, 15 * min}
		return Workload{Name: name, Duration: 30 * min, Bursts: []Window{b},
			Outages: []Window{{9 * min, 14 * min}},
			Rate:    func(t time.Duration) float64 { return level(t, b, 50, 250) }}, nil
	case "flash-crowd":
		b := Window{5 * min, 6 * min}
		return Workload{Name: name, Duration: 30 * min, Bursts: []Window{b},
			Rate: func(t time.Duration) float64 {
				switch {
				case t < b.Start:
					return 20
				case t < b.End:
					return 400
				}
				return 20 + 380*math.Exp(-(t-b.End).Seconds()/90)
			},
			// The knobs of keda-e2e, with room for the crowd (0 to 20
			// replicas) and its 10 s cooldown for every scale-down on both
			// sides: the settings of the real-components measurement this
			// scenario reproduces, which predates the cooldown's split.
			Annotations: map[string]string{
				policy.KeyQueue:             "crowd",
				policy.KeyTargetDepthPerPod: "10",
				policy.KeyMinReplicas:       "0",
				policy.KeyMaxReplicas:       "20",
				policy.KeyActivationDepth:   "5",
				policy.KeyScaleDownCooldown: "10s",
			},
			// A running service meets the crowd: one pod serves the base
			// load. From zero, the first wake-up's pods (10, for the 100
			// messages of the first sample) go back to 1 under five minutes
			// before the crowd, which no depth rule without a known
			// per-pod rate can avoid; keda-e2e measures that wake-up.
			Model: func(m *Model) {
				m.StartupDelay, m.Sampling = 5*sec, 5*sec
				m.InitialReplicas = 1
			},
			KEDA: &KEDAConfig{Polling: 5 * sec, Cooldown: 10 * sec, Activation: 5, Behavior: scaleDownWindow(policy.HPADefaultBehavior(), 10*sec)},
		}, nil
	case "batches":
		var batches []Window
		for s := 1 * min; s < time.Hour; s += 5 * min {
			batches = append(batches, Window{s, s + sec})
		}
		return Workload{Name: name, Duration: time.Hour, Bursts: batches,
			Rate: func(t time.Duration) float64 {
				if inAny(batches, t) {
					return 3000
				}
				return 0
			}}, nil
	case "keda-e2e":
		b := Window{1 * min, 1*min + sec}
		return Workload{Name: name, Duration: 5 * min, Bursts: []Window{b},
			Rate: func(t time.Duration) float64 { return level(t, b, 0, 100) },
			Annotations: map[string]string{
				policy.KeyQueue:             "hello",
				policy.KeyTargetDepthPerPod: "10",
				policy.KeyCountUnacked:      "false",
				policy.KeyMinReplicas:       "0",
				policy.KeyMaxReplicas:       "4",
				policy.KeyActivationDepth:   "5",
				// cooldownPeriod is KEDA's idle time before zero.
				policy.KeyScaleToZeroAfter: "10s",
			},
			Model: func(m *Model) {
				m.PerPodRate, m.Noise, m.Prefetch = 1, 0, 1
				m.StartupDelay, m.Sampling = 5*sec, 5*sec
				m.InitialReplicas = 0
			},
			KEDA: &KEDAConfig{Polling: 5 * sec, Cooldown: 10 * sec, Activation: 5, Behavior: policy.HPADefaultBehavior()},
		}, nil
	}
	return Workload{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownScenario, name, strings.Join(ScenarioNames(), ", "))
}

// scaleDownWindow returns b with its scale-down stabilization window set
// to w: advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.
// stabilizationWindowSeconds in a ScaledObject.
func scaleDownWindow(b policy.Behavior, w time.Duration) policy.Behavior {
	b.ScaleDown.StabilizationWindow = w
	return b
}

func level(t time.Duration, w Window, base, high float64) float64 {
	if w.contains(t) {
		return high
	}
	return base
}

// ParseCSV reads a workload from lines of "seconds,arrivals_per_second":
// the rate holds from each line's time until the next one's. Seconds must
// increase; a first line that does not parse as numbers is taken as a
// header; blank lines and lines starting with # are skipped. The duration
// is the last line's time plus five minutes. Bursts are the spans where the
// rate exceeds twice its time-weighted median.
func ParseCSV(name string, r io.Reader) (Workload, error) {
	type point struct{ at, rate float64 }
	var pts []point
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 2 {
			return Workload{}, fmt.Errorf("%s:%d: want 2 fields (seconds,arrivals_per_second), got %d", name, line, len(fields))
		}
		at, err1 := strconv.ParseFloat(strings.TrimSpace(fields[0]), 64)
		rate, err2 := strconv.ParseFloat(strings.TrimSpace(fields[1]), 64)
		if err1 != nil || err2 != nil {
			if len(pts) == 0 && line == 1 {
				continue // header
			}
			return Workload{}, fmt.Errorf("%s:%d: %q is not two numbers", name, line, text)
		}
		switch {
		case at < 0 || math.IsNaN(at) || math.IsInf(at, 0):
			return Workload{}, fmt.Errorf("%s:%d: seconds %v must be a non-negative number", name, line, at)
		case rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0):
			return Workload{}, fmt.Errorf("%s:%d: arrivals_per_second %v must be a non-negative number", name, line, rate)
		case len(pts) > 0 && at <= pts[len(pts)-1].at:
			return Workload{}, fmt.Errorf("%s:%d: seconds %v do not increase", name, line, at)
		}
		pts = append(pts, point{at, rate})
	}
	if err := sc.Err(); err != nil {
		return Workload{}, fmt.Errorf("%s: %w", name, err)
	}
	if len(pts) == 0 {
		return Workload{}, fmt.Errorf("%s: no data lines", name)
	}
	rate := func(t time.Duration) float64 {
		s := t.Seconds()
		i, found := slices.BinarySearchFunc(pts, s, func(p point, s float64) int {
			switch {
			case p.at < s:
				return -1
			case p.at > s:
				return 1
			}
			return 0
		})
		if !found {
			i--
		}
		if i < 0 {
			return 0
		}
		return pts[i].rate
	}
	w := Workload{Name: name, Rate: rate,
		Duration: time.Duration(pts[len(pts)-1].at*float64(time.Second)).Round(time.Second) + 5*time.Minute}
	w.Bursts = detectBursts(w)
	return w, nil
}

// detectBursts finds the spans, at one-second resolution, where the rate
// exceeds twice its median over the workload's duration.
func detectBursts(w Workload) []Window {
	n := int(w.Duration / time.Second)
	rates := make([]float64, n)
	for i := range rates {
		rates[i] = w.Rate(time.Duration(i) * time.Second)
	}
	sorted := slices.Clone(rates)
	slices.Sort(sorted)
	if n == 0 {
		return nil
	}
	threshold := 2 * sorted[n/2]
	var out []Window
	start := -1
	for i := 0; i <= n; i++ {
		high := i < n && rates[i] > threshold && rates[i] > 0
		switch {
		case high && start < 0:
			start = i
		case !high && start >= 0:
			out = append(out, Window{time.Duration(start) * time.Second, time.Duration(i) * time.Second})
			start = -1
		}
	}
	return out
}
