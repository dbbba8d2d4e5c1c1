package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/rabbitscale/rabbitscale/internal/nslabels"
	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/observe"
	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// parsedWorkload is a workload with its valid spec, as the tick decides
// for it.
type parsedWorkload struct {
	*workload
	spec policy.Spec
}

// skip says why a workload is left alone this tick, for the report step.
type skip struct {
	reason, message string
	// invalid is true for annotations that do not parse: an error of the
	// tick, where a conflicting autoscaler is the user's choice.
	invalid bool
}

// parse reads w's annotations and checks that nothing else scales it. A
// workload it skips is reported by reportSkipped.
func (c *Controller) parse(w *workload) (parsedWorkload, *skip) {
	spec, err := policy.ParseSpec(w.Annotations)
	if err != nil {
		return parsedWorkload{}, &skip{reason: ReasonInvalidAnnotations, message: "invalid annotations: " + oneLine(err), invalid: true}
	}
	if c.dryRun {
		// Through the spec, so that the engine itself reports what it
		// would do and keeps the state of a workload left alone.
		spec.DryRun = true
	}
	if c.allowed != nil {
		if err := c.allowed(spec.Broker, c.namespace(w.Namespace), spec.Queue.Vhost); err != nil {
			return parsedWorkload{}, &skip{reason: ReasonBrokerNotAllowed, message: oneLine(err) + "; rabbitscale leaves it alone"}
		}
	}
	if hpa := c.conflictingHPA(w); hpa != "" {
		return parsedWorkload{}, &skip{reason: ReasonConflictingAutoscaler,
			message: fmt.Sprintf("HorizontalPodAutoscaler %s targets this %s; rabbitscale leaves it alone", hpa, w.Kind)}
	}
	return parsedWorkload{workload: w, spec: spec}, nil
}

// namespace is what the brokers' allow lists check of namespace name: its
// labels from Config.Namespaces, nil when they are not known (no lister, a
// cache not synced yet, a namespace not in it).
func (c *Controller) namespace(name string) queue.Namespace {
	return nslabels.Namespace(c.nsGetter, name)
}

// forgetSeries drops the metric series of workloads that are gone, no
// longer configured or left to another autoscaler, so that dashboards do
// not show them frozen. The invalid ones (annotations that do not parse)
// keep rabbitscale_workload_annotations_invalid, which reportSkipped set;
// the rest of their series went with it.
func (c *Controller) forgetSeries(live []parsedWorkload, invalid []*workload) {
	keep := make(map[string]bool, len(live)+len(invalid))
	for _, p := range live {
		keep[p.key()] = true
		c.observed[p.key()] = p.workload
	}
	for _, w := range invalid {
		keep[w.key()] = true
		c.observed[w.key()] = w
	}
	for k, w := range c.observed {
		if !keep[k] {
			c.observe.ForgetWorkload(string(w.Kind), w.Namespace, w.Name)
			delete(c.observed, k)
		}
	}
	decided := make(map[string]bool, len(live))
	for _, p := range live {
		decided[p.key()] = true
	}
	c.forgetLive(decided)
}

// brokerRead is one broker's snapshot for this tick, or why there is none.
type brokerRead struct {
	snap *queue.Snapshot
	err  error
	// fresh is the fresh read of the workloads at zero replicas
	// (readFresh), nil when there was none or it failed.
	fresh *queue.Snapshot
}

// readFresh makes the broker's one fresh read of the tick, after its main
// read, for the workloads that want one (observe.FreshScope: those at
// zero replicas), so that a burst wakes them within the tick whatever the
// broker's collect_statistics_interval. It runs in the broker's own read,
// so a slow broker delays only its own workloads; the source bounds it by
// the broker's timeout, ctx by the tick's deadline. A failure leaves the
// statistics figures. It is counted in rabbitscale_fresh_read_errors_total
// and logged once per change (logFresh): a fresh read that keeps failing
// (the AMQP port closed, a user without the vhost) only slows the wake
// down to the statistics interval, which nothing else would show.
func (c *Controller) readFresh(ctx context.Context, name string, r Snapshotter, snap *queue.Snapshot, ws []*parsedWorkload) *queue.Snapshot {
	fr, ok := r.(observe.FreshReader) // *queue.Reader; ErrFreshUnsupported without an amqpURL
	if !ok {
		return nil
	}
	wants := make([]observe.Workload, 0, len(ws))
	for _, p := range ws {
		wants = append(wants, p.observed())
	}
	start := c.clock.Now()
	fresh, err := observe.ReadFresh(ctx, fr, snap, wants...)
	took := c.clock.Since(start)
	switch {
	case errors.Is(err, queue.ErrFreshUnsupported):
		return nil
	case err == nil && fresh == nil:
		return nil // no workload at zero: nothing was read
	}
	c.observe.ObserveFreshRead(name, took, err)
	c.logFresh(ctx, name, err)
	if err != nil {
		return nil
	}
	klog.FromContext(ctx).V(4).Info("Fresh read", "broker", name, "queues", fresh.Len(), "duration", took)
	return fresh
}

// swapErr records err (nil: none) as broker's latest in m, one of the
// controller's maps of failing reads, and returns the one before: seen is
// false when the broker was not failing.
func (c *Controller) swapErr(m map[string]string, broker string, err error) (prev string, seen bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, seen = m[broker]
	if err != nil {
		m[broker] = err.Error()
	} else {
		delete(m, broker)
	}
	return prev, seen
}

// logFresh logs a broker's fresh read failing, and working again, once per
// change, as logBroker does for its main read.
func (c *Controller) logFresh(ctx context.Context, broker string, err error) {
	prev, seen := c.swapErr(c.freshErr, broker, err)
	logger := klog.FromContext(ctx)
	switch {
	case err != nil && (!seen || err.Error() != prev):
		logger.Info("Fresh read failed; workloads at zero wake on the statistics figures", "broker", broker, "err", err)
	case err == nil && seen:
		logger.Info("Fresh read works again", "broker", broker)
	}
}

// observed is what package observe needs of p.
func (p *parsedWorkload) observed() observe.Workload {
	return observe.Workload{Replicas: p.Replicas, Queue: p.spec.Queue}
}

// brokerResult is a broker's read with the workloads that wait for it.
type brokerResult struct {
	brokerRead
	name      string
	workloads []*parsedWorkload
	took      time.Duration
}

// readBrokers reads every broker that a workload names, once, all
// concurrently, and sends each broker's result as soon as it is there,
// with its fresh read (readFresh) when some of its workloads are at zero. A
// read that outlives ctx (the tick's deadline) fails with the source's own
// error (a *queue.BrokerError wrapping ErrBrokerUnavailable, which names the
// broker), so events and logs read the same whatever cut the read short.
// The channel is closed once every broker has answered.
func (c *Controller) readBrokers(ctx context.Context, ps []parsedWorkload) <-chan brokerResult {
	groups := map[string]*brokerResult{}
	scopes := map[string]*queue.Scope{}
	var order []string
	for i := range ps {
		p := &ps[i]
		g := groups[p.spec.Broker]
		if g == nil {
			g = &brokerResult{name: p.spec.Broker}
			groups[p.spec.Broker] = g
			scopes[p.spec.Broker] = &queue.Scope{}
			order = append(order, p.spec.Broker)
		}
		g.workloads = append(g.workloads, p)
		observe.Include(scopes[p.spec.Broker], p.spec.Queue)
	}
	out := make(chan brokerResult, len(groups))
	var wg sync.WaitGroup
	for _, name := range order {
		g, scope := groups[name], scopes[name]
		r, ok := c.brokers[name]
		if !ok {
			g.err = fmt.Errorf("%w: %q is not in the controller's broker configuration", queue.ErrUnknownBroker, name)
			c.observe.ObserveError(metrics.ErrorKindQueue)
			out <- *g
			continue
		}
		wg.Go(func() {
			start := c.clock.Now()
			g.snap, g.err = r.Snapshot(ctx, *scope)
			g.took = c.clock.Since(start)
			c.observe.ObserveBrokerRequest(name, g.took, g.err)
			if g.err != nil {
				c.observe.ObserveError(metrics.ErrorKindBroker)
			} else {
				g.fresh = c.readFresh(ctx, name, r, g.snap, g.workloads)
			}
			out <- *g
		})
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

// logBroker logs a broker's failure, and its recovery, once per change of
// state at the default level; the events and metrics say the rest.
func (c *Controller) logBroker(ctx context.Context, br brokerResult) {
	logger := klog.FromContext(ctx)
	prev, seen := c.swapErr(c.brokerErr, br.name, br.err)
	switch {
	case br.err != nil:
		if !seen || br.err.Error() != prev {
			logger.Error(br.err, "Broker read failed; its workloads hold", "broker", br.name, "workloads", len(br.workloads))
		}
	case seen:
		logger.Info("Broker read again", "broker", br.name, "workloads", len(br.workloads), "duration", br.took)
	}
}

// conflictingHPA returns the name of an HPA (KEDA's ScaledObjects create
// one too) that targets w, or "".
func (c *Controller) conflictingHPA(w *workload) string {
	hpas, err := c.in(w.Namespace).hpas.HorizontalPodAutoscalers(w.Namespace).List(labels.Everything())
	if err != nil {
		return ""
	}
	for _, h := range hpas {
		if targets(h, w) {
			return h.Name
		}
	}
	return ""
}

func targets(h *autoscalingv2.HorizontalPodAutoscaler, w *workload) bool {
	ref := h.Spec.ScaleTargetRef
	return ref.Kind == string(w.Kind) && ref.Name == w.Name
}
