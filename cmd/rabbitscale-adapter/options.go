package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	cmoptions "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd/options"
)

// Options are the flags of rabbitscale-adapter.
type Options struct {
	Kubeconfig string
	// Config is the broker configuration file.
	Config string
	// Interval is the time between two reads of every broker.
	Interval time.Duration
	// MaxAge refuses to serve figures older than this (the HPA then holds).
	MaxAge time.Duration
	// Server holds the API server's flags: serving, delegated
	// authentication and authorization, audit.
	Server *cmoptions.CustomMetricsAdapterServerOptions
}

// NewOptions returns the defaults: port 6443, self-signed serving
// certificates kept in memory unless --cert-dir or --tls-cert-file says
// otherwise.
func NewOptions() *Options {
	o := &Options{
		Config:   "/etc/rabbitscale/config/brokers.yaml",
		Interval: 5 * time.Second,
		MaxAge:   time.Minute,
		Server:   cmoptions.NewCustomMetricsAdapterServerOptions(),
	}
	o.Server.SecureServing.BindPort = 6443
	o.Server.SecureServing.ServerCert.CertDirectory = ""
	return o
}

// AddFlags registers the options on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig; empty uses the in-cluster configuration. Also used for delegated authentication and authorization unless --authentication-kubeconfig or --authorization-kubeconfig say otherwise.")
	fs.StringVar(&o.Config, "config", o.Config, "Path to the broker configuration (the same file as rabbitscale run reads).")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "Time between reads of every broker; HPA queries are answered from the last read.")
	fs.DurationVar(&o.MaxAge, "max-age", o.MaxAge, "Refuse to serve a broker's figures older than this, so that the HPA holds instead of acting on stale depth.")
	o.Server.AddFlags(fs)
}

// Validate returns every problem with the options, each naming the flag.
func (o *Options) Validate() []error {
	var errs []error
	if o.Config == "" {
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
func (o *Options) complete() {
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
