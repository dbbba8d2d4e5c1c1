package adapter

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"
	cmoptions "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd/options"
)

// Serve serves p as external.metrics.k8s.io/v1beta1 with the server options
// (serving, delegated authentication and authorization, audit) until ctx
// ends, and meanwhile refreshes p every interval (Provider.Run). kubeconfig
// is the API server client's configuration; empty means in-cluster. It
// returns once both have stopped.
func Serve(ctx context.Context, p *Provider, interval time.Duration, server *cmoptions.CustomMetricsAdapterServerOptions, kubeconfig string) error {
	base := &basecmd.AdapterBase{
		Name:                              "rabbitscale-adapter",
		CustomMetricsAdapterServerOptions: server,
		RemoteKubeConfigFile:              kubeconfig,
		// The flags are the caller's (server.AddFlags); AdapterBase must
		// not parse its own.
		FlagSet: pflag.NewFlagSet("unused", pflag.ContinueOnError),
	}
	base.WithExternalMetrics(p)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		p.Run(ctx, interval)
	}()
	readers, _ := p.set.Current()
	klog.FromContext(ctx).Info("Serving external metrics", "brokers", slices.Sorted(maps.Keys(readers)), "interval", interval,
		"address", fmt.Sprintf("%s:%d", server.SecureServing.BindAddress, server.SecureServing.BindPort))
	err := base.Run(ctx)
	cancel()
	<-refreshed
	if err != nil {
		return fmt.Errorf("external metrics API server: %w", err)
	}
	return nil
}
