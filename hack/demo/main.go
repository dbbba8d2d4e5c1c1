// Command demo starts the local playground behind `make demo`: a private
// kube-apiserver with etcd and a private RabbitMQ node, then prints where
// they are and waits for Ctrl-C to stop them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rabbitscale/rabbitscale/integration/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...) }

	cp, err := harness.StartControlPlane()
	if err != nil {
		return err
	}
	defer func() { _ = cp.Stop() }()

	broker, err := harness.StartBroker(ctx, logf)
	if err != nil {
		return err
	}
	defer func() { _ = broker.Stop(context.Background()) }()

	if err := os.MkdirAll(".demo", 0o700); err != nil {
		return err
	}
	kubeconfig, err := filepath.Abs(filepath.Join(".demo", "kubeconfig"))
	if err != nil {
		return err
	}
	if err := cp.Kubeconfig(kubeconfig); err != nil {
		return err
	}

	fmt.Printf(`rabbitscale demo environment is up.

  kube-apiserver   %s
  kubeconfig       %s   (export KUBECONFIG=%s)
  RabbitMQ AMQP    %s
  management UI    %s   (user %s)
  Prometheus       %s/metrics
  stats interval   %s

Press Ctrl-C to stop both.
`, cp.Config.Host, kubeconfig, kubeconfig, redactedAMQP(broker), broker.ManagementURL, broker.Username, broker.PrometheusURL, broker.StatsInterval)
	<-ctx.Done()
	fmt.Println("stopping")
	return nil
}

func redactedAMQP(b *harness.Broker) string {
	// The demo broker's guest password is well known, but print no
	// credentials all the same: the same code runs with RABBITMQ_URL.
	return harness.Redact(b.AMQPURL)
}
