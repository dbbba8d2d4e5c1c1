//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rabbitscale/rabbitscale/integration/harness"
)

// Shared by every test of one run: starting them takes seconds, so the
// tests isolate themselves by namespace and queue name instead.
var (
	broker *harness.Broker
	cp     *harness.ControlPlane
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "integration: "+format+"\n", args...) }

	start := time.Now()
	var err error
	cp, err = harness.StartControlPlane()
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer func() {
		if err := cp.Stop(); err != nil {
			logf("stopping control plane: %v", err)
		}
	}()
	logf("kube-apiserver at %s (started in %s)", cp.Config.Host, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	broker, err = harness.StartBroker(ctx, logf)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer func() {
		if err := broker.Stop(ctx); err != nil {
			logf("stopping broker: %v", err)
		}
	}()
	logf("%s (ready in %s)", broker, time.Since(start).Round(time.Millisecond))

	defer func() {
		if binary != "" {
			_ = os.RemoveAll(filepath.Dir(binary))
		}
		if adapterBinaryPath != "" {
			_ = os.RemoveAll(filepath.Dir(adapterBinaryPath))
		}
	}()
	return m.Run()
}
