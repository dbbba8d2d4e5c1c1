package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rabbitscale/rabbitscale/queue"
)

// TestDashboardQueriesReturnDataInPrometheus has a real Prometheus scrape
// a Controller that is observing a scaling workload, then runs every
// dashboard query (variables set to the observed workload) and requires each
// to return at least one series: a query that filters or groups on a label
// the series do not have, or names a renamed metric, shows "No data".
func TestDashboardQueriesReturnDataInPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prometheus is required in CI (Debian package prometheus): %v", err)
		}
		t.Skipf("prometheus not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	reg := NewRegistry()
	c := NewController(reg)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { observeTraffic(ctx, c) })
	target := httptest.NewServer(Handler(reg))
	defer target.Close()

	promURL := startPrometheus(ctx, t, bin, strings.TrimPrefix(target.URL, "http://"))

	d, panels, _ := loadDashboard(t)
	exprs := dashboardExprs(d, panels)
	r := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "10s", `"$namespace"`, `"shop"`, `"$workload"`, `"worker"`, `"$kind"`, `"Deployment"`)
	empty := map[string]string{}
	deadline := time.Now().Add(45 * time.Second)
	for {
		clear(empty)
		for where, e := range exprs {
			if m := labelValues.FindStringSubmatch(e); m != nil {
				e = m[1]
			}
			n, err := instantQuery(ctx, promURL, r.Replace(e))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if n == 0 {
				empty[where] = r.Replace(e)
			}
		}
		if len(empty) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, where := range slices.Sorted(func(yield func(string) bool) {
		for k := range empty {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Errorf("%s returns no series: %s", where, empty[where])
	}
}

// observeTraffic drives c as the controller would for a workload scaling
// up on a backlog and a broker with a failing read, until ctx ends.
func observeTraffic(ctx context.Context, c *Controller) {
	obs, d, spec := scaleUp()
	spec.Broker, spec.Queues = "main", []string{"orders"}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		c.ObserveWorkload("Deployment", "shop", "worker", spec.Broker, QueueLabel(spec), obs, d, spec)
		c.ObserveScale("Deployment", "shop", "worker", Direction(d.Current, d.Desired), d.DrivenBy)
		c.ObserveApply(3 * time.Millisecond)
		c.ObserveBrokerRequest("main", 12*time.Millisecond, nil)
		if i%2 == 0 {
			c.ObserveBrokerRequest("backup", time.Second, &queue.BrokerError{Broker: "backup", Kind: queue.ErrBrokerUnavailable})
			c.ObserveError(ErrorKindBroker)
		}
		c.ObserveTick(20*time.Millisecond, time.Now())
		obs.Queue.Ready += 10
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func startPrometheus(ctx context.Context, t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: rabbitscale
    static_configs: [{targets: [%q]}]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%s", out)
		}
	})
	u := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(u + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready at %s after 30s: %v", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// instantQuery runs expr now and returns the number of series.
func instantQuery(ctx context.Context, base, expr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query %q: %w", expr, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("query %q: %w", expr, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	return len(body.Data.Result), nil
}
