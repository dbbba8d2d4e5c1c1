package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rabbitscale/rabbitscale/autoscaler"
)

// RunOptions are the flags of `rabbitscale run`.
type RunOptions struct {
	Kubeconfig    string
	BrokerConfig  string
	Interval      time.Duration
	DryRun        bool
	Namespace     string
	LabelSelector string
	QPS           float32
	Burst         int
	StateSync     time.Duration
	HealthAddr    string
	// Profiling serves Go's pprof profiles on HealthAddr.
	Profiling bool

	LeaderElect     bool
	LeaseNamespace  string
	LeaseName       string
	LeaseDuration   time.Duration
	RenewDeadline   time.Duration
	RetryPeriod     time.Duration
	LeaderElectedID string // identity; defaults to the hostname
}

// NewRunOptions returns the defaults.
func NewRunOptions() *RunOptions {
	return &RunOptions{
		BrokerConfig:   "/etc/rabbitscale/brokers.yaml",
		Interval:       5 * time.Second,
		QPS:            50,
		Burst:          100,
		StateSync:      autoscaler.DefaultStateSyncPeriod,
		HealthAddr:     ":8081",
		LeaderElect:    true,
		LeaseNamespace: "rabbitscale",
		LeaseName:      "rabbitscale-controller",
		LeaseDuration:  15 * time.Second,
		RenewDeadline:  10 * time.Second,
		RetryPeriod:    2 * time.Second,
	}
}

// AddFlags registers the options on fs.
func (o *RunOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig; empty uses the in-cluster configuration.")
	fs.StringVar(&o.BrokerConfig, "config", o.BrokerConfig, "Path to the broker configuration (YAML or JSON: brokers with URLs, credentials from env or files, TLS).")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "Time between ticks: each tick reads every broker once and decides for every workload.")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "Decide and report for every workload, change no replicas.")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "Watch only this namespace; empty watches all.")
	fs.StringVar(&o.LabelSelector, "label-selector", o.LabelSelector, "Watch only workloads matching this label selector.")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "Queries per second to the Kubernetes API.")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "Burst of queries to the Kubernetes API.")
	fs.DurationVar(&o.StateSync, "state-sync-period", o.StateSync, "How often a workload's decision and state annotations are rewritten only to refresh their figures; a change of replicas, of the decision's gist (what drove it, what limited it) or of the state a restart needs writes them at once.")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "Address serving /metrics (Prometheus), /healthz and /readyz.")
	fs.BoolVar(&o.Profiling, "profiling", o.Profiling, "Also serve Go's profiles under /debug/pprof/ on --health-addr.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect a leader on a Lease so that several replicas can run; only the leader scales.")
	fs.StringVar(&o.LeaseNamespace, "leader-election-namespace", o.LeaseNamespace, "Namespace of the leader election Lease.")
	fs.StringVar(&o.LeaseName, "leader-election-id", o.LeaseName, "Name of the leader election Lease.")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", o.LeaseDuration, "How long a non-leader waits before taking over an unrenewed lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", o.RenewDeadline, "How long the leader keeps trying to renew before giving up leadership.")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", o.RetryPeriod, "Time between leader election attempts.")
	fs.StringVar(&o.LeaderElectedID, "leader-election-identity", o.LeaderElectedID, "This replica's identity in the Lease; empty uses the hostname.")
}

// Validate returns every problem with the options, each naming the flag.
func (o *RunOptions) Validate() []error {
	var errs []error
	if o.BrokerConfig == "" {
		errs = append(errs, fmt.Errorf("--config: must name the broker configuration file"))
	}
	if o.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval: %s is shorter than 100ms", o.Interval))
	}
	if o.QPS <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps: %v must be positive", o.QPS))
	}
	if o.Burst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-burst: %d must be at least 1", o.Burst))
	}
	if o.StateSync < o.Interval {
		errs = append(errs, fmt.Errorf("--state-sync-period: %s is shorter than --interval %s", o.StateSync, o.Interval))
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
	}
	if o.LeaderElect {
		if o.LeaseNamespace == "" || o.LeaseName == "" {
			errs = append(errs, fmt.Errorf("--leader-election-namespace and --leader-election-id: both are required with --leader-elect"))
		}
		if o.RetryPeriod <= 0 || o.RetryPeriod >= o.RenewDeadline || o.RenewDeadline >= o.LeaseDuration {
			errs = append(errs, fmt.Errorf("--leader-election-*: need 0 < retry-period (%s) < renew-deadline (%s) < lease-duration (%s)",
				o.RetryPeriod, o.RenewDeadline, o.LeaseDuration))
		}
	}
	return errs
}
