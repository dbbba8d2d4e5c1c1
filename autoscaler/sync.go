package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"github.com/rabbitscale/rabbitscale/observe"
	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// inputs are what one workload's decision is made from, besides its spec
// and the controller's memory of it: this tick's read of its broker and of
// its pods' CPU.
type inputs struct {
	broker brokerRead
	cpu    cpuRead
	now    time.Time
	// writes is the tick's budget of annotation writes that no change of
	// replicas caused; nil is unlimited.
	writes *writeBudget
}

// writeBudget counts a tick's annotation writes that no change of replicas
// caused (Config.AnnotationWritesPerTick).
type writeBudget struct {
	left     int
	deferred int
}

// newWriteBudget returns a budget of n writes; nil (no bound) when n <= 0.
func newWriteBudget(n int) *writeBudget {
	if n <= 0 {
		return nil
	}
	return &writeBudget{left: n}
}

// take spends one write, or records one deferred and reports false.
func (b *writeBudget) take() bool {
	switch {
	case b == nil:
		return true
	case b.left > 0:
		b.left--
		return true
	}
	b.deferred++
	return false
}

// problem is a reason the queue signal is unavailable, for the report.
type problem struct {
	reason string
	err    error
	// lookup is true when the broker answered and the workload's queues
	// were not in its answer (a broker failure is counted when read).
	lookup bool
}

// outcome is what one workload's sync saw and did. The report step turns
// it into warnings, events and metrics; nothing before it tells anyone.
type outcome struct {
	at       time.Time // when it was decided
	obs      policy.Observation
	decision policy.Decision
	// queueProblem is nil when the queues read fine.
	queueProblem *problem
	// cpuErr is why CPU is unavailable, for a workload that asks for it.
	cpuErr error
	// stateErr is why the stored state could not be read.
	stateErr error
	// applied is true when a scale was sent, applyTook how long it took,
	// scaled whether it changed the replicas, scaleErr why not.
	applied   bool
	applyTook time.Duration
	scaled    bool
	scaleErr  error
	// persistErr is why the annotations could not be written.
	persistErr error
}

// sync decides for the one workload that key names ("Deployment/ns/name"
// or "StatefulSet/ns/name") and applies the decision, as a tick would, but
// with reads of its broker and CPU for it alone. It is the per-workload
// entry point (sample-controller's syncHandler): a test calls it with a
// fake clientset and a fake clock and checks the API actions it took. A
// workload that is gone, or not annotated, is not an error.
func (c *Controller) sync(ctx context.Context, key string) (policy.Decision, error) {
	w, err := c.get(key)
	if apierrors.IsNotFound(err) || err == nil && !policy.Managed(w.Annotations) {
		return policy.Decision{}, nil
	}
	if err != nil {
		return policy.Decision{}, err
	}
	c.takeBrokers()
	p, sk := c.parse(&w)
	if sk != nil {
		c.reportSkipped(&w, sk)
		return policy.Decision{}, nil
	}
	gctx, cancel := context.WithTimeout(ctx, c.interval)
	defer cancel()
	ps := []parsedWorkload{p}
	cpu := c.readCPU(gctx, ps, c.clock.Now())
	var br brokerResult
	for r := range c.readBrokers(gctx, ps) {
		br = r
	}
	c.logBroker(ctx, br)
	d, _, err := c.syncWorkload(ctx, &ps[0], inputs{broker: br.brokerRead, cpu: cpu[p.key()], now: c.clock.Now()})
	return d, err
}

// get reads a workload from the informers' caches by its key.
func (c *Controller) get(key string) (workload, error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return workload{}, fmt.Errorf("workload key %q: want kind/namespace/name", key)
	}
	ns, name := parts[1], parts[2]
	l := c.in(ns)
	if l == nil {
		return workload{}, apierrors.NewNotFound(appsv1.Resource(strings.ToLower(parts[0])+"s"), name) // a namespace not watched
	}
	switch Kind(parts[0]) {
	case KindDeployment:
		d, err := l.deploys.Deployments(ns).Get(name)
		if err != nil {
			return workload{}, err
		}
		return fromDeployment(d), nil
	case KindStatefulSet:
		s, err := l.sets.StatefulSets(ns).Get(name)
		if err != nil {
			return workload{}, err
		}
		return fromStatefulSet(s), nil
	}
	return workload{}, fmt.Errorf("workload key %q: kind %q is neither %s nor %s", key, parts[0], KindDeployment, KindStatefulSet)
}

// syncWorkload decides for one workload from this tick's inputs, applies
// the decision and reports it. It says whether the replicas were changed.
func (c *Controller) syncWorkload(ctx context.Context, p *parsedWorkload, in inputs) (policy.Decision, bool, error) {
	out, err := c.decideAndApply(ctx, p, in)
	c.report(p, out)
	return out.decision, out.scaled, err
}

// decideAndApply observes, decides, scales and writes the annotations,
// asking Config.Leader before each write. It tells nobody: what it saw and
// did is in the outcome.
func (c *Controller) decideAndApply(ctx context.Context, p *parsedWorkload, in inputs) (outcome, error) {
	logger := klog.FromContext(ctx).WithValues("workload", klog.KRef(p.Namespace, p.Name), "kind", p.Kind)
	var out outcome
	mem, err := c.remember(p.workload, in.now)
	out.stateErr = err
	out.obs, out.queueProblem, out.cpuErr = observation(p, in)
	d, next := policy.Decide(p.spec, out.obs, mem.state, in.now)
	out.decision, out.at = d, in.now

	rv := p.ResourceVersion
	if d.Apply {
		if err := c.leading(); err != nil {
			return out, err
		}
		if d.Desired < d.Current {
			c.markIdleFirst(ctx, p)
		}
		start := c.clock.Now()
		newRV, err := c.scale(ctx, p.workload, d)
		out.applied, out.applyTook = true, c.clock.Since(start)
		switch {
		case errors.Is(err, ErrReplicasChanged):
			// Keep the old state: the change did not happen.
			logger.V(2).Info("Skipping a stale decision", "err", err)
			return out, nil
		case err != nil:
			out.scaleErr = err
			return out, err
		}
		out.scaled, rv = true, newRV
	}

	mem.state = next
	state, err := policy.EncodeState(next)
	if err != nil {
		return out, err
	}
	durable, err := policy.EncodeState(next.Durable())
	if err != nil {
		return out, err
	}
	news := written{durable: durable, summary: d.Summary()}
	refresh := mem.refreshDue(in.now, c.syncEach)
	if !writeDue(annotationCheck{
		scaled: out.scaled, state: state, persisted: mem.persisted, news: news, written: mem.written,
		sinceWrite: in.now.Sub(mem.syncedAt), refreshDue: refresh, rewriteAfter: min(minRewrite, c.syncEach),
	}) {
		if refresh {
			mem.syncedAt = in.now // nothing new to tell: the refresh is done
		}
		return out, nil
	}
	if !out.scaled && !in.writes.take() {
		return out, nil // still due: a later tick writes it
	}
	if err := c.leading(); err != nil {
		return out, err
	}
	wrote, err := c.persist(ctx, p.workload, mem.persisted, state, d, rv)
	switch {
	case errors.Is(err, ErrStateChanged):
		// Someone else (another leader) wrote this workload's state:
		// forget ours and read theirs on the next tick.
		c.dropMemory(p.UID)
		logger.Info("State written by someone else; reading it again")
		return out, nil
	case err != nil:
		out.persistErr = err
		return out, err
	case wrote:
		mem.persisted, mem.written, mem.syncedAt = state, news, in.now
	}
	return out, nil
}

// observation is the engine's view of p from this tick's reads, with the
// problems that made part of it unavailable. Anything missing makes its
// signal unavailable, which the engine never answers with a scale-down.
func observation(p *parsedWorkload, in inputs) (policy.Observation, *problem, error) {
	obs := policy.Observation{Replicas: p.Replicas}
	var qp *problem
	if in.broker.err != nil {
		qp = &problem{reason: ReasonBrokerUnavailable, err: in.broker.err}
	} else {
		q, err := observe.QueueFresh(in.broker.snap, in.broker.fresh, p.observed())
		if err != nil {
			reason := ReasonQueueUnavailable
			if errors.Is(err, queue.ErrQueueNotFound) {
				reason = ReasonQueueNotFound
			}
			qp = &problem{reason: reason, err: err, lookup: true}
		}
		obs.Queue = q
	}
	var cpuErr error
	if p.spec.TargetCPUUtilization > 0 {
		if cpuErr = in.cpu.err; cpuErr == nil {
			obs.CPU = in.cpu.obs
		}
	}
	return obs, qp, cpuErr
}

// deferredCount is how many writes the budget deferred (0 for none).
func (b *writeBudget) deferredCount() int {
	if b == nil {
		return 0
	}
	return b.deferred
}
