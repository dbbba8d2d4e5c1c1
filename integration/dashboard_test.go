//go:build integration

package integration

import (
	"context"
	"maps"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rabbitscale/rabbitscale/deploy"
	"github.com/rabbitscale/rabbitscale/integration/harness"
	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/queue"
)

// TestDashboardAndAlertsOnARealController has a real Prometheus scrape a
// controller scaling a real workload (and failing to read a second,
// unreachable broker, and leaving alone a third whose annotations do not
// parse), then requires every dashboard query, with its
// variables set to that workload, to return data at some point, and every
// alert rule to evaluate without error. A renamed metric or label in the
// controller or in the dashboard fails it.
func TestDashboardAndAlertsOnARealController(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is required (Debian package prometheus; `make test` installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("dashboard")
	publish(ctx, t, q, 0)
	createDeployment(ctx, t, kc, ns, "worker", 1, annotations(q,
		"target-depth-per-pod", "100", "max-replicas", "10", "scale-up-cooldown", "0s",
		"target-drain-seconds", "60", "per-pod-rate", "10"))
	// A broker nobody answers for: its read errors must show too.
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	createDeployment(ctx, t, kc, ns, "stranded", 2, annotations("jobs", "target-depth-per-pod", "100", "broker", "backup"))
	// A workload at zero on a broker whose statistics answer but whose
	// AMQP port does not: its fresh reads fail, and the panels show them.
	createDeployment(ctx, t, kc, ns, "sleeper", 0, annotations(q, "target-depth-per-pod", "100", "min-replicas", "0", "broker", "sleepy"))
	// Annotations that do not parse: the invalid-annotations panel shows it.
	createDeployment(ctx, t, kc, ns, "misconfigured", 1, annotations("jobs", "target-depth-per-pod", "ten"))
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("unused"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokerPW := filepath.Join(t.TempDir(), "broker-password")
	if err := os.WriteFile(brokerPW, []byte(broker.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	ctrl := startController(t, ns, queue.BrokerConfig{
		Name: "backup", ManagementURL: "http://" + closed,
		Credentials: queue.Credentials{Username: "guest", PasswordFile: pw},
		Timeout:     queue.Duration{Duration: 500 * time.Millisecond},
	}, queue.BrokerConfig{
		Name: "sleepy", ManagementURL: broker.ManagementURL, AMQPURL: "amqp://" + closed + "/",
		Credentials: queue.Credentials{Username: broker.Username, PasswordFile: brokerPW},
		Timeout:     queue.Duration{Duration: 500 * time.Millisecond},
	})
	target := httptest.NewServer(metrics.Handler(ctrl.metrics))
	defer target.Close()

	rules := filepath.Join(deploy.Dir(), "prometheus", "rabbitscale-rules.yaml")
	prom, err := harness.StartPrometheus(ctx, bin, t.TempDir(), strings.TrimPrefix(target.URL, "http://"), rules)
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()

	// Two scale-ups, the second clipped by max-replicas. A counter's first
	// sample shows no increase, so Prometheus must have scraped the first
	// scale-up before the second happens.
	waitSeries := func(expr string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if n, err := prom.Query(ctx, expr); err == nil && n > 0 {
				return
			}
		}
		t.Fatalf("prometheus never returned %s; log:\n%s", expr, prom.Log())
	}
	waitSeries(`up{job="rabbitscale"} == 1`)
	publish(ctx, t, q, 300)
	waitReplicas(ctx, t, kc, ns, "worker", 3, 15*time.Second)
	waitSeries(`rabbitscale_scale_events_total{namespace="` + ns + `", workload="worker"} == 1`)
	publish(ctx, t, q, 900) // 1200 wants 12, max-replicas 10
	waitReplicas(ctx, t, kc, ns, "worker", 10, 15*time.Second)

	exprs, err := deploy.DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "30s",
		"$namespace", ns, "$workload", "worker", "$kind", "Deployment")
	pending := map[string]string{}
	for where, e := range exprs {
		pending[where] = vars.Replace(e)
	}
	for deadline := time.Now().Add(45 * time.Second); len(pending) > 0 && time.Now().Before(deadline); time.Sleep(time.Second) {
		for where, e := range pending {
			n, err := prom.Query(ctx, e)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if n > 0 {
				delete(pending, where)
			}
		}
	}
	for _, where := range slices.Sorted(maps.Keys(pending)) {
		t.Errorf("%s never returned data: %s", where, pending[where])
	}

	health, err := prom.RuleHealth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(health) == 0 {
		t.Fatalf("prometheus loaded no rules from %s; log:\n%s", rules, prom.Log())
	}
	for name, h := range health {
		if !strings.HasPrefix(h, "ok") {
			t.Errorf("alert rule %s: health %q", name, h)
		}
	}
	if t.Failed() {
		t.Logf("prometheus log:\n%s", prom.Log())
	}
}
