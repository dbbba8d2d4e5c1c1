package autoscaler

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// Snapshotter reads one broker: one call per tick for every workload on it.
// *queue.Reader implements it.
type Snapshotter interface {
	Snapshot(ctx context.Context, scope queue.Scope) (*queue.Snapshot, error)
}

// DefaultStateSyncPeriod is the default Config.StateSyncPeriod.
const DefaultStateSyncPeriod = 5 * time.Minute

// minRewrite spaces the writes of a workload's annotations that no replica
// change caused: a decision hovering at a tolerance boundary changes its
// gist on every tick, and must not cost a patch on every tick.
const minRewrite = 30 * time.Second

// Config is what New needs. Brokers maps the names workloads use in
// rabbitscale.io/broker to their readers.
type Config struct {
	Kube     kubernetes.Interface
	Brokers  map[string]Snapshotter
	Recorder record.EventRecorder
	Clock    clock.WithTicker
	// Interval is the time between ticks.
	Interval time.Duration
	// DryRun decides and reports for every workload but changes nothing.
	DryRun bool
	// StateSyncPeriod is how often a workload's annotations are rewritten
	// only to refresh their figures (DefaultStateSyncPeriod when 0). A
	// change of replicas, of the decision's Summary or of the state's
	// Durable part writes them at once.
	StateSyncPeriod time.Duration
	// Metrics reads metrics.k8s.io for the workloads that enable the CPU
	// signal. Nil makes CPU unavailable: such workloads get a warning and
	// their CPU signal holds.
	Metrics PodMetricsLister
	// PodInformers, when set, provides the pod informer instead of the
	// factory given to New. Use it when the workload factory is limited
	// by a label selector that the pods do not carry.
	PodInformers informers.SharedInformerFactory
	// CPUInitializationPeriod and InitialReadinessDelay are the HPA's
	// periods for distrusting a young pod's CPU sample (defaults
	// DefaultCPUInitializationPeriod and DefaultInitialReadinessDelay).
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
	// Observer receives what every tick saw and did, for the Prometheus
	// metrics; nil observes nothing.
	Observer Observer
	// Leader, when set, is asked before every write to the API server. An
	// error (wrapping ErrNotLeader) stops the tick before the write, and
	// Run returns it: a leader that lost its lease, or cannot know that it
	// still holds it, writes nothing more. Nil means always leading.
	Leader func() error
	// FieldManager names the controller in the managedFields of what it
	// writes (default "rabbitscale"); `rabbitscale run` adds its
	// leader-election identity, so that `kubectl get -o yaml
	// --show-managed-fields` tells which replica wrote.
	FieldManager string
}

// ErrNotLeader says that the process may not write: it lost its lease, or
// has not renewed it within the renew deadline (a pause, a partition).
var ErrNotLeader = errors.New("not the leader")

// Observer is what the controller reports to its metrics.
// *metrics.Controller implements it, and a nil one ignores every call.
type Observer interface {
	ObserveWorkload(kind, namespace, name, broker, queueSel string, obs policy.Observation, d policy.Decision, spec policy.Spec)
	ObserveScale(kind, namespace, name, direction string, drivenBy policy.Driver)
	ObserveError(kind string)
	ObserveTick(d time.Duration, end time.Time)
	ObserveBrokerRequest(broker string, d time.Duration, err error)
	ObserveApply(d time.Duration)
	ForgetWorkload(kind, namespace, name string)
}

// Controller scales annotated Deployments and StatefulSets. All work
// happens in Tick, called by Run on a single ticker: no goroutine per
// workload.
type Controller struct {
	kube     kubernetes.Interface
	brokers  map[string]Snapshotter
	recorder record.EventRecorder
	clock    clock.WithTicker
	interval time.Duration
	dryRun   bool
	syncEach time.Duration

	metrics        PodMetricsLister
	observe        Observer
	observed       map[string]*workload // workloads with series, by key
	cpuInitPeriod  time.Duration
	readinessDelay time.Duration

	deploys appslisters.DeploymentLister
	sets    appslisters.StatefulSetLister
	hpas    autoscalinglisters.HorizontalPodAutoscalerLister
	pods    corelisters.PodLister
	synced  []cache.InformerSynced

	leader       func() error
	fieldManager string

	mu        sync.Mutex        // guards states and the warnings; Tick is not reentrant anyway
	brokerErr map[string]string // broker -> its last read's error, while it fails
	states    map[types.UID]*memory
	warned    map[string]string // workload key -> last warning reason+message
	cpuWarned map[string]string // workload key -> last CPUMetricsUnavailable message
}

// memory is what the controller keeps of a workload between ticks.
type memory struct {
	state     policy.State
	persisted string    // the state annotation as last written or read
	written   written   // what the annotations said when last written or read
	syncedAt  time.Time // when the annotations were last written or read
	// phase places this workload's refreshes within the period, so that
	// workloads seen in the same tick (all of them, after a start) are not
	// refreshed in one burst.
	phase time.Duration
}

// refreshDue reports whether a refresh of m's annotations is due at now:
// once in every period, at the workload's phase.
func (m *memory) refreshDue(now time.Time, period time.Duration) bool {
	if period <= 0 {
		return true
	}
	slot := func(t time.Time) int64 { return (t.UnixNano() + int64(m.phase)) / int64(period) }
	return slot(now) != slot(m.syncedAt)
}

// New builds a controller on the given informer factory, registering the
// Deployment, StatefulSet, HPA and pod informers it needs (the pod informer
// on cfg.PodInformers when set). Start the factories after New.
func New(cfg Config, factory informers.SharedInformerFactory) (*Controller, error) {
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("tick interval must be positive, got %s", cfg.Interval)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.StateSyncPeriod <= 0 {
		cfg.StateSyncPeriod = DefaultStateSyncPeriod
	}
	if cfg.CPUInitializationPeriod <= 0 {
		cfg.CPUInitializationPeriod = DefaultCPUInitializationPeriod
	}
	if cfg.InitialReadinessDelay <= 0 {
		cfg.InitialReadinessDelay = DefaultInitialReadinessDelay
	}
	if cfg.Observer == nil {
		cfg.Observer = (*metrics.Controller)(nil)
	}
	podFactory := cfg.PodInformers
	if podFactory == nil {
		podFactory = factory
	}
	d := factory.Apps().V1().Deployments()
	s := factory.Apps().V1().StatefulSets()
	h := factory.Autoscaling().V2().HorizontalPodAutoscalers()
	for _, inf := range []cache.SharedIndexInformer{d.Informer(), s.Informer()} {
		if err := inf.SetTransform(StripWorkload); err != nil {
			return nil, fmt.Errorf("setting the informer transform: %w", err)
		}
	}
	p := podFactory.Core().V1().Pods()
	if err := p.Informer().SetTransform(StripPod); err != nil {
		return nil, fmt.Errorf("setting the pod informer transform: %w", err)
	}
	return &Controller{
		kube: cfg.Kube, brokers: cfg.Brokers, recorder: cfg.Recorder, clock: cfg.Clock,
		interval: cfg.Interval, dryRun: cfg.DryRun, syncEach: cfg.StateSyncPeriod,
		metrics: cfg.Metrics, observe: cfg.Observer, observed: map[string]*workload{}, cpuInitPeriod: cfg.CPUInitializationPeriod, readinessDelay: cfg.InitialReadinessDelay,
		deploys: d.Lister(), sets: s.Lister(), hpas: h.Lister(), pods: p.Lister(),
		synced: []cache.InformerSynced{d.Informer().HasSynced, s.Informer().HasSynced, h.Informer().HasSynced, p.Informer().HasSynced},
		states: map[types.UID]*memory{}, warned: map[string]string{}, cpuWarned: map[string]string{},
		brokerErr: map[string]string{}, leader: cfg.Leader, fieldManager: cmp.Or(cfg.FieldManager, "rabbitscale"),
	}, nil
}

// Run waits for the informers' caches, then ticks every Interval until ctx
// ends. The first tick runs at once.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return errors.New("informer caches did not sync")
	}
	logger.Info("Starting ticks", "interval", c.interval, "dryRun", c.dryRun)
	t := c.clock.NewTicker(c.interval)
	defer t.Stop()
	for {
		res := c.Tick(ctx)
		logger.V(4).Info("Tick done", "workloads", res.Workloads, "changed", res.Changed, "errors", res.Errors, "duration", res.Duration)
		if res.NotLeader {
			logger.Info("Stopping ticks: not the leader")
			return ErrNotLeader
		}
		select {
		case <-ctx.Done():
			logger.Info("Stopping ticks")
			return nil
		case <-t.C():
		}
	}
}

// TickResult sums up one tick.
type TickResult struct {
	Workloads int
	// Decisions holds the decision for each workload key that was decided.
	Decisions map[string]policy.Decision
	Changed   int
	Errors    int
	Duration  time.Duration
	// NotLeader says that the tick stopped because Config.Leader said the
	// process may no longer write.
	NotLeader bool
}

// leading asks Config.Leader whether a write may go out now.
func (c *Controller) leading() error {
	if c.leader == nil {
		return nil
	}
	if err := c.leader(); err != nil {
		if errors.Is(err, ErrNotLeader) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return nil
}

// Tick reads each broker once, decides for every annotated workload and
// applies the changes. It runs in three steps:
//
//   - gather: the brokers are read concurrently, each under a deadline of
//     the tick interval (a source bounds its own read by the broker's
//     timeout), while CPU is read from metrics.k8s.io;
//   - decide and apply: the workloads of each broker are synced as soon as
//     that broker has answered (or missed its deadline), one broker after
//     another in the order their reads complete, so that a slow or broken
//     broker delays only its own workloads;
//   - report: warnings and metrics, within each workload's sync.
//
// A Tick that finds it is no longer the leader (Config.Leader) stops before
// its next write and says so in TickResult.NotLeader.
func (c *Controller) Tick(ctx context.Context) TickResult {
	start := c.clock.Now()
	logger := klog.FromContext(ctx)
	res := TickResult{Decisions: map[string]policy.Decision{}}
	ws, err := listWorkloads(c.deploys, c.sets)
	if err != nil {
		logger.Error(err, "Listing workloads")
		c.observe.ObserveError(metrics.ErrorKindOther)
		res.Errors++
		return res
	}
	res.Workloads = len(ws)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(ws)

	// Parse first, so that one snapshot per broker covers everyone.
	parsed := make([]parsedWorkload, 0, len(ws))
	for i := range ws {
		w := &ws[i]
		spec, err := policy.ParseSpec(w.Annotations)
		if err != nil {
			c.warn(w, ReasonInvalidAnnotations, "invalid annotations: %s", oneLine(err))
			c.observe.ObserveError(metrics.ErrorKindSpec)
			res.Errors++
			continue
		}
		if c.dryRun {
			// Through the spec, so that the engine itself reports what it
			// would do and keeps the state of a workload left alone.
			spec.DryRun = true
		}
		if hpa := c.conflictingHPA(w); hpa != "" {
			c.warn(w, ReasonConflictingAutoscaler, "HorizontalPodAutoscaler %s targets this %s; rabbitscale leaves it alone", hpa, w.Kind)
			continue
		}
		parsed = append(parsed, parsedWorkload{workload: w, spec: spec})
	}
	c.forgetSeries(parsed)

	// Gather. CPU is read while the brokers are.
	gctx, cancel := context.WithTimeout(ctx, c.interval)
	defer cancel()
	cpuc := make(chan map[string]cpuRead, 1)
	go func() { cpuc <- c.readCPU(gctx, parsed, c.clock.Now()) }()
	reads := c.readBrokers(gctx, parsed)
	cpu := <-cpuc

	// Decide and apply, a broker's workloads as soon as it has answered.
	for br := range reads {
		c.logBroker(ctx, br)
		now := c.clock.Now()
		for _, p := range br.workloads {
			if res.NotLeader {
				break
			}
			d, changed, err := c.sync(ctx, p, br.brokerRead, cpu, now)
			switch {
			case errors.Is(err, ErrNotLeader):
				logger.Info("Not the leader any more: stopping before the next write", "err", err)
				res.NotLeader = true
				continue
			case err != nil:
				logger.Error(err, "Syncing workload", "workload", klog.KRef(p.Namespace, p.Name), "kind", p.Kind)
				res.Errors++
			}
			res.Decisions[p.key()] = d
			if changed {
				res.Changed++
			}
		}
	}
	res.Duration = c.clock.Since(start)
	c.observe.ObserveTick(res.Duration, c.clock.Now())
	return res
}

// forgetSeries drops the metric series of workloads that are gone or no
// longer parse, so that dashboards do not show them frozen.
func (c *Controller) forgetSeries(live []parsedWorkload) {
	keep := make(map[string]bool, len(live))
	for _, p := range live {
		keep[p.key()] = true
		c.observed[p.key()] = p.workload
	}
	for k, w := range c.observed {
		if !keep[k] {
			c.observe.ForgetWorkload(string(w.Kind), w.Namespace, w.Name)
			delete(c.observed, k)
		}
	}
}

type parsedWorkload struct {
	*workload
	spec policy.Spec
}

// brokerRead is one broker's snapshot for this tick, or why there is none.
type brokerRead struct {
	snap *queue.Snapshot
	err  error
}

// brokerResult is a broker's read with the workloads that wait for it.
type brokerResult struct {
	brokerRead
	name      string
	workloads []*parsedWorkload
	took      time.Duration
}

// readBrokers reads every broker that a workload names, once, all
// concurrently, and sends each broker's result as soon as it is there. A
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
		sc := scopes[p.spec.Broker]
		if p.spec.QueuePattern != nil {
			sc.Vhosts = append(sc.Vhosts, p.spec.VHost)
		} else {
			sc.Add(p.spec.VHost, p.spec.Queues...)
		}
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
	prev, seen := c.brokerErr[br.name]
	switch {
	case br.err != nil:
		if msg := br.err.Error(); !seen || msg != prev {
			logger.Error(br.err, "Broker read failed; its workloads hold", "broker", br.name, "workloads", len(br.workloads))
			c.brokerErr[br.name] = msg
		}
	case seen:
		logger.Info("Broker read again", "broker", br.name, "workloads", len(br.workloads), "duration", br.took)
		delete(c.brokerErr, br.name)
	}
}

// sync decides for one workload and applies the decision. It reports
// whether the replicas were changed.
func (c *Controller) sync(ctx context.Context, p *parsedWorkload, br brokerRead, cpu map[string]cpuRead, now time.Time) (policy.Decision, bool, error) {
	mem, err := c.remember(p.workload, now)
	if err != nil {
		c.warn(p.workload, ReasonInvalidAnnotations, "%v; starting from an empty state", err)
	}
	obs := policy.Observation{Replicas: p.Replicas, Queue: c.observeQueue(p, br), CPU: c.observeCPU(p, cpu)}
	d, next := policy.Decide(p.spec, obs, mem.state, now)
	c.observe.ObserveWorkload(string(p.Kind), p.Namespace, p.Name, p.spec.Broker, metrics.QueueLabel(p.spec), obs, d, p.spec)

	changed, rv := false, p.ResourceVersion
	if d.Apply {
		if err := c.leading(); err != nil {
			return d, false, err
		}
		if d.Desired < d.Current {
			c.markIdleFirst(ctx, p)
		}
		start := c.clock.Now()
		newRV, err := c.scale(ctx, p.workload, d)
		c.observe.ObserveApply(c.clock.Since(start))
		if err != nil {
			// Keep the old state: the change did not happen.
			if errors.Is(err, ErrReplicasChanged) {
				klog.FromContext(ctx).V(2).Info("Skipping a stale decision", "workload", klog.KRef(p.Namespace, p.Name), "kind", p.Kind, "err", err)
				return d, false, nil
			}
			c.warn(p.workload, ReasonScaleFailed, "scaling %d -> %d failed: %v", d.Current, d.Desired, err)
			c.observe.ObserveError(metrics.ErrorKindApply)
			return d, false, err
		}
		changed = true
		rv = newRV
		c.observe.ObserveScale(string(p.Kind), p.Namespace, p.Name, metrics.Direction(d.Current, d.Desired), d.DrivenBy)
		c.recorder.Eventf(p.obj, corev1.EventTypeNormal, ReasonRescaled, "%s", d.Reason)
	}
	// Write the annotations when a person or a resumed controller would
	// notice: a change of replicas at once; a new gist of the decision or a
	// change of the durable state, at most every minRewrite; otherwise only
	// every syncEach to refresh their figures. A busy workload's state
	// changes on every tick (its window, its last arrival), which is no
	// reason to write it.
	mem.state = next
	durable, err := policy.EncodeState(next.Durable())
	if err != nil {
		return d, changed, err
	}
	w := written{durable: durable, summary: d.Summary()}
	if changed || mem.refreshDue(now, c.syncEach) || w != mem.written && now.Sub(mem.syncedAt) >= min(minRewrite, c.syncEach) {
		if err := c.leading(); err != nil {
			return d, changed, err
		}
		if err := c.persist(ctx, p.workload, mem, d, w, changed, rv, now); err != nil {
			if errors.Is(err, ErrStateChanged) {
				// Someone else (another leader) wrote this workload's
				// state: forget ours and read theirs on the next tick.
				delete(c.states, p.UID)
				klog.FromContext(ctx).Info("State written by someone else; reading it again", "workload", klog.KRef(p.Namespace, p.Name), "kind", p.Kind)
				return d, changed, nil
			}
			c.observe.ObserveError(metrics.ErrorKindState)
			return d, changed, err
		}
	}
	return d, changed, nil
}

// observeQueue turns the broker's snapshot into the policy's view of the
// workload's queues. Anything missing makes the queue unavailable, which
// the policy never answers with a scale-down.
func (c *Controller) observeQueue(p *parsedWorkload, br brokerRead) policy.QueueObservation {
	if br.err != nil {
		c.warn(p.workload, ReasonBrokerUnavailable, "%s", oneLine(br.err))
		return policy.QueueObservation{}
	}
	var t queue.Totals
	var err error
	if p.spec.QueuePattern != nil {
		t, err = br.snap.Match(p.spec.VHost, p.spec.QueuePattern)
	} else {
		t, err = br.snap.Lookup(p.spec.VHost, p.spec.Queues...)
	}
	if err != nil {
		reason := ReasonQueueUnavailable
		if errors.Is(err, queue.ErrQueueNotFound) {
			reason = ReasonQueueNotFound
		}
		c.warn(p.workload, reason, "%v", oneLine(err))
		c.observe.ObserveError(metrics.ErrorKindQueue)
		return policy.QueueObservation{}
	}
	c.clearWarning(p.workload)
	return policy.QueueObservation{
		Available:      true,
		Ready:          t.Ready,
		Unacked:        t.Unacked,
		Consumers:      t.Consumers,
		RatesAvailable: t.Rates.Available,
		PublishRate:    t.Rates.Publish,
		DeliverRate:    t.Rates.Deliver,
		AckRate:        t.Rates.Ack,
		RateSpan:       t.Rates.Span,
	}
}

// remember returns the controller's memory of w, reading the state
// annotation the first time it sees w (after a restart or a failover).
func (c *Controller) remember(w *workload, now time.Time) (*memory, error) {
	if m, ok := c.states[w.UID]; ok {
		return m, nil
	}
	raw := w.Annotations[policy.StateAnnotation]
	m := &memory{persisted: raw, syncedAt: now, phase: syncPhase(w.UID, c.syncEach)}
	c.states[w.UID] = m
	if d, err := policy.DecodeDecision(w.Annotations[policy.DecisionAnnotation]); err == nil && d.Reason != "" {
		m.written.summary = d.Summary()
	} else {
		m.syncedAt = time.Time{} // nothing written yet: the first decision is news at once
	}
	st, err := policy.DecodeState(raw)
	if err != nil {
		return m, err
	}
	if m.written.durable, err = policy.EncodeState(st.Durable()); err != nil {
		return m, err
	}
	// Stored state may lag the last decisions: hold the current replicas
	// for a window before any scale-down.
	m.state = st.Resumed(now, w.Replicas)
	return m, nil
}

// syncPhase spreads workloads over the refresh period by their UID.
func syncPhase(uid types.UID, period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	h := sha256.Sum256([]byte(uid))
	return time.Duration(binary.BigEndian.Uint64(h[:8]) % uint64(period))
}

// forget drops the memory of workloads that are gone.
func (c *Controller) forget(ws []workload) {
	if len(c.states) <= len(ws) && len(c.warned) <= len(ws) && len(c.cpuWarned) <= len(ws) {
		return
	}
	live := make(map[types.UID]bool, len(ws))
	keys := make(map[string]bool, len(ws))
	for _, w := range ws {
		live[w.UID] = true
		keys[w.key()] = true
	}
	for uid := range c.states {
		if !live[uid] {
			delete(c.states, uid)
		}
	}
	for k := range c.warned {
		if !keys[k] {
			delete(c.warned, k)
		}
	}
	for k := range c.cpuWarned {
		if !keys[k] {
			delete(c.cpuWarned, k)
		}
	}
}

// conflictingHPA returns the name of an HPA (KEDA's ScaledObjects create
// one too) that targets w, or "".
func (c *Controller) conflictingHPA(w *workload) string {
	hpas, err := c.hpas.HorizontalPodAutoscalers(w.Namespace).List(labels.Everything())
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
