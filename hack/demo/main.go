// Command demo is `make demo`: it starts (or uses) a kube-apiserver and a
// RabbitMQ broker, runs the real controller on an example worker, plays
// its pods and a load profile, shows a live table and writes an SVG of
// depth and replicas over time. See package integration/demo.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rabbitscale/rabbitscale/integration/demo"
	"github.com/rabbitscale/rabbitscale/integration/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	o := demo.NewOptions()
	binary := flag.String("binary", "bin/rabbitscale", "the rabbitscale binary to run as the controller")
	out := flag.String("svg", "demo.svg", "where to write the chart")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "length of the load profile (DEMO_DURATION overrides)")
	flag.Parse()
	if v := os.Getenv("DEMO_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("DEMO_DURATION: %q is not a duration: %w", v, err)
		}
		o.Duration = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...) }

	dir, err := os.MkdirTemp("", "rabbitscale-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if o.Binary, err = filepath.Abs(*binary); err != nil {
		return err
	}

	if kubeconfig := os.Getenv("KUBECONFIG"); kubeconfig != "" {
		logf("using the cluster of KUBECONFIG=%s", kubeconfig)
		if o.Config, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
			return err
		}
		o.Kubeconfig = kubeconfig
	} else {
		logf("starting a local kube-apiserver and etcd")
		cp, err := harness.StartControlPlane()
		if err != nil {
			return err
		}
		defer func() { _ = cp.Stop() }()
		o.Config, o.Kubeconfig = rest.CopyConfig(cp.Config), filepath.Join(dir, "kubeconfig")
		if err := cp.Kubeconfig(o.Kubeconfig); err != nil {
			return err
		}
	}
	o.Config.QPS, o.Config.Burst = 50, 100

	broker, err := harness.StartBroker(ctx, logf)
	if err != nil {
		return err
	}
	defer func() { _ = broker.Stop(context.Background()) }()
	logf("%s", broker)
	o.Broker, o.Dir = broker, dir

	logf("running for %s: quiet, a burst, steady load, quiet; Ctrl-C stops and cleans up", o.Duration)
	res, err := demo.Run(ctx, o)
	if err != nil {
		return err
	}
	svg, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	if err := demo.WriteSVG(svg, res); err != nil {
		return err
	}
	fmt.Printf("\npublished %d, processed %d, replicas peaked at %d\nchart: %s\n", res.Published, res.Processed, res.MaxReplicas(), svg)
	return nil
}
