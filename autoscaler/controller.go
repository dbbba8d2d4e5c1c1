package autoscaler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// DefaultWarningRepeatPeriod is the default Config.WarningRepeatPeriod:
// well within the API server's default event TTL of one hour, so that a
// problem that lasts keeps an event in `kubectl describe`.
const DefaultWarningRepeatPeriod = 10 * time.Minute

// minRewrite spaces the writes of a workload's annotations that no replica
// change caused: a decision hovering at a tolerance boundary changes its
// gist on every tick, and must not cost a patch on every tick.
const minRewrite = 30 * time.Second

// Config is what New needs. Brokers maps the names workloads use in
// rabbitscale.io/broker to their readers.
type Config struct {
	Kube    kubernetes.Interface
	Brokers map[string]Snapshotter
	// Allowed, when set, says whether a workload in namespace ns may read
	// vhost on a broker (*queue.Brokers.Allowed: the brokers' allow
	// lists). A workload it refuses is not read at all: it holds, with a
	// BrokerNotAllowed warning. Nil allows everything.
	Allowed Allowed
	// Namespaces gives the namespaces' labels, which Allowed matches
	// against the brokers' allow.namespaceSelector: a metadata-only
	// Namespace lister (`rabbitscale run` watching every namespace). Nil
	// means the labels are unknown, and no selector matches (a controller
	// watching only some namespaces has no right to read them).
	Namespaces NamespaceGetter
	// BrokerSet, when set, replaces Brokers and Allowed with a set that
	// may change while the controller runs (a reloaded configuration
	// file): each tick takes the current set once, at its start.
	BrokerSet BrokerSet
	Recorder  record.EventRecorder
	Clock     clock.WithTicker
	// Interval is the time between ticks.
	Interval time.Duration
	// DryRun decides and reports for every workload but changes nothing.
	DryRun bool
	// SkipIdleFirst turns idle-first scale-down off: the controller never
	// writes pods (their deletion cost), so its RBAC needs no pod patch,
	// and a scale-down removes whichever pods the ReplicaSet picks, busy
	// or not.
	SkipIdleFirst bool
	// StateSyncPeriod is how often a workload's annotations are rewritten
	// only to refresh their figures (DefaultStateSyncPeriod when 0). A
	// change of replicas, of the decision's Summary or of the state's
	// Durable part writes them at once.
	StateSyncPeriod time.Duration
	// WarningRepeatPeriod is how often a Warning event that still holds
	// (the same reason and message) is recorded again
	// (DefaultWarningRepeatPeriod when 0). A changed warning is recorded at
	// once.
	WarningRepeatPeriod time.Duration
	// AnnotationWritesPerTick bounds the annotation writes per tick that
	// no change of replicas caused (first decisions, news, refreshes), so
	// that a fleet whose decisions all change at once (a first start, a
	// broker outage and its end) spends the API client's rate on scaling,
	// not on writing them. The rest wait for later ticks. 0 means no bound;
	// `rabbitscale run` passes AnnotationWriteBudget.
	AnnotationWritesPerTick int
	// PodMetrics reads metrics.k8s.io for the workloads that enable the
	// CPU signal. Nil makes CPU unavailable: such workloads get a warning
	// and their CPU signal holds.
	PodMetrics PodMetricsLister
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

// AnnotationWriteBudget is the Config.AnnotationWritesPerTick that leaves
// three quarters of an API client's rate (qps requests per second) over
// one tick interval to scaling: a quarter of it, and at least one.
func AnnotationWriteBudget(qps float32, interval time.Duration) int {
	return max(1, int(float64(qps)*interval.Seconds()/4))
}

// BrokerSet gives the brokers as they are configured now, with their allow
// lists (Config.Allowed).
type BrokerSet interface {
	Current() (brokers map[string]Snapshotter, allowed Allowed)
}

// Allowed says whether a workload in namespace ns may read vhost on a
// broker: *queue.Brokers.Allowed, or queue.Access.Check for one broker.
type Allowed func(broker string, ns queue.Namespace, vhost string) error

// NamespaceGetter gets a namespace's metadata: client-go's metadata lister
// of namespaces (metadatalister.Lister) implements it.
type NamespaceGetter interface {
	Get(name string) (*metav1.PartialObjectMetadata, error)
}

// ErrNotLeader says that the process may not write: it lost its lease, or
// has not renewed it within the renew deadline (a pause, a partition).
var ErrNotLeader = errors.New("not the leader")

// Observer is what the controller reports to its metrics.
// *metrics.Collectors implements it, and a nil one ignores every call.
type Observer interface {
	ObserveWorkload(kind, namespace, name, broker, queueSel string, obs policy.Observation, d policy.Decision, spec policy.Spec)
	ObserveScale(kind, namespace, name, direction string, drivenBy policy.Driver)
	ObserveError(kind string)
	ObserveTick(d time.Duration, end time.Time)
	ObserveBrokerRequest(broker string, d time.Duration, err error)
	ObserveFreshRead(broker string, d time.Duration, err error)
	ObserveApply(d time.Duration)
	ObserveAnnotationsInvalid(kind, namespace, name string)
	ForgetWorkload(kind, namespace, name string)
}

// Controller scales annotated Deployments and StatefulSets. All work
// happens in Tick, called by Run on a single ticker: no goroutine per
// workload.
type Controller struct {
	kube     kubernetes.Interface
	brokers  map[string]Snapshotter
	allowed  Allowed
	set      BrokerSet // brokers and allowed come from it (takeBrokers)
	nsGetter NamespaceGetter
	recorder record.EventRecorder
	clock    clock.WithTicker
	interval time.Duration
	dryRun   bool
	noIdle   bool // SkipIdleFirst
	syncEach time.Duration
	writes   int           // AnnotationWritesPerTick
	rewarn   time.Duration // WarningRepeatPeriod

	podMetrics     PodMetricsLister
	observe        Observer
	observed       map[string]*workload // workloads with series (decided, or invalid annotations), by key
	cpuInitPeriod  time.Duration
	readinessDelay time.Duration

	scopes []*listers          // one per Informers given to New, in order
	byNS   map[string]*listers // by watched namespace; "" watches all
	synced []cache.InformerSynced

	leader       func() error
	fieldManager string

	// mu guards the maps below, never across a read or a write: a sync
	// holds a workload's *memory alone while it runs (syncs of one
	// workload never overlap).
	mu        sync.Mutex
	brokerErr map[string]string // broker -> its last read's error, while it fails
	freshErr  map[string]string // broker -> its last fresh read's error, while it fails
	states    map[types.UID]*memory
	warned    map[string]warning      // workload key -> last warning
	cpuWarned map[string]warning      // workload key -> last CPUMetricsUnavailable warning
	live      map[string]LiveDecision // workload key -> latest decision (Decisions)
}

// Informers are informer factories the controller reads from: either
// one set that watches every namespace (Namespace ""), or one per watched
// namespace, each factory limited to it (informers.WithNamespace).
type Informers struct {
	Namespace string
	// Workloads provides the Deployment, StatefulSet and HPA informers.
	Workloads informers.SharedInformerFactory
	// Pods provides the pod informer (Workloads when nil). Set it when
	// the workload factory is limited by a label selector that the pods
	// do not carry.
	Pods informers.SharedInformerFactory
}

// listers are the listers of one Informers.
type listers struct {
	deploys appslisters.DeploymentLister
	sets    appslisters.StatefulSetLister
	hpas    autoscalinglisters.HorizontalPodAutoscalerLister
	pods    corelisters.PodLister
}

// in returns the listers that watch namespace ns.
func (c *Controller) in(ns string) *listers {
	if l, ok := c.byNS[ns]; ok {
		return l
	}
	return c.byNS[metav1.NamespaceAll]
}

// New builds a controller on the given informer factories, registering the
// Deployment, StatefulSet, HPA and pod informers it needs on each. Start
// the factories after New.
func New(cfg Config, scopes ...Informers) (*Controller, error) {
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("tick interval must be positive, got %s", cfg.Interval)
	}
	if len(scopes) == 0 {
		return nil, errors.New("no informers to read workloads from")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.StateSyncPeriod <= 0 {
		cfg.StateSyncPeriod = DefaultStateSyncPeriod
	}
	if cfg.WarningRepeatPeriod <= 0 {
		cfg.WarningRepeatPeriod = DefaultWarningRepeatPeriod
	}
	if cfg.CPUInitializationPeriod <= 0 {
		cfg.CPUInitializationPeriod = DefaultCPUInitializationPeriod
	}
	if cfg.InitialReadinessDelay <= 0 {
		cfg.InitialReadinessDelay = DefaultInitialReadinessDelay
	}
	if cfg.Observer == nil {
		cfg.Observer = (*metrics.Collectors)(nil)
	}
	if cfg.BrokerSet == nil {
		cfg.BrokerSet = staticBrokers{cfg.Brokers, cfg.Allowed}
	}
	c := &Controller{
		kube: cfg.Kube, brokers: cfg.Brokers, allowed: cfg.Allowed, set: cfg.BrokerSet, nsGetter: cfg.Namespaces, recorder: cfg.Recorder, clock: cfg.Clock,
		interval: cfg.Interval, dryRun: cfg.DryRun, noIdle: cfg.SkipIdleFirst, syncEach: cfg.StateSyncPeriod, writes: cfg.AnnotationWritesPerTick, rewarn: cfg.WarningRepeatPeriod,
		podMetrics: cfg.PodMetrics, observe: cfg.Observer, observed: map[string]*workload{}, cpuInitPeriod: cfg.CPUInitializationPeriod, readinessDelay: cfg.InitialReadinessDelay,
		byNS:   map[string]*listers{},
		states: map[types.UID]*memory{}, warned: map[string]warning{}, cpuWarned: map[string]warning{}, live: map[string]LiveDecision{},
		brokerErr: map[string]string{}, freshErr: map[string]string{}, leader: cfg.Leader, fieldManager: cmp.Or(cfg.FieldManager, "rabbitscale"),
	}
	for _, sc := range scopes {
		if _, dup := c.byNS[sc.Namespace]; dup || sc.Workloads == nil || (sc.Namespace == metav1.NamespaceAll && len(scopes) > 1) {
			return nil, fmt.Errorf("informers for namespace %q: want one set watching every namespace, or one per namespace", sc.Namespace)
		}
		l, synced, err := register(sc)
		if err != nil {
			return nil, err
		}
		c.scopes = append(c.scopes, l)
		c.byNS[sc.Namespace] = l
		c.synced = append(c.synced, synced...)
	}
	return c, nil
}

// register sets up one Informers' informers, with the transforms that keep
// only what the controller reads.
func register(sc Informers) (*listers, []cache.InformerSynced, error) {
	podFactory := cmp.Or(sc.Pods, sc.Workloads)
	d := sc.Workloads.Apps().V1().Deployments()
	s := sc.Workloads.Apps().V1().StatefulSets()
	h := sc.Workloads.Autoscaling().V2().HorizontalPodAutoscalers()
	for _, inf := range []cache.SharedIndexInformer{d.Informer(), s.Informer()} {
		if err := inf.SetTransform(StripWorkload); err != nil {
			return nil, nil, fmt.Errorf("setting the informer transform: %w", err)
		}
	}
	p := podFactory.Core().V1().Pods()
	if err := p.Informer().SetTransform(StripPod); err != nil {
		return nil, nil, fmt.Errorf("setting the pod informer transform: %w", err)
	}
	return &listers{deploys: d.Lister(), sets: s.Lister(), hpas: h.Lister(), pods: p.Lister()},
		[]cache.InformerSynced{d.Informer().HasSynced, s.Informer().HasSynced, h.Informer().HasSynced, p.Informer().HasSynced}, nil
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
	// Deferred counts the annotation writes left to a later tick by
	// Config.AnnotationWritesPerTick.
	Deferred int
}

// takeBrokers takes the current brokers, for one tick or one sync.
func (c *Controller) takeBrokers() {
	c.brokers, c.allowed = c.set.Current()
}

// staticBrokers is the BrokerSet of Config.Brokers and Config.Allowed.
type staticBrokers struct {
	brokers map[string]Snapshotter
	allowed Allowed
}

func (s staticBrokers) Current() (map[string]Snapshotter, Allowed) {
	return s.brokers, s.allowed
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
//   - report: each workload's warnings, events and metrics, once its sync
//     is done (report.go).
//
// A Tick that finds it is no longer the leader (Config.Leader) stops before
// its next write and says so in TickResult.NotLeader. Ticks must not run
// concurrently; no lock is held across a read or a write.
func (c *Controller) Tick(ctx context.Context) TickResult {
	start := c.clock.Now()
	logger := klog.FromContext(ctx)
	res := TickResult{Decisions: map[string]policy.Decision{}}
	ws, err := listWorkloads(c.scopes)
	if err != nil {
		logger.Error(err, "Listing workloads")
		c.observe.ObserveError(metrics.ErrorKindOther)
		res.Errors++
		return res
	}
	res.Workloads = len(ws)
	c.forget(ws)
	c.takeBrokers()

	// Parse first, so that one snapshot per broker covers everyone.
	parsed := make([]parsedWorkload, 0, len(ws))
	var invalid []*workload
	for i := range ws {
		p, skip := c.parse(&ws[i])
		if skip != nil {
			c.reportSkipped(&ws[i], skip)
			if skip.invalid {
				invalid = append(invalid, &ws[i])
				res.Errors++
			}
			continue
		}
		parsed = append(parsed, p)
	}
	c.forgetSeries(parsed, invalid)

	// Gather. CPU is read while the brokers are.
	gctx, cancel := context.WithTimeout(ctx, c.interval)
	defer cancel()
	cpuc := make(chan map[string]cpuRead, 1)
	go func() { cpuc <- c.readCPU(gctx, parsed, c.clock.Now()) }()
	reads := c.readBrokers(gctx, parsed)
	cpu := <-cpuc

	// Decide and apply, a broker's workloads as soon as it has answered.
	budget := newWriteBudget(c.writes)
	for br := range reads {
		c.logBroker(ctx, br)
		now := c.clock.Now()
		for _, p := range br.workloads {
			if res.NotLeader {
				break
			}
			d, changed, err := c.syncWorkload(ctx, p, inputs{broker: br.brokerRead, cpu: cpu[p.key()], now: now, writes: budget})
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
	res.Deferred = budget.deferredCount()
	if res.Deferred > 0 {
		logger.V(2).Info("Annotation writes deferred to the next tick", "deferred", res.Deferred, "budget", c.writes)
	}
	res.Duration = c.clock.Since(start)
	c.observe.ObserveTick(res.Duration, c.clock.Now())
	return res
}
