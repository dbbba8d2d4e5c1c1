package simulate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rabbitscale/rabbitscale/observe"
	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// Point is the model's state at the end of one simulated second.
type Point struct {
	T time.Duration
	// Rate is the workload's arrival rate; Arrived and Processed count
	// the messages of this second.
	Rate      float64
	Arrived   int64
	Processed int64
	// Ready and Unacked are the true figures (not the broker's sample).
	Ready   int64
	Unacked int64
	// Replicas is the replica count the controller set; ReadyPods are
	// consuming.
	Replicas  int32
	ReadyPods int32
	// OldestWait is the age of the oldest message still in the queue.
	OldestWait time.Duration
}

// Depth is Ready + Unacked.
func (p Point) Depth() int64 { return p.Ready + p.Unacked }

// Event is one change of the replica count.
type Event struct {
	T        time.Duration
	From, To int32
	Reason   string
}

// Result is one run: the timeline, the scale events and the summary.
type Result struct {
	Controller string
	Workload   string
	// Outages are the workload's, for the chart.
	Outages  []Window
	Timeline []Point
	Events   []Event
	Summary  Summary
}

// Run simulates duration of the workload (the workload's own when 0)
// under an autoscaler, one second at a time. Each second, in order: the
// broker takes its statistics sample when the sampling interval divides
// the second; the controller decides when its interval does, from the last
// sample; pods whose start-up delay has passed start consuming; the
// second's arrivals join the queue; each ready pod finishes up to its
// noisy rate of messages, oldest first, from its prefetched ones and then
// straight from the queue; and the pods refill their prefetch.
func Run(w Workload, duration time.Duration, m Model, c Autoscaler) (*Result, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if duration <= 0 {
		duration = w.Duration
	}
	if duration < step || w.Rate == nil {
		return nil, fmt.Errorf("workload %q: no duration or rate", w.Name)
	}
	every := c.Interval()
	if every < step || every%step != 0 {
		return nil, fmt.Errorf("%s: interval %s must be a whole number of seconds", c.Name(), every)
	}
	s := &sim{
		m:        m,
		rng:      rand.New(rand.NewPCG(m.Seed, 0x5ca1ab1e)),
		waitHist: make([]int64, 0, 64),
	}
	initial := m.InitialReplicas
	if f, ok := c.(Fixed); ok {
		initial = f.Replicas
	}
	s.replicas = initial
	for range initial {
		s.pods = append(s.pods, &pod{readyAt: 0})
	}
	secs := int64(duration / step)
	sampleEvery := int64(m.Sampling / step)
	tickEvery := int64(every / step)
	res := &Result{Controller: c.Name(), Workload: w.Name, Outages: w.Outages, Timeline: make([]Point, 0, secs)}
	var arrivalCredit float64
	broker := &brokerModel{}
	opts := queue.ReaderOptions{}
	if _, ok := c.(*Rabbitscale); ok {
		// rabbitscale's controller passively declares the queues of a
		// workload at zero (a broker with an amqpURL); the baselines read
		// the statistics only, as KEDA's HTTP protocol does.
		opts.Fresh = freshModel{broker}
	}
	reader := queue.NewReader(broker, opts)
	var scope queue.Scope
	observe.Include(&scope, simSelector)
	for t := int64(0); t < secs; t++ {
		at := time.Duration(t) * step
		if t%sampleEvery == 0 {
			broker.last = s.sample(t)
		}
		if t%tickEvery == 0 {
			broker.now, broker.outage = Epoch.Add(at), inAny(w.Outages, at)
			broker.readyNow, broker.consumersNow = s.ready.total, int64(s.readyPods(t))
			v := View{Observation: policy.Observation{Replicas: s.replicas, CPU: s.cpu(t)}}
			// The controller's reads and observation: an outage, like any
			// failed read, leaves the queue unavailable; a failed fresh
			// read leaves the statistics.
			if snap, err := reader.Snapshot(context.Background(), scope); err == nil {
				sw := observe.Workload{Replicas: s.replicas, Queue: simSelector}
				fresh, _ := observe.ReadFresh(context.Background(), reader, snap, sw)
				v.Observation.Queue, _ = observe.QueueFresh(snap, fresh, sw)
			}
			ch := c.Decide(Epoch.Add(at), v)
			if ch.Desired != s.replicas && ch.Desired >= 0 {
				res.Events = append(res.Events, Event{T: at, From: s.replicas, To: ch.Desired, Reason: ch.Reason})
				s.scale(t, ch.Desired)
			}
		}
		rate := max(w.Rate(at), 0)
		arrivalCredit += rate * step.Seconds()
		n := int64(math.Floor(arrivalCredit))
		arrivalCredit -= float64(n)
		s.ready.push(cohort{at: t, n: n})
		s.published += n
		done := s.work(t)
		p := Point{T: at, Rate: rate, Arrived: n, Processed: done, Ready: s.ready.total,
			Replicas: s.replicas, ReadyPods: int32(s.readyPods(t))}
		oldest, ok := s.ready.oldest()
		for _, pd := range s.pods {
			p.Unacked += pd.buf.total
			if o, has := pd.buf.oldest(); has && (!ok || o < oldest) {
				oldest, ok = o, true
			}
		}
		if ok {
			p.OldestWait = time.Duration(t+1-oldest) * step
		}
		res.Timeline = append(res.Timeline, p)
	}
	res.Summary = summarize(res, w, m, s.waitHist)
	return res, nil
}

func inAny(ws []Window, t time.Duration) bool {
	return slices.ContainsFunc(ws, func(w Window) bool { return w.contains(t) })
}

type sim struct {
	m        Model
	rng      *rand.Rand
	ready    fifo
	pods     []*pod
	replicas int32
	rotate   int

	published, delivered, acked int64
	waitHist                    []int64 // messages by wait in whole seconds
}

func (s *sim) readyPods(t int64) int {
	n := 0
	for _, p := range s.pods {
		if p.readyAt <= t {
			n++
		}
	}
	return n
}

func (s *sim) sample(t int64) sample {
	out := sample{at: t, ready: s.ready.total, consumers: int64(s.readyPods(t)),
		published: s.published, delivered: s.delivered, acks: s.acked}
	for _, p := range s.pods {
		out.unacked += p.buf.total
	}
	return out
}

// cpu is what the metrics API shows: each pod's busy fraction over its
// last 15 seconds (the metrics-server resolution) times its request.
func (s *sim) cpu(t int64) policy.CPUObservation {
	obs := policy.CPUObservation{Available: true}
	for _, p := range s.pods {
		pc := policy.PodCPU{Ready: p.readyAt <= t, RequestMilli: s.m.CPURequestMilli}
		if pc.Ready {
			n := min(t-p.readyAt, int64(len(p.busy)))
			if n > 0 {
				var sum float64
				for i := range n {
					sum += p.busy[(t-1-i)%int64(len(p.busy))]
				}
				pc.HasMetric = true
				pc.UsageMilli = int64(math.Round(sum / float64(n) * float64(s.m.CPURequestMilli)))
			}
		}
		obs.Pods = append(obs.Pods, pc)
	}
	return obs
}

// scale sets the replica count: new pods start consuming after the
// start-up delay; removed pods are the ones still starting, then the
// newest, as a ReplicaSet chooses, and their unacked messages go back to
// the head of the queue.
func (s *sim) scale(t int64, to int32) {
	for s.replicas < to {
		s.pods = append(s.pods, &pod{readyAt: t + int64(s.m.StartupDelay/step)})
		s.replicas++
	}
	var requeue []cohort
	for s.replicas > to {
		p := s.pods[len(s.pods)-1]
		s.pods = s.pods[:len(s.pods)-1]
		requeue = append(requeue, p.buf.all()...)
		s.replicas--
	}
	if len(requeue) > 0 {
		slices.SortStableFunc(requeue, func(a, b cohort) int { return int(a.at - b.at) })
		s.ready.pushFront(requeue)
	}
}

// work runs one second of consumption and returns the messages finished.
func (s *sim) work(t int64) int64 {
	var active []*pod
	for _, p := range s.pods {
		if p.readyAt <= t {
			active = append(active, p)
		}
	}
	if len(active) == 0 {
		return 0
	}
	s.rotate = (s.rotate + 1) % len(active)
	order := append(active[s.rotate:len(active):len(active)], active[:s.rotate]...)
	record := func(c cohort) {
		wait := t + 1 - c.at
		for int64(len(s.waitHist)) <= wait {
			s.waitHist = append(s.waitHist, 0)
		}
		s.waitHist[wait] += c.n
	}
	var total int64
	for _, p := range order {
		r := s.m.PerPodRate * max(0, 1+s.m.Noise*s.rng.NormFloat64())
		p.credit += r
		capacity := int64(math.Floor(p.credit))
		done := p.buf.take(capacity, record)
		if done < capacity {
			k := s.ready.take(capacity-done, record)
			s.delivered += k
			done += k
		}
		p.credit -= float64(done)
		if done < capacity {
			p.credit = math.Mod(p.credit, 1) // an idle pod banks no capacity
		}
		busy := 1.0
		if r > 0 {
			busy = min(float64(done)/r, 1)
		}
		p.busy[t%int64(len(p.busy))] = busy
		total += done
	}
	for _, p := range order {
		if free := int64(s.m.Prefetch) - p.buf.total; free > 0 {
			s.delivered += s.ready.take(free, p.buf.push)
		}
	}
	s.acked += total
	return total
}
