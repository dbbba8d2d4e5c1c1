package metrics

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rabbitscale/rabbitscale/integration/harness"
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
	c := NewCollectors(reg)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { observeTraffic(ctx, c) })
	target := httptest.NewServer(Handler(reg))
	defer target.Close()

	prom, err := harness.StartPrometheus(ctx, bin, t.TempDir(), strings.TrimPrefix(target.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()

	exprs := dashboardExprs(t)
	r := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "10s", `"$namespace"`, `"shop"`, `"$workload"`, `"worker"`, `"$kind"`, `"Deployment"`)
	empty := map[string]string{}
	deadline := time.Now().Add(45 * time.Second)
	for {
		clear(empty)
		for where, e := range exprs {
			if m := labelValues.FindStringSubmatch(e); m != nil {
				e = m[1]
			}
			n, err := prom.Query(ctx, r.Replace(e))
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
// up on a backlog, a workload with invalid annotations and a broker with
// a failing read, until ctx ends.
func observeTraffic(ctx context.Context, c *Collectors) {
	obs, d, spec := scaleUp()
	spec.Broker, spec.Queue.Names = "main", []string{"orders"}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		c.ObserveWorkload("Deployment", "shop", "worker", spec.Broker, spec.Queue.String(), obs, d, spec)
		c.ObserveAnnotationsInvalid("Deployment", "shop", "broken")
		c.ObserveScale("Deployment", "shop", "worker", Direction(d.Current, d.Desired), d.DrivenBy)
		c.ObserveApply(3 * time.Millisecond)
		c.ObserveBrokerRequest("main", 12*time.Millisecond, nil)
		if i%2 == 0 {
			c.ObserveBrokerRequest("backup", time.Second, &queue.BrokerError{Broker: "backup", Kind: queue.ErrBrokerUnavailable})
			c.ObserveError(ErrorKindBroker)
			c.ObserveFreshRead("main", 4*time.Millisecond, &queue.BrokerError{Broker: "main", Op: "amqp dial", Kind: queue.ErrBrokerUnavailable})
		} else {
			c.ObserveFreshRead("main", 2*time.Millisecond, nil)
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
