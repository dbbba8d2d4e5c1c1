package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/clock"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/internal/nslabels"
	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/queue"
)

func newRunCommand() *cobra.Command {
	o := NewRunOptions()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the controller: scale annotated Deployments and StatefulSets from their queues",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

// exitGrace bounds how long a process that lost its lease may take to shut
// down before it exits anyway: it must never hang.
const exitGrace = 10 * time.Second

func run(ctx context.Context, o *RunOptions) error {
	// Everything (informers, events, ticks) runs on this context, so that
	// losing the lease stops all of it, not only the ticks.
	signalled := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kube, meta, podMetrics, err := newClients(o)
	if err != nil {
		return err
	}
	brokers, err := queue.OpenFileWatched(o.Config, clock.RealClock{})
	if err != nil {
		return err
	}
	defer func() { _ = brokers.Close() }()
	go brokers.Watch(ctx, o.Interval)
	id, err := identity(o)
	if err != nil {
		return err
	}
	recorder, stopEvents := newRecorder(ctx, kube, id)
	defer stopEvents()
	scopes, factories := newInformers(kube, o)
	namespaces, nsLabels := newNamespaceInformer(meta, o)
	if nsLabels == nil && brokers.Brokers().SelectsNamespaces() {
		klog.FromContext(ctx).Info("Watching only some namespaces, the controller cannot read namespace labels: allow.namespaceSelector matches none of them; list them in allow.namespaces",
			"namespaces", o.namespaces())
	}
	guard := newLeaseGuard(kube, o, id)
	var leader func() error // always leading without leader election
	if guard != nil {
		leader = guard.Check
	}
	reg := metrics.NewRegistry()
	ctrl, err := autoscaler.New(autoscaler.Config{
		Kube: kube, BrokerSet: brokerSet{brokers}, Namespaces: namespaces, Recorder: recorder, Interval: o.Interval,
		DryRun: o.DryRun, SkipIdleFirst: !o.IdleFirst, StateSyncPeriod: o.StateSyncPeriod,
		AnnotationWritesPerTick: autoscaler.AnnotationWriteBudget(o.KubeAPIQPS, o.Interval),
		PodMetrics:              podMetrics,
		Observer:                metrics.NewCollectors(reg), Leader: leader, FieldManager: "rabbitscale-" + id,
	}, scopes...)
	if err != nil {
		return err
	}
	for _, f := range factories {
		f.Start(ctx.Done())
		defer func() { cancel(); f.Shutdown() }()
	}
	if nsLabels != nil {
		nsLabels.Start(ctx, func() bool { return brokers.Brokers().SelectsNamespaces() })
		defer func() { cancel(); nsLabels.Shutdown() }()
	}
	var ready atomic.Bool
	leading := func() bool { return leader == nil || leader() == nil }
	stopServing := serve(ctx, o, &ready, metrics.Handler(reg), autoscaler.DecisionsHandler(ctrl, id, leading))
	defer stopServing()
	// Ready once the caches are warm, leader or not: a standby is ready to
	// take over.
	if err := waitForCaches(ctx, factories); err != nil {
		return err
	}
	// The namespace informer is not waited for (package nslabels): until
	// it syncs, no allow.namespaceSelector matches.
	ready.Store(true)

	if guard == nil {
		return ctrl.Run(ctx)
	}
	return runLeaderElected(ctx, signalled, cancel, o, id, guard, ctrl)
}

// newClients builds the Kubernetes, metadata and metrics.k8s.io clients
// with the options' limits.
func newClients(o *RunOptions) (kubernetes.Interface, metadata.Interface, autoscaler.PodMetricsLister, error) {
	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	cfg.UserAgent = "rabbitscale/" + buildVersion()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("metadata client: %w", err)
	}
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("metrics.k8s.io client: %w", err)
	}
	return kube, meta, autoscaler.NewPodMetricsLister(mc), nil
}

// newNamespaceInformer returns the namespaces' labels, for the brokers'
// allow.namespaceSelector, from a metadata-only informer (package
// nslabels, which never blocks and starts only once a broker has a
// selector), and the informer to start. Watching only some namespaces
// (--namespace, --namespaces), whose Roles cannot grant reading Namespace
// objects, it returns nil: the labels are unknown and no selector matches.
func newNamespaceInformer(meta metadata.Interface, o *RunOptions) (autoscaler.NamespaceGetter, *nslabels.Labels) {
	if len(o.namespaces()) > 0 {
		return nil, nil
	}
	l := nslabels.New(meta, "rabbitscale")
	return l, l
}

// identity is this replica's name in the Lease and in the events'
// source: --leader-election-identity, or the hostname (the pod's name).
func identity(o *RunOptions) (string, error) {
	if o.LeaderElectionIdentity != "" {
		return o.LeaderElectionIdentity, nil
	}
	return os.Hostname()
}

// newRecorder records events through a broadcaster whose spam filter
// gives every distinct problem its own budget (autoscaler.EventSpamKey).
func newRecorder(ctx context.Context, kube kubernetes.Interface, id string) (record.EventRecorder, func()) {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx),
		record.WithCorrelatorOptions(record.CorrelatorOptions{SpamKeyFunc: autoscaler.EventSpamKey}))
	broadcaster.StartStructuredLogging(4)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "rabbitscale", Host: id}), broadcaster.Shutdown
}

// newInformers returns what the controller reads from: one set of
// informers for every namespace, or one per namespace of --namespaces (so
// that namespaced RBAC suffices), each limited by --label-selector, with a
// pod informer of its own when that selector would hide pods that do not
// carry it. It also returns every factory, to start.
func newInformers(kube kubernetes.Interface, o *RunOptions) ([]autoscaler.Informers, []informers.SharedInformerFactory) {
	namespaces := o.namespaces()
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var scopes []autoscaler.Informers
	var factories []informers.SharedInformerFactory
	for _, ns := range namespaces {
		sc := autoscaler.Informers{Namespace: ns, Workloads: informers.NewSharedInformerFactoryWithOptions(kube, 10*time.Minute,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.LabelSelector }))}
		factories = append(factories, sc.Workloads)
		if o.LabelSelector != "" {
			sc.Pods = informers.NewSharedInformerFactoryWithOptions(kube, 10*time.Minute, informers.WithNamespace(ns))
			factories = append(factories, sc.Pods)
		}
		scopes = append(scopes, sc)
	}
	return scopes, factories
}

// newLeaseGuard returns the guard of the leader election Lease, or nil
// without --leader-elect.
func newLeaseGuard(kube kubernetes.Interface, o *RunOptions, id string) *autoscaler.LeaseGuard {
	if !o.LeaderElect {
		return nil
	}
	return autoscaler.NewLeaseGuard(&resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaderElectionNamespace, Name: o.LeaderElectionID},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}, o.LeaderElectionRenewDeadline, clock.RealClock{})
}

// serve starts the health server (/metrics, /healthz, /readyz, and the
// profiles with --profiling) and returns its bounded shutdown.
func serve(ctx context.Context, o *RunOptions, ready *atomic.Bool, metricsHandler, decisions http.Handler) func() {
	srv := httpServer(o.HealthAddr, ready, metricsHandler, decisions, o.Profiling)
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.FromContext(ctx).Error(err, "Health server stopped")
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
}

// waitForCaches waits for every factory's informers to sync.
func waitForCaches(ctx context.Context, factories []informers.SharedInformerFactory) error {
	for _, f := range factories {
		for _, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return errors.New("informer caches did not sync")
			}
		}
	}
	return nil
}

// runLeaderElected runs the controller while this process holds the lease.
// A process that loses the lease, or stops being able to tell that it
// holds it (LeaseGuard), exits with an error, as kube-controller-manager
// does: its restart starts as a standby from the annotations, never from
// the memory of a term that another replica has since continued. Exiting
// is bounded by exitGrace.
func runLeaderElected(ctx, signalled context.Context, cancel context.CancelFunc, o *RunOptions, id string, guard *autoscaler.LeaseGuard, ctrl *autoscaler.Controller) error {
	logger := klog.FromContext(ctx)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            guard,
		LeaseDuration:   o.LeaderElectionLeaseDuration,
		RenewDeadline:   o.LeaderElectionRenewDeadline,
		RetryPeriod:     o.LeaderElectionRetryPeriod,
		ReleaseOnCancel: true,
		Name:            o.LeaderElectionID,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				logger.Info("Started leading", "identity", id)
				if err := ctrl.Run(ctx); err != nil {
					logger.Error(err, "Controller stopped", "identity", id)
				}
				cancel() // stop renewing, release the lease if still held
			},
			OnStoppedLeading: func() {
				guard.Lost()
				logger.Info("Stopped leading", "identity", id)
			},
		},
	})
	if err != nil {
		return err
	}
	elector.Run(ctx) // returns once leadership is lost or ctx ends
	if signalled.Err() != nil {
		return nil // SIGTERM: the lease was released on the way out
	}
	// Leadership was lost while we still wanted it, or the controller
	// stopped acting: exit so that a restart starts from the annotations.
	// The deferred shutdown is bounded.
	cancel()
	time.AfterFunc(exitGrace, func() {
		logger.Error(nil, "Shutdown after losing the lease took too long; exiting", "grace", exitGrace)
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	})
	logger.Info("Lost the lease; exiting so that a restart starts as a standby from the stored state", "identity", id)
	return errors.New("lost the leader election lease")
}

// httpServer serves /metrics, /decisions (the live decisions), /healthz and
// /readyz, and Go's profiles
// under /debug/pprof/ when profiling is on.
func httpServer(addr string, ready *atomic.Bool, metricsHandler, decisions http.Handler, profiling bool) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler)
	if decisions != nil {
		mux.Handle(autoscaler.DecisionsPath, decisions)
	}
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}
