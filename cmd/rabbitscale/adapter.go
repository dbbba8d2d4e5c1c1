package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"
	cmoptions "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd/options"

	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/queue"
)

// AdapterOptions are the flags of `rabbitscale adapter`.
type AdapterOptions struct {
	Kubeconfig   string
	BrokerConfig string
	// Interval is the time between two reads of every broker.
	Interval time.Duration
	// MaxAge refuses to serve figures older than this (the HPA then holds).
	MaxAge time.Duration
	// Server holds the API server's flags: serving, delegated
	// authentication and authorization, audit.
	Server *cmoptions.CustomMetricsAdapterServerOptions
}

// NewAdapterOptions returns the defaults: port 6443, self-signed serving
// certificates kept in memory unless --cert-dir or --tls-cert-file says
// otherwise.
func NewAdapterOptions() *AdapterOptions {
	o := &AdapterOptions{
		BrokerConfig: "/etc/rabbitscale/brokers.yaml",
		Interval:     5 * time.Second,
		MaxAge:       time.Minute,
		Server:       cmoptions.NewCustomMetricsAdapterServerOptions(),
	}
	o.Server.SecureServing.BindPort = 6443
	o.Server.SecureServing.ServerCert.CertDirectory = ""
	return o
}

// AddFlags registers the options on fs.
func (o *AdapterOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig; empty uses the in-cluster configuration. Also used for delegated authentication and authorization unless --authentication-kubeconfig or --authorization-kubeconfig say otherwise.")
	fs.StringVar(&o.BrokerConfig, "config", o.BrokerConfig, "Path to the broker configuration (the same file as `rabbitscale run` reads).")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "Time between reads of every broker; HPA queries are answered from the last read.")
	fs.DurationVar(&o.MaxAge, "max-age", o.MaxAge, "Refuse to serve a broker's figures older than this, so that the HPA holds instead of acting on stale depth.")
	o.Server.AddFlags(fs)
}

// Validate returns every problem with the options, each naming the flag.
func (o *AdapterOptions) Validate() []error {
	var errs []error
	if o.BrokerConfig == "" {
		errs = append(errs, errors.New("--config: must name the broker configuration file"))
	}
	if o.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval: %s is shorter than 100ms", o.Interval))
	}
	if o.MaxAge < 2*o.Interval {
		errs = append(errs, fmt.Errorf("--max-age: %s is shorter than two intervals (%s)", o.MaxAge, 2*o.Interval))
	}
	for _, err := range o.Server.Validate() {
		errs = append(errs, fmt.Errorf("server options: %w", err))
	}
	return errs
}

// complete fills what defaults from other flags: the delegated
// authentication and authorization use --kubeconfig unless told otherwise.
func (o *AdapterOptions) complete() {
	if o.Kubeconfig == "" {
		return
	}
	if o.Server.Authentication.RemoteKubeConfigFile == "" {
		o.Server.Authentication.RemoteKubeConfigFile = o.Kubeconfig
	}
	if o.Server.Authorization.RemoteKubeConfigFile == "" {
		o.Server.Authorization.RemoteKubeConfigFile = o.Kubeconfig
	}
}

func newAdapterCommand() *cobra.Command {
	o := NewAdapterOptions()
	cmd := &cobra.Command{
		Use:   "adapter",
		Short: "Serve queue depth and rates as external.metrics.k8s.io for the HorizontalPodAutoscaler",
		Long: `Serve external.metrics.k8s.io/v1beta1 metrics rabbitmq_queue_messages (ready + unacked),
rabbitmq_queue_messages_ready, rabbitmq_queue_messages_unacked, rabbitmq_queue_consumers and
rabbitmq_queue_publish_rate, selected by the labels queue (required), vhost (default "/")
and broker (default: the only broker, or the one named "default").

Every broker is read once per --interval; HPA queries are answered from the last read
and never reach the broker. Register it with the APIService in deploy/adapter/.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.complete()
			if errs := o.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAdapter(ctx, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runAdapter(ctx context.Context, o *AdapterOptions) error {
	logger := klog.FromContext(ctx)
	cfg, err := queue.LoadConfig(o.BrokerConfig)
	if err != nil {
		return err
	}
	brokers, err := queue.Open(cfg, clock.RealClock{})
	if err != nil {
		return err
	}
	defer func() { _ = brokers.Close() }()
	readers := map[string]metrics.SnapshotReader{}
	for _, name := range brokers.Names() {
		r, err := brokers.Reader(name)
		if err != nil {
			return err
		}
		readers[name] = r
	}
	// The broker series join the API server's own /metrics.
	m := metrics.NewCollectors(legacyregistry.Registerer())
	p := metrics.NewExternalProvider(readers, o.MaxAge, clock.RealClock{}, m)

	base := &basecmd.AdapterBase{
		Name:                              "rabbitscale-adapter",
		CustomMetricsAdapterServerOptions: o.Server,
		RemoteKubeConfigFile:              o.Kubeconfig,
		FlagSet:                           pflag.NewFlagSet("unused", pflag.ContinueOnError),
	}
	base.WithExternalMetrics(p)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		p.Run(ctx, o.Interval)
	}()
	logger.Info("Serving external metrics", "brokers", brokers.Names(), "interval", o.Interval,
		"address", fmt.Sprintf("%s:%d", o.Server.SecureServing.BindAddress, o.Server.SecureServing.BindPort))
	err = base.Run(ctx)
	cancel()
	<-refreshed
	if err != nil {
		return fmt.Errorf("external metrics API server: %w", err)
	}
	return nil
}
