//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/integration/harness"
)

// The fault suite: two real `rabbitscale run` processes with leader
// election against the real API server and the real broker, plus a broker
// of the test's own (badBroker) that answers whatever a case asks of it.
// Leases are short (4 s, renew deadline 3 s, retry 500 ms) so that the
// suite takes minutes; the assertions are the ones a user would check.

const (
	faultLease   = 4 * time.Second
	faultRenew   = 3 * time.Second
	faultRetry   = 500 * time.Millisecond
	badTimeout   = 2 * time.Second // the misbehaving broker's configured timeout
	badQueues    = 4               // queues, and workloads, on the misbehaving broker
	badDepth     = 600             // each of its queues, when it answers sanely: 6 pods
	faultTarget  = 100             // target-depth-per-pod everywhere
	reactionGoal = tickInterval + harness.StatsInterval + time.Second
)

// badBroker plays a management API that misbehaves as its mode says.
type badBroker struct {
	*httptest.Server
	mode     atomic.Value // string
	requests atomic.Int64
}

func newBadBroker(t *testing.T) *badBroker {
	b := &badBroker{}
	b.mode.Store("ok")
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		item := func(ready string) string {
			var items []string
			for i := range badQueues {
				items = append(items, fmt.Sprintf(`{"name":"bad-%d","vhost":"/","messages_ready":%s,"messages_unacknowledged":0,"consumers":1}`, i, ready))
			}
			return strings.Join(items, ",")
		}
		page := func(items string, pageCount int) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"items":[%s],"page":1,"page_count":%d,"page_size":500,"filtered_count":%d}`, items, pageCount, badQueues)
		}
		switch b.mode.Load().(string) {
		case "ok":
			page(item(strconv.Itoa(badDepth)), 1)
		case "negative":
			page(item("-100"), 1)
		case "string":
			page(item(`"600"`), 1)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><body>Please log in</body></html>")
		case "500":
			http.Error(w, `{"error":"internal_server_error"}`, http.StatusInternalServerError)
		case "empty":
		case "huge-page-count":
			page("", 1000000)
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		}
	}))
	t.Cleanup(b.Close)
	return b
}

// apiProxy forwards TCP to the API server until Cut, and again after
// Restore: the API server as a partition would make it, unreachable.
type apiProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newAPIProxy(t *testing.T, target string) *apiProxy {
	p := &apiProxy{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), target: target, conns: map[net.Conn]bool{}}
	p.Restore(t)
	t.Cleanup(p.Cut)
	return p
}

func (p *apiProxy) Restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
}

// Cut closes the listener and every connection through it.
func (p *apiProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// faultRig is one namespace with its workloads and two replicas of the
// controller.
type faultRig struct {
	t      *testing.T
	ctx    context.Context
	kc     kubernetes.Interface
	ns     string
	dir    string
	bad    *badBroker
	proxy  *apiProxy
	procs  map[string]*process
	health map[string]int
	leArgs []string
}

func newFaultRig(t *testing.T, ctx context.Context, proxied bool) *faultRig {
	t.Helper()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	r := &faultRig{t: t, ctx: ctx, kc: kc, ns: createNamespace(ctx, t, kc), dir: t.TempDir(), bad: newBadBroker(t),
		procs: map[string]*process{}, health: map[string]int{}}
	r.leArgs = []string{"--namespace", r.ns, "--leader-election-namespace", r.ns, "--leader-election-id", "rabbitscale",
		"--leader-election-lease-duration", faultLease.String(), "--leader-election-renew-deadline", faultRenew.String(),
		"--leader-election-retry-period", faultRetry.String()}
	if _, err := broker.WriteConfig(r.dir); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(broker.AMQPURL)
	if err != nil {
		t.Fatal("AMQP URL does not parse")
	}
	u.User = nil
	f, err := os.OpenFile(filepath.Join(r.dir, "brokers.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, `- name: amqp
  source: amqp
  amqpURL: %s
  connectionName: %s
  credentials:
    username: %s
    passwordFile: %s
- name: bad
  managementURL: %s
  timeout: %s
  credentials:
    username: monitor
    passwordFile: %s
`, u, r.ns, broker.Username, filepath.Join(r.dir, "password"), r.bad.URL, badTimeout, filepath.Join(r.dir, "password"))
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(r.dir, "kubeconfig")
	if err := cp.Kubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	if proxied {
		cfg, err := clientcmd.LoadFromFile(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cfg.Clusters {
			cu, err := url.Parse(c.Server)
			if err != nil {
				t.Fatal(err)
			}
			r.proxy = newAPIProxy(t, cu.Host)
			cu.Host = r.proxy.addr
			c.Server = cu.String()
		}
		if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// start runs a replica named id.
func (r *faultRig) start(id string) *process {
	r.t.Helper()
	port := freePort(r.t)
	r.health[id] = port
	args := append([]string{"--leader-elect"}, r.leArgs...)
	p := runBinary(r.t, r.dir, id, append(args, "--health-addr", fmt.Sprintf("127.0.0.1:%d", port))...)
	r.procs[id] = p
	return p
}

// pair starts a, waits for it to lead, then starts b as its standby.
func (r *faultRig) pair() {
	r.t.Helper()
	r.start("a")
	waitLeaseHolder(r.ctx, r.t, r.kc, r.ns, "rabbitscale", "a", 30*time.Second)
	r.start("b")
	r.waitHealthy("b")
}

func (r *faultRig) waitHealthy(id string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := r.scrape(id); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("replica %s serves no /metrics after 30s", id)
}

// scrape returns a replica's /metrics.
func (r *faultRig) scrape(id string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.health[id]))
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metric is the value of the first series of name whose labels contain
// every part, or -1.
func (r *faultRig) metric(id, name string, parts ...string) float64 {
	body, err := r.scrape(id)
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			return v
		}
	}
	return -1
}

// deploy creates a worker on broker b consuming q at faultTarget per pod.
func (r *faultRig) deploy(name, brokerName, q string, replicas int32, kv ...string) {
	r.t.Helper()
	createDeployment(r.ctx, r.t, r.kc, r.ns, name, replicas, annotations(q, append([]string{"broker", brokerName,
		"target-depth-per-pod", strconv.Itoa(faultTarget), "max-replicas", "40", "scale-up-cooldown", "0s"}, kv...)...))
}

// watchReplicas records every replica count a Deployment shows until the
// returned stop is called, which returns them.
func (r *faultRig) watchReplicas(names ...string) (stop func() map[string][]int32) {
	seen := map[string][]int32{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			for _, n := range names {
				d, err := r.kc.AppsV1().Deployments(r.ns).Get(r.ctx, n, metav1.GetOptions{})
				if err != nil {
					continue
				}
				v := *d.Spec.Replicas
				if l := seen[n]; len(l) == 0 || l[len(l)-1] != v {
					seen[n] = append(seen[n], v)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	return func() map[string][]int32 {
		close(done)
		wg.Wait()
		return seen
	}
}

// neverBelow fails the test when a workload's replicas, as watchReplicas
// saw them, left lo..hi.
func neverBelow(t *testing.T, seen map[string][]int32, lo, hi int32, when string) {
	t.Helper()
	for name, vs := range seen {
		for _, v := range vs {
			if v < lo || v > hi {
				t.Errorf("%s went through replicas %v %s, want them within %d..%d", name, vs, when, lo, hi)
				break
			}
		}
	}
}

// exited waits up to timeout for p to exit and returns its exit code, or
// -1 when it is still running.
func exited(p *process, timeout time.Duration) int {
	done := make(chan int, 1)
	go func() {
		st, err := p.Process.Wait()
		if err != nil {
			done <- -2
			return
		}
		done <- st.ExitCode()
	}()
	select {
	case code := <-done:
		return code
	case <-time.After(timeout):
		return -1
	}
}

// running reports whether p is alive.
func running(p *process) bool { return p.Process.Signal(syscall.Signal(0)) == nil }

// TestFaultMisbehavingBroker: a broker that answers nonsense, errors,
// nothing or slowly leaves its own workloads holding, counts an error of
// the right reason, and never delays the real broker's workloads beyond
// their normal reaction.
func TestFaultMisbehavingBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newFaultRig(t, ctx, false)
	for i := range badQueues {
		r.deploy(fmt.Sprintf("bad-%d", i), "bad", fmt.Sprintf("bad-%d", i), 6)
	}
	q := uniqueQueue("healthy")
	r.deploy("healthy", "default", q, 1)
	r.pair()
	time.Sleep(3 * tickInterval)
	goroutines := r.metric("a", "go_goroutines")

	badNames := make([]string, badQueues)
	for i := range badNames {
		badNames[i] = fmt.Sprintf("bad-%d", i)
	}
	published := 0
	cases := []struct{ mode, reason, text string }{
		{"negative", "invalid_response", "messages_ready is -100, a negative count"},
		{"string", "invalid_response", "messages_ready"},
		{"html", "invalid_response", "invalid response from broker"},
		{"500", "unavailable", "HTTP 500"},
		{"empty", "invalid_response", "invalid response from broker"},
		{"huge-page-count", "invalid_response", "page_count is 1000000, beyond the cap of 1000 pages"},
		{"slow", "unavailable", "no answer"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			errsBefore := r.metric("a", "rabbitscale_broker_request_errors_total", `broker="bad"`, `reason="`+tc.reason+`"`)
			reqBefore := r.bad.requests.Load()
			r.bad.mode.Store(tc.mode)
			stop := r.watchReplicas(badNames...)
			time.Sleep(2 * tickInterval)

			// The healthy broker's workload reacts as fast as ever.
			published += faultTarget
			publish(ctx, t, q, faultTarget)
			visible := waitManagementDepth(ctx, t, q, published)
			up := waitReplicas(ctx, t, r.kc, r.ns, "healthy", int32(published/faultTarget), 15*time.Second)
			lag := up.Sub(visible)
			t.Logf("%s: healthy workload scaled %s after the backlog was visible", tc.mode, lag.Round(10*time.Millisecond))
			if lag > tickInterval+time.Second {
				t.Errorf("healthy workload reacted %s after its backlog was visible, want within a tick (%s) + 1s", lag, tickInterval)
			}
			time.Sleep(tickInterval)
			neverBelow(t, stop(), 6, 6, "while its broker answered "+tc.mode)
			if got := r.metric("a", "rabbitscale_broker_request_errors_total", `broker="bad"`, `reason="`+tc.reason+`"`); got <= errsBefore {
				t.Errorf("broker_request_errors_total{reason=%q} = %v, want more than %v", tc.reason, got, errsBefore)
			}
			e := waitEvent(ctx, t, r.kc, r.ns, "bad-0", corev1.EventTypeWarning, autoscaler.ReasonBrokerUnavailable, tc.text)
			if strings.Contains(e.Message, broker.Password) || strings.Contains(e.Message, "columns") || strings.Count(e.Message, `broker "bad"`) != 1 {
				t.Errorf("event %q: want the broker named once, no query string, no password", e.Message)
			}
			// Bounded work: at most a request or two per tick.
			ticks := 4 * time.Second / tickInterval
			if n := r.bad.requests.Load() - reqBefore; n > int64(2*ticks) {
				t.Errorf("%d requests to the bad broker in about %d ticks, want at most 2 per tick", n, ticks)
			}
			r.bad.mode.Store("ok")
		})
	}
	// Back to sane answers: its workloads are read again, with no change.
	time.Sleep(3 * tickInterval)
	if got := r.metric("a", "rabbitscale_broker_up", `broker="bad"`); got != 1 {
		t.Errorf("broker_up{bad} = %v after sane answers, want 1", got)
	}
	if g := r.metric("a", "go_goroutines"); g > goroutines+10 {
		t.Errorf("go_goroutines = %v after the faults, want back near the %v before them", g, goroutines)
	}
	t.Logf("goroutines: %v before the faults, %v after", goroutines, r.metric("a", "go_goroutines"))
}

// TestFaultBrokerKilled: the real broker is SIGKILLed and down for 45 s.
// No workload is scaled down because of it; once it is back, every source
// reads it again within a tick and a statistics interval, over at most one
// AMQP connection; a queue deleted in use holds with QueueNotFound.
func TestFaultBrokerKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newFaultRig(t, ctx, false)
	qm, qa := uniqueQueue("killed-mgmt"), uniqueQueue("killed-amqp")
	publish(ctx, t, qm, 600)
	publish(ctx, t, qa, 600)
	r.deploy("mgmt", "default", qm, 1)
	r.deploy("amqp", "amqp", qa, 1)
	r.pair()
	waitReplicas(ctx, t, r.kc, r.ns, "mgmt", 6, 20*time.Second)
	waitReplicas(ctx, t, r.kc, r.ns, "amqp", 6, 20*time.Second)
	goroutines := r.metric("a", "go_goroutines")

	stop := r.watchReplicas("mgmt", "amqp")
	if err := broker.Kill(ctx); err != nil {
		t.Fatalf("killing the broker: %v", err)
	}
	t.Cleanup(func() { _ = broker.Resume(context.Background()) })
	time.Sleep(45 * time.Second)
	if err := broker.Resume(ctx); err != nil {
		t.Fatalf("starting the broker again: %v", err)
	}
	back := time.Now()
	readAgain := map[string]time.Duration{}
	for deadline := back.Add(reactionGoal + 5*time.Second); len(readAgain) < 2 && time.Now().Before(deadline); {
		for _, b := range []string{"default", "amqp"} {
			if _, ok := readAgain[b]; !ok && r.metric("a", "rabbitscale_broker_up", `broker="`+b+`"`) == 1 {
				readAgain[b] = time.Since(back)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, b := range []string{"default", "amqp"} {
		took, ok := readAgain[b]
		t.Logf("broker %s read again %s after the node answered", b, took.Round(10*time.Millisecond))
		if !ok || took > reactionGoal {
			t.Errorf("broker %s read again after %s (found: %v), want within a tick + a statistics interval + 1s (%s)", b, took, ok, reactionGoal)
		}
	}
	time.Sleep(2 * tickInterval)
	neverBelow(t, stop(), 6, 40, "during the outage")
	if n := amqpConnections(ctx, t, r.ns); n > 1 {
		t.Errorf("%d AMQP connections named %q, want at most 1 per broker", n, r.ns)
	}
	time.Sleep(2 * tickInterval)
	if g := r.metric("a", "go_goroutines"); g > goroutines+10 {
		t.Errorf("go_goroutines = %v after the outage, want back near the %v before it", g, goroutines)
	}
	t.Logf("goroutines: %v before the outage, %v after", goroutines, r.metric("a", "go_goroutines"))

	// A queue deleted in use: hold, and say so, from every source.
	deleteQueue(t, qm)
	deleteQueue(t, qa)
	waitEvent(ctx, t, r.kc, r.ns, "mgmt", corev1.EventTypeWarning, autoscaler.ReasonQueueNotFound, qm)
	waitEvent(ctx, t, r.kc, r.ns, "amqp", corev1.EventTypeWarning, autoscaler.ReasonQueueNotFound, qa)
	for _, n := range []string{"mgmt", "amqp"} {
		if got := replicas(ctx, t, r.kc, r.ns, n); got != 6 {
			t.Errorf("%s replicas = %d after its queue was deleted, want 6 held", n, got)
		}
	}
}

// amqpConnections counts the broker's connections with that name.
func amqpConnections(ctx context.Context, t *testing.T, name string) int {
	t.Helper()
	var n int
	for range 10 { // the management API lists connections a statistics interval late
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, broker.ManagementURL+"/api/connections?columns=client_properties.connection_name", nil)
		req.SetBasicAuth(broker.Username, broker.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		n = strings.Count(string(b), `"connection_name":"`+name+`"`)
		if n > 0 {
			return n
		}
		time.Sleep(time.Second)
	}
	return n
}

// TestFaultLeaderPaused: the leader is SIGSTOPped for 30 s. The standby
// takes over within the lease; the old leader, resumed, writes nothing and
// exits; the new leader stays.
func TestFaultLeaderPaused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newFaultRig(t, ctx, false)
	q := uniqueQueue("paused")
	r.deploy("worker", "default", q, 1)
	r.pair()
	publish(ctx, t, q, 300)
	waitReplicas(ctx, t, r.kc, r.ns, "worker", 3, 20*time.Second)

	a, b := r.procs["a"], r.procs["b"]
	if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	took := waitLeaseHolder(ctx, t, r.kc, r.ns, "rabbitscale", "b", 3*faultLease).Sub(stopped)
	t.Logf("b took over %s after a was stopped (lease %s, retry %s)", took.Round(10*time.Millisecond), faultLease, faultRetry)
	// client-go's standby sees the last renewal up to a jittered retry
	// period (1.2x) late and acquires on its next jittered retry.
	if bound := faultLease + 3*faultRetry + 500*time.Millisecond; took > bound {
		t.Errorf("takeover took %s, want within the lease %s + two jittered retry periods (%s)", took, faultLease, bound)
	}
	publish(ctx, t, q, 300) // b scales 3 -> 6 while a sleeps
	waitReplicas(ctx, t, r.kc, r.ns, "worker", 6, 20*time.Second)
	time.Sleep(30*time.Second - time.Since(stopped))

	if err := a.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	code := exited(a, 15*time.Second)
	t.Logf("a exited %s after SIGCONT with status %d", time.Since(resumed).Round(10*time.Millisecond), code)
	if code <= 0 {
		t.Errorf("a resumed after losing its lease: exit status %d, want a prompt non-zero exit", code)
	}
	if !strings.Contains(a.Output(), "Lost the lease") {
		t.Errorf("a's log does not say it lost the lease")
	}
	time.Sleep(2 * tickInterval)
	if !running(b) {
		t.Errorf("b exited when a came back")
	}
	if h := leaseHolder(ctx, t, r.kc, r.ns, "rabbitscale"); h != "b" {
		t.Errorf("lease held by %q after a resumed, want b", h)
	}
	for _, w := range writesBy(ctx, t, r.kc, r.ns, "worker", "rabbitscale-a") {
		if !w.Before(resumed.Truncate(time.Second)) {
			t.Errorf("a wrote the workload at %s, after it resumed at %s", w, resumed)
		}
	}
	if diff := rescaledBy(ctx, t, r.kc, r.ns, "worker"); len(diff) != 2 || !strings.HasPrefix(diff[0], "a x1: scale 1 -> 3") || !strings.HasPrefix(diff[1], "b x1: scale 3 -> 6") {
		t.Errorf("Rescaled events = %q, want a's 1 -> 3 and b's 3 -> 6 only", diff)
	}
	if got := replicas(ctx, t, r.kc, r.ns, "worker"); got != 6 {
		t.Errorf("replicas = %d, want 6", got)
	}
}

// writesBy returns the times at which manager last wrote the workload, from
// its managedFields.
func writesBy(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name, manager string) []time.Time {
	t.Helper()
	d, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, m := range d.ManagedFields {
		if m.Manager == manager && m.Time != nil {
			out = append(out, m.Time.Time)
		}
	}
	return out
}

// TestFaultAPIServerUnreachable: the replicas lose the API server for 30 s,
// longer than the renew deadline. The leader lets go and exits within
// seconds, with no hang; the standby does not panic, takes the lease once
// the API server is back and ticks again; no workload is scaled down.
func TestFaultAPIServerUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newFaultRig(t, ctx, true)
	q := uniqueQueue("partition")
	publish(ctx, t, q, 400)
	r.deploy("worker", "default", q, 1)
	r.pair()
	waitReplicas(ctx, t, r.kc, r.ns, "worker", 4, 20*time.Second)
	stop := r.watchReplicas("worker")

	r.proxy.Cut()
	cut := time.Now()
	code := exited(r.procs["a"], faultRenew+exitGraceBound)
	t.Logf("a exited %s after the API server became unreachable, status %d (renew deadline %s)", time.Since(cut).Round(10*time.Millisecond), code, faultRenew)
	if code <= 0 {
		t.Fatalf("leader did not exit within the renew deadline %s + %s of losing the API server: status %d", faultRenew, exitGraceBound, code)
	}
	time.Sleep(30*time.Second - time.Since(cut))
	if !running(r.procs["b"]) {
		t.Fatalf("the standby exited during the outage:\n%s", harness.Tail([]byte(r.procs["b"].Output()), 20))
	}
	r.proxy.Restore(t)
	restored := time.Now()
	took := waitLeaseHolder(ctx, t, r.kc, r.ns, "rabbitscale", "b", 30*time.Second).Sub(restored)
	t.Logf("b took the lease %s after the API server was reachable again", took.Round(10*time.Millisecond))
	publish(ctx, t, q, 200) // 600: b must tick
	up := waitReplicas(ctx, t, r.kc, r.ns, "worker", 6, 30*time.Second)
	t.Logf("b scaled %s after the API server was back", up.Sub(restored).Round(10*time.Millisecond))
	if lag := up.Sub(restored); lag > faultLease+5*time.Second+reactionGoal {
		t.Errorf("ticking again took %s after the API server came back, want within a few seconds", lag)
	}
	neverBelow(t, stop(), 4, 40, "around the outage")
	if out := r.procs["b"].Output(); strings.Contains(out, "panic") {
		t.Errorf("b panicked:\n%s", harness.Tail([]byte(out), 30))
	}
}

// exitGraceBound is how long after the renew deadline the exit may take.
const exitGraceBound = 5 * time.Second

// TestFaultLeaderKilledMidCooldown: the leader scales up and is killed; the
// standby takes over and does not scale down before the scale-down
// cooldown that began with the leader's scale-up is over.
func TestFaultLeaderKilledMidCooldown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newFaultRig(t, ctx, false)
	q := uniqueQueue("cooldown")
	const cooldown = 20 * time.Second
	r.deploy("worker", "default", q, 1, "scale-down-cooldown", cooldown.String())
	r.pair()
	publish(ctx, t, q, 500)
	scaledUp := waitReplicas(ctx, t, r.kc, r.ns, "worker", 5, 20*time.Second)
	purge(t, q)
	if err := r.procs["a"].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitLeaseHolder(ctx, t, r.kc, r.ns, "rabbitscale", "b", 3*faultLease)
	down, got := pollReplicas(ctx, t, r.kc, r.ns, "worker", 1, cooldown+30*time.Second)
	if got != 1 {
		t.Fatalf("replicas = %d %s after the scale-up, want 1 once the cooldown is over", got, cooldown+30*time.Second)
	}
	t.Logf("b scaled down %s after a's scale-up (cooldown %s)", down.Sub(scaledUp).Round(100*time.Millisecond), cooldown)
	if early := down.Sub(scaledUp); early < cooldown {
		t.Errorf("scaled down %s after the scale-up, before the %s cooldown ended", early, cooldown)
	}
}

// TestFaultManagementPluginDisabled: the management plugin is disabled at
// runtime, the broker still serving AMQP. Workloads on the management
// source hold with a warning; once it is enabled again they are read and
// scaled again.
func TestFaultManagementPluginDisabled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newFaultRig(t, ctx, false)
	q := uniqueQueue("plugin")
	publish(ctx, t, q, 300)
	r.deploy("worker", "default", q, 1)
	r.pair()
	waitReplicas(ctx, t, r.kc, r.ns, "worker", 3, 20*time.Second)

	stop := r.watchReplicas("worker")
	if err := broker.Plugins(ctx, "disable", "rabbitmq_management"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Plugins(context.Background(), "enable", "rabbitmq_management") })
	off := time.Now()
	purge(t, q) // the queue empties while nobody can see it
	e := waitEvent(ctx, t, r.kc, r.ns, "worker", corev1.EventTypeWarning, autoscaler.ReasonBrokerUnavailable, `broker "default"`)
	t.Logf("warning %s after the plugin was disabled: %s", time.Since(off).Round(100*time.Millisecond), e.Message)
	time.Sleep(10 * time.Second)
	neverBelow(t, stop(), 3, 3, "while the management API was off")

	if err := broker.Plugins(ctx, "enable", "rabbitmq_management"); err != nil {
		t.Fatal(err)
	}
	on := time.Now()
	publish(ctx, t, q, 500) // 500 / 100 = 5
	up := waitReplicas(ctx, t, r.kc, r.ns, "worker", 5, 60*time.Second)
	t.Logf("scaled 3 -> 5 %s after the plugin was enabled again", up.Sub(on).Round(100*time.Millisecond))
}
