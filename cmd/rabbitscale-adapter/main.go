// Command rabbitscale-adapter serves queue depth and rates as
// external.metrics.k8s.io for the HorizontalPodAutoscaler, for clusters
// that scale with a stock HPA instead of the rabbitscale controller. It
// holds wiring only: flags become Options, and the options start
// queue.OpenFileWatched (reloaded every --interval), a metadata-only
// namespace informer, adapter.NewProvider and adapter.Serve. It is its own
// binary so that the controller does not link the API server libraries.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/rabbitscale/rabbitscale/adapter"
	"github.com/rabbitscale/rabbitscale/internal/nslabels"
	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/queue"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	o := NewOptions()
	root := &cobra.Command{
		Use:   "rabbitscale-adapter",
		Short: "Serve queue depth and rates as external.metrics.k8s.io for the HorizontalPodAutoscaler",
		Long: `Serve external.metrics.k8s.io/v1beta1 metrics rabbitmq_queue_messages (ready + unacked),
rabbitmq_queue_messages_ready, rabbitmq_queue_messages_unacked, rabbitmq_queue_consumers and
rabbitmq_queue_publish_rate, selected by the labels queue (required), vhost (default "/")
and broker (default: the only broker, or the one named "default").

Every broker is read once per --interval; HPA queries are answered from the last read
and never reach the broker. Register it with the APIService in deploy/adapter/.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.complete()
			if errs := o.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, o)
		},
	}
	// klog's flags, -v among them, on every command.
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	root.PersistentFlags().AddGoFlagSet(klogFlags)
	o.AddFlags(root.Flags())
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version of rabbitscale-adapter",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "rabbitscale-adapter", buildVersion())
		},
	})
	return root
}

func run(ctx context.Context, o *Options) error {
	brokers, err := queue.OpenFileWatched(o.Config, clock.RealClock{})
	if err != nil {
		return err
	}
	defer func() { _ = brokers.Close() }()
	// The ConfigMap's changes apply without a restart, as in the
	// controller; a file that does not load keeps the brokers in use.
	go brokers.Watch(ctx, o.Interval)
	namespaces, err := watchNamespaces(ctx, o.Kubeconfig, func() bool { return brokers.Brokers().SelectsNamespaces() })
	if err != nil {
		return err
	}
	// The broker series join the API server's own /metrics.
	m := metrics.NewCollectors(legacyregistry.Registerer())
	p := adapter.NewProvider(adapter.FileBrokers(brokers), o.MaxAge, clock.RealClock{}, m)
	p.LabelsFrom(namespaces)
	return adapter.Serve(ctx, p, o.Interval, o.Server, o.Kubeconfig)
}

// watchNamespaces arms a metadata-only informer over namespaces, whose
// labels the brokers' allow.namespaceSelector matches: it starts once
// needed reports true (a broker has a selector), so that an install
// without one never reads a Namespace object. It does not wait for its
// cache (package nslabels): an RBAC that cannot list namespaces must not
// stop the adapter serving every other query.
func watchNamespaces(ctx context.Context, kubeconfig string, needed func() bool) (adapter.NamespaceGetter, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg.UserAgent = "rabbitscale-adapter/" + buildVersion()
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	labels := nslabels.New(meta, "rabbitscale-adapter")
	labels.Start(ctx, needed)
	return labels, nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
