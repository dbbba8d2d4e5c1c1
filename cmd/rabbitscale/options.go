package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rabbitscale/rabbitscale/autoscaler"
)

// RunOptions are the flags of `rabbitscale run`; each field is named for
// its flag.
type RunOptions struct {
	Kubeconfig string
	// Config is the broker configuration file.
	Config   string
	Interval time.Duration
	DryRun   bool
	// IdleFirst marks busy pods before a scale-down (it patches pods).
	IdleFirst bool
	// Namespace and Namespaces limit what is watched (Namespaces is a
	// list, one informer each); set at most one.
	Namespace     string
	Namespaces    []string
	LabelSelector string
	KubeAPIQPS    float32
	KubeAPIBurst  int
	// StateSyncPeriod is how often unchanged annotations are refreshed.
	StateSyncPeriod time.Duration
	HealthAddr      string
	// Profiling serves Go's pprof profiles on HealthAddr.
	Profiling bool

	LeaderElect                 bool
	LeaderElectionNamespace     string
	LeaderElectionID            string // the Lease's name
	LeaderElectionLeaseDuration time.Duration
	LeaderElectionRenewDeadline time.Duration
	LeaderElectionRetryPeriod   time.Duration
	LeaderElectionIdentity      string // this replica's; defaults to the hostname
}

// NewRunOptions returns the defaults.
func NewRunOptions() *RunOptions {
	return &RunOptions{
		Config:                      "/etc/rabbitscale/config/brokers.yaml",
		Interval:                    5 * time.Second,
		IdleFirst:                   true,
		KubeAPIQPS:                  50,
		KubeAPIBurst:                100,
		StateSyncPeriod:             autoscaler.DefaultStateSyncPeriod,
		HealthAddr:                  ":8081",
		LeaderElect:                 true,
		LeaderElectionNamespace:     "rabbitscale",
		LeaderElectionID:            "rabbitscale-controller",
		LeaderElectionLeaseDuration: 15 * time.Second,
		LeaderElectionRenewDeadline: 10 * time.Second,
		LeaderElectionRetryPeriod:   2 * time.Second,
	}
}

// AddFlags registers the options on fs.
func (o *RunOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig; empty uses the in-cluster configuration.")
	fs.StringVar(&o.Config, "config", o.Config, "Path to the broker configuration (YAML or JSON: brokers with URLs, credentials from env or files, TLS).")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "Time between ticks: each tick reads every broker once and decides for every workload.")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "Decide and report for every workload, change no replicas.")
	fs.BoolVar(&o.IdleFirst, "idle-first", o.IdleFirst, "Before a Deployment's scale-down, give pods whose consumers hold unacked messages a higher pod-deletion-cost, so that idle pods go first. It patches pods; with false the controller needs no pod patch permission, and a scale-down may remove busy pods (their unacked messages are redelivered).")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "Watch only this namespace; empty watches all.")
	fs.StringSliceVar(&o.Namespaces, "namespaces", o.Namespaces, "Watch only these namespaces (comma-separated), so that Roles in each of them suffice and no ClusterRole is needed; empty watches all.")
	fs.StringVar(&o.LabelSelector, "label-selector", o.LabelSelector, "Watch only workloads matching this label selector.")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "Queries per second to the Kubernetes API.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Burst of queries to the Kubernetes API.")
	fs.DurationVar(&o.StateSyncPeriod, "state-sync-period", o.StateSyncPeriod, "How often a workload's decision and state annotations are rewritten only to refresh their figures; a change of replicas, of the decision's gist (what drove it, what limited it) or of the state a restart needs writes them at once.")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "Address serving /metrics (Prometheus), /healthz and /readyz.")
	fs.BoolVar(&o.Profiling, "profiling", o.Profiling, "Also serve Go's profiles under /debug/pprof/ on --health-addr.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect a leader on a Lease so that several replicas can run; only the leader scales.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "Namespace of the leader election Lease.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "Name of the leader election Lease.")
	fs.DurationVar(&o.LeaderElectionLeaseDuration, "leader-election-lease-duration", o.LeaderElectionLeaseDuration, "How long a non-leader waits before taking over an unrenewed lease.")
	fs.DurationVar(&o.LeaderElectionRenewDeadline, "leader-election-renew-deadline", o.LeaderElectionRenewDeadline, "How long the leader keeps trying to renew before giving up leadership.")
	fs.DurationVar(&o.LeaderElectionRetryPeriod, "leader-election-retry-period", o.LeaderElectionRetryPeriod, "Time between leader election attempts.")
	fs.StringVar(&o.LeaderElectionIdentity, "leader-election-identity", o.LeaderElectionIdentity, "This replica's identity in the Lease; empty uses the hostname.")
}

// namespaces is the list of namespaces watched; empty means all.
func (o *RunOptions) namespaces() []string {
	if o.Namespace != "" {
		return []string{o.Namespace}
	}
	return o.Namespaces
}

// Validate returns every problem with the options, each naming the flag.
func (o *RunOptions) Validate() []error {
	var errs []error
	if o.Config == "" {
		errs = append(errs, fmt.Errorf("--config: must name the broker configuration file"))
	}
	if o.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval: %s is shorter than 100ms", o.Interval))
	}
	if o.KubeAPIQPS <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps: %v must be positive", o.KubeAPIQPS))
	}
	if o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-burst: %d must be at least 1", o.KubeAPIBurst))
	}
	if o.StateSyncPeriod < o.Interval {
		errs = append(errs, fmt.Errorf("--state-sync-period: %s is shorter than --interval %s", o.StateSyncPeriod, o.Interval))
	}
	if o.LabelSelector != "" {
		if _, err := labels.Parse(o.LabelSelector); err != nil {
			errs = append(errs, fmt.Errorf("--label-selector: %q: %w", o.LabelSelector, err))
		}
	}
	if o.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(o.Namespace) {
			errs = append(errs, fmt.Errorf("--namespace: %q: %s", o.Namespace, msg))
		}
		if len(o.Namespaces) > 0 {
			errs = append(errs, fmt.Errorf("--namespace: %q is set together with --namespaces; use one", o.Namespace))
		}
	}
	for i, ns := range o.Namespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, fmt.Errorf("--namespaces: %q: %s", ns, msg))
		}
		if slices.Index(o.Namespaces, ns) < i {
			errs = append(errs, fmt.Errorf("--namespaces: %q is listed twice", ns))
		}
	}
	if o.LeaderElect {
		if o.LeaderElectionNamespace == "" || o.LeaderElectionID == "" {
			errs = append(errs, fmt.Errorf("--leader-election-namespace and --leader-election-id: both are required with --leader-elect"))
		}
		if o.LeaderElectionRetryPeriod <= 0 || o.LeaderElectionRetryPeriod >= o.LeaderElectionRenewDeadline || o.LeaderElectionRenewDeadline >= o.LeaderElectionLeaseDuration {
			errs = append(errs, fmt.Errorf("--leader-election-*: need 0 < retry-period (%s) < renew-deadline (%s) < lease-duration (%s)",
				o.LeaderElectionRetryPeriod, o.LeaderElectionRenewDeadline, o.LeaderElectionLeaseDuration))
		}
	}
	return errs
}
