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
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/clock"

	"github.com/rabbitscale/rabbitscale/autoscaler"
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
	logger := klog.FromContext(ctx)
	// Everything (informers, events, ticks) runs on this context, so that
	// losing the lease stops all of it, not only the ticks.
	signalled := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.UserAgent = "rabbitscale/" + buildVersion()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	metricsClient, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("metrics.k8s.io client: %w", err)
	}

	brokers, err := queue.OpenFile(o.BrokerConfig, clock.RealClock{})
	if err != nil {
		return err
	}
	defer func() { _ = brokers.Close() }()
	readers := map[string]autoscaler.Snapshotter{}
	for name, r := range brokers.Readers() {
		readers[name] = r
	}

	id := o.LeaderElectedID
	if id == "" {
		if id, err = os.Hostname(); err != nil {
			return err
		}
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx),
		record.WithCorrelatorOptions(record.CorrelatorOptions{SpamKeyFunc: autoscaler.EventSpamKey}))
	broadcaster.StartStructuredLogging(4)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "rabbitscale", Host: id})

	factory := informers.NewSharedInformerFactoryWithOptions(kube, 10*time.Minute,
		informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.LabelSelector }))
	// The label selector picks workloads; their pods need not carry it.
	podFactory := factory
	if o.LabelSelector != "" {
		podFactory = informers.NewSharedInformerFactoryWithOptions(kube, 10*time.Minute, informers.WithNamespace(o.Namespace))
	}
	var guard *autoscaler.LeaseGuard
	var leader func() error
	if o.LeaderElect {
		guard = autoscaler.NewLeaseGuard(&resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaseNamespace, Name: o.LeaseName},
			Client:     kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}, o.RenewDeadline, clock.RealClock{})
		leader = guard.Check
	}
	reg := metrics.NewRegistry()
	ctrl, err := autoscaler.New(autoscaler.Config{
		Leader: leader, FieldManager: "rabbitscale-" + id,
		Observer: metrics.NewCollectors(reg),
		Kube:     kube, Brokers: readers, Recorder: recorder, Interval: o.Interval,
		DryRun: o.DryRun, StateSyncPeriod: o.StateSync,
		PodMetrics: autoscaler.NewPodMetricsLister(metricsClient), PodInformers: podFactory,
	}, factory)
	if err != nil {
		return err
	}
	factories := []informers.SharedInformerFactory{factory}
	if podFactory != factory {
		factories = append(factories, podFactory)
	}
	for _, f := range factories {
		f.Start(ctx.Done())
		defer func() { cancel(); f.Shutdown() }()
	}

	var ready atomic.Bool
	srv := httpServer(o.HealthAddr, &ready, metrics.Handler(reg), o.Profiling)
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "Health server stopped")
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	// Ready once the caches are warm, leader or not: a standby is ready to
	// take over.
	for _, f := range factories {
		for _, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return errors.New("informer caches did not sync")
			}
		}
	}
	ready.Store(true)

	if !o.LeaderElect {
		return ctrl.Run(ctx)
	}
	return runLeaderElected(ctx, signalled, cancel, o, id, guard, ctrl)
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
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            o.LeaseName,
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

// httpServer serves /metrics, /healthz and /readyz, and Go's profiles
// under /debug/pprof/ when profiling is on.
func httpServer(addr string, ready *atomic.Bool, metricsHandler http.Handler, profiling bool) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler)
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
