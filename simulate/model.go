package simulate

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Epoch is the simulated clock's time zero. Nothing in a run reads the
// real clock.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// step is the model's time step.
const step = time.Second

// Model holds the parameters of the queue, the pods and the broker.
type Model struct {
	// PerPodRate is the messages per second one ready pod finishes.
	PerPodRate float64
	// Noise is the relative standard deviation of a pod's rate, drawn
	// for every pod and second (0.1 is +/-10%).
	Noise float64
	// StartupDelay is the time from a scale-up to the new pods consuming.
	StartupDelay time.Duration
	// Prefetch is the consumer prefetch: the unacked messages a pod holds.
	Prefetch int
	// Sampling is the broker's collect_statistics_interval: the
	// controller sees the figures as of the last sample.
	Sampling time.Duration
	// CPURequestMilli is each pod's CPU request; a pod uses it all when
	// busy all the time (CPU is proportional to the busy fraction).
	CPURequestMilli int64
	// Seed seeds the noise (a PCG source); a run is deterministic for it.
	Seed uint64
	// WaitSLO is the longest acceptable message wait, for SecondsOverSLO.
	WaitSLO time.Duration
	// InitialReplicas are ready at time zero, for every controller but
	// Fixed, which starts at its own count.
	InitialReplicas int32
}

// DefaultModel returns the defaults of `rabbitscale simulate`.
func DefaultModel() Model {
	return Model{
		PerPodRate:      25,
		Noise:           0.1,
		StartupDelay:    30 * time.Second,
		Prefetch:        20,
		Sampling:        5 * time.Second,
		CPURequestMilli: 500,
		Seed:            1,
		WaitSLO:         30 * time.Second,
		InitialReplicas: 1,
	}
}

// Validate returns every problem with the model, joined; each starts with
// the name of the parameter as `rabbitscale simulate` spells its flag.
func (m Model) Validate() error {
	var errs []error
	if !(m.PerPodRate > 0) || math.IsInf(m.PerPodRate, 0) {
		errs = append(errs, fmt.Errorf("per-pod-rate: %v must be positive", m.PerPodRate))
	}
	if !(m.Noise >= 0 && m.Noise < 1) {
		errs = append(errs, fmt.Errorf("noise: %v must be in [0, 1)", m.Noise))
	}
	if m.StartupDelay < 0 {
		errs = append(errs, fmt.Errorf("startup-delay: %s must not be negative", m.StartupDelay))
	}
	if m.Prefetch < 1 {
		errs = append(errs, fmt.Errorf("prefetch: %d must be at least 1", m.Prefetch))
	}
	if m.Sampling < step || m.Sampling%step != 0 {
		errs = append(errs, fmt.Errorf("broker-sampling-interval: %s must be a whole number of seconds, at least 1s", m.Sampling))
	}
	if m.CPURequestMilli < 1 {
		errs = append(errs, fmt.Errorf("cpu-request: %dm must be positive", m.CPURequestMilli))
	}
	if m.InitialReplicas < 0 {
		errs = append(errs, fmt.Errorf("initial-replicas: %d must not be negative", m.InitialReplicas))
	}
	return errors.Join(errs...)
}

// cohort is a group of messages that arrived in the same second.
type cohort struct {
	at int64 // arrival second
	n  int64
}

// fifo is a queue of cohorts.
type fifo struct {
	c     []cohort
	head  int
	total int64
}

func (f *fifo) push(c cohort) {
	if c.n <= 0 {
		return
	}
	f.c = append(f.c, c)
	f.total += c.n
}

// pushFront puts messages back at the head (a requeue).
func (f *fifo) pushFront(cs []cohort) {
	rest := f.c[f.head:]
	out := make([]cohort, 0, len(cs)+len(rest))
	for _, c := range cs {
		if c.n > 0 {
			out = append(out, c)
			f.total += c.n
		}
	}
	f.c, f.head = append(out, rest...), 0
}

// take moves up to n messages from the head, calling fn for each cohort
// piece, and returns how many it took.
func (f *fifo) take(n int64, fn func(cohort)) int64 {
	var took int64
	for took < n && f.head < len(f.c) {
		c := &f.c[f.head]
		k := min(c.n, n-took)
		fn(cohort{c.at, k})
		c.n -= k
		took += k
		if c.n == 0 {
			f.head++
		}
	}
	f.total -= took
	if f.head > 1024 && f.head*2 > len(f.c) {
		f.c = append(f.c[:0], f.c[f.head:]...)
		f.head = 0
	}
	return took
}

func (f *fifo) oldest() (int64, bool) {
	if f.head < len(f.c) {
		return f.c[f.head].at, true
	}
	return 0, false
}

func (f *fifo) all() []cohort { return f.c[f.head:] }

// pod is one replica of the workload.
type pod struct {
	readyAt int64 // second from which it consumes
	buf     fifo  // unacked messages
	credit  float64
	busy    [15]float64 // busy fraction of the last seconds, a ring
}

// sample is one broker statistics sample.
type sample struct {
	at                         int64
	ready, unacked, consumers  int64
	published, delivered, acks int64
}
