//go:build integration

package integration

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/queue"
)

// tickInterval is the controller's tick in these tests. Reaction is bounded
// by it plus the broker's collect_statistics_interval (1 s on the test node).
const tickInterval = time.Second

// runningController is a controller running in this process against the
// shared API server and broker, as `rabbitscale run` would.
type runningController struct {
	stop func()
	// metrics is what the controller's /metrics would serve.
	metrics *prometheus.Registry
}

// startController starts a controller watching only ns, so that tests do
// not act on each other's workloads. Stop it with the returned value's stop.
func startController(t testing.TB, ns string, extraBrokers ...queue.BrokerConfig) *runningController {
	t.Helper()
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 50, 100 // as `rabbitscale run` by default
	kc := kubernetes.NewForConfigOrDie(cfg)
	brokers := openBrokers(t, extraBrokers...)
	readers := map[string]autoscaler.Snapshotter{}
	for _, name := range brokers.Names() {
		r, err := brokers.Reader(name)
		if err != nil {
			t.Fatal(err)
		}
		readers[name] = r
	}
	ctx, cancel := context.WithCancel(context.Background())
	eb := record.NewBroadcaster(record.WithContext(ctx))
	eb.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kc.CoreV1().Events("")})
	recorder := eb.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "rabbitscale"})
	factory := informers.NewSharedInformerFactoryWithOptions(kc, 0, informers.WithNamespace(ns))
	reg := metrics.NewRegistry()
	ctrl, err := autoscaler.New(autoscaler.Config{
		Kube: kc, Brokers: readers, Recorder: recorder, Interval: tickInterval, StateSyncPeriod: 2 * tickInterval,
		Observer: metrics.NewCollectors(reg),
	}, autoscaler.Informers{Namespace: ns, Workloads: factory})
	if err != nil {
		t.Fatalf("autoscaler.New: %v", err)
	}
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := ctrl.Run(ctx); err != nil {
			t.Errorf("controller Run: %v", err)
		}
	})
	var once sync.Once
	rc := &runningController{metrics: reg, stop: func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			factory.Shutdown()
			eb.Shutdown()
			_ = brokers.Close()
		})
	}}
	t.Cleanup(rc.stop)
	return rc
}

// openBrokers configures the broker named "default" as the test broker's
// management API, with the password in a file as a mounted Secret would be.
func openBrokers(t testing.TB, extra ...queue.BrokerConfig) *queue.Brokers {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(broker.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &queue.Config{Brokers: []queue.BrokerConfig{{
		Name:          "default",
		ManagementURL: broker.ManagementURL,
		Credentials:   queue.Credentials{Username: broker.Username, PasswordFile: pw},
		// Rates over a few of the test node's 1 s statistics intervals.
		RateWindow:  queue.Duration{Duration: 10 * time.Second},
		MinRateSpan: queue.Duration{Duration: 3 * time.Second},
	}}}
	cfg.Brokers = append(cfg.Brokers, extra...)
	cfg.Default()
	b, err := queue.Open(cfg, nil)
	if err != nil {
		t.Fatalf("queue.Open: %v", err)
	}
	return b
}

// metricValue returns the value of the series of family name whose labels
// include want, or -1 when there is none.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func uniqueQueue(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

func annotations(queueName string, kv ...string) map[string]string {
	a := map[string]string{"rabbitscale.io/queue": queueName}
	for i := 0; i+1 < len(kv); i += 2 {
		a["rabbitscale.io/"+kv[i]] = kv[i+1]
	}
	return a
}

func createDeployment(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string, replicas int32, ann map[string]string) {
	t.Helper()
	if _, err := kc.AppsV1().Deployments(ns).Create(ctx, workerDeployment(ns, name, replicas, ann), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Deployment %s: %v", name, err)
	}
}

func replicas(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string) int32 {
	t.Helper()
	d, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading Deployment %s: %v", name, err)
	}
	return ptr.Deref(d.Spec.Replicas, 1)
}

// waitReplicas polls spec.replicas until it equals want or the timeout
// passes, and returns when it got there.
func waitReplicas(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string, want int32, timeout time.Duration) time.Time {
	t.Helper()
	at, got := pollReplicas(ctx, t, kc, ns, name, want, timeout)
	if got != want {
		t.Fatalf("Deployment %s has %d replicas after %s, want %d; events:\n%s", name, got, timeout, want, eventsText(ctx, t, kc, ns, name))
	}
	return at
}

// pollReplicas polls spec.replicas every 100 ms until it equals want or the
// timeout passes, and returns when it stopped and the last value read.
func pollReplicas(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string, want int32, timeout time.Duration) (time.Time, int32) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := replicas(ctx, t, kc, ns, name)
		if got == want || time.Now().After(deadline) {
			return time.Now(), got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func events(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string) []corev1.Event {
	t.Helper()
	list, err := kc.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String(),
	})
	if err != nil {
		t.Fatalf("listing events: %v", err)
	}
	return list.Items
}

func eventsText(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string) string {
	var b strings.Builder
	for _, e := range events(ctx, t, kc, ns, name) {
		fmt.Fprintf(&b, "  %s %s x%d: %s\n", e.Type, e.Reason, e.Count, e.Message)
	}
	return b.String()
}

// waitEvent waits for an event of the given type and reason on name whose
// message contains every one of parts, and returns it.
func waitEvent(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name, typ, reason string, parts ...string) corev1.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
	next:
		for _, e := range events(ctx, t, kc, ns, name) {
			if e.Type != typ || e.Reason != reason {
				continue
			}
			for _, p := range parts {
				if !strings.Contains(e.Message, p) {
					continue next
				}
			}
			return e
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %s event %s containing %q on %s; events:\n%s", typ, reason, parts, name, eventsText(ctx, t, kc, ns, name))
	return corev1.Event{}
}

// waitManagementDepth polls the management API until it reports want
// messages in queueName, and returns when it did.
func waitManagementDepth(ctx context.Context, t testing.TB, queueName string, want int) time.Time {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if managementDepth(ctx, t, queueName) == want {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the management API never reported %d messages in %q", want, queueName)
	return time.Time{}
}

func purge(t testing.TB, queueName string) {
	t.Helper()
	ch, done := channel(t)
	defer done()
	if _, err := ch.QueuePurge(queueName, false); err != nil {
		t.Fatalf("purging %q: %v", queueName, err)
	}
}

// Test 1 and 2 of the controller: a backlog scales up within a tick of the
// broker's figures, with a Normal event giving the reason; once the backlog
// is gone, replicas come down only after the scale-down cooldown and never
// below min-replicas.
func TestControllerScalesUpOnBacklogAndDownAfterCooldown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("orders")
	const cooldown = 6 * time.Second
	createDeployment(ctx, t, kc, ns, "worker", 2, annotations(q,
		"target-depth-per-pod", "100", "min-replicas", "2", "max-replicas", "20",
		"scale-down-cooldown", cooldown.String()))
	ctrl := startController(t, ns)

	publish(ctx, t, q, 1000) // 1000 / 100 per pod = 10 pods
	published := time.Now()  // every message confirmed by the broker
	visible := waitManagementDepth(ctx, t, q, 1000)
	up := waitReplicas(ctx, t, kc, ns, "worker", 10, 15*time.Second)
	t.Logf("backlog of 1000: in the management API %s after the confirms, replicas 2 -> 10 %s after that (tick %s, collect_statistics_interval %s)",
		visible.Sub(published).Round(10*time.Millisecond), up.Sub(visible).Round(10*time.Millisecond), tickInterval, broker.StatsInterval)
	if lag := up.Sub(visible); lag > tickInterval+time.Second {
		t.Errorf("replicas changed %s after the broker reported the backlog, want within a tick (%s) plus 1s", lag, tickInterval)
	}
	waitEvent(ctx, t, kc, ns, "worker", corev1.EventTypeNormal, autoscaler.ReasonRescaled, "depth 1000", "scale 2 -> 10")
	worker := map[string]string{"kind": "Deployment", "namespace": ns, "workload": "worker"}
	scaledUp := map[string]string{"direction": "up", "driven_by": "depth"}
	maps.Copy(scaledUp, worker)
	if got := metricValue(t, ctrl.metrics, "rabbitscale_scale_events_total", scaledUp); got != 1 {
		t.Errorf("rabbitscale_scale_events_total{direction=up,driven_by=depth} = %v, want 1", got)
	}
	if got := metricValue(t, ctrl.metrics, "rabbitscale_workload_desired_replicas", worker); got != 10 {
		t.Errorf("rabbitscale_workload_desired_replicas = %v, want 10", got)
	}

	purge(t, q)
	down := waitReplicas(ctx, t, kc, ns, "worker", 2, cooldown+10*time.Second)
	if since := down.Sub(up); since < cooldown {
		t.Errorf("scaled down %s after the scale-up, before the %s cooldown", since, cooldown)
	}
	// And it stays at min-replicas: nothing drives it lower.
	time.Sleep(3 * tickInterval)
	if got := replicas(ctx, t, kc, ns, "worker"); got != 2 {
		t.Errorf("replicas = %d after the queue emptied, want min-replicas 2", got)
	}
}

// Test 3: with min-replicas 0 an idle workload goes to zero, and a message
// above activation-depth wakes it.
func TestControllerScalesToZeroAndWakes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("idle")
	publish(ctx, t, q, 0)
	createDeployment(ctx, t, kc, ns, "worker", 1, annotations(q,
		"target-depth-per-pod", "10", "min-replicas", "0", "max-replicas", "5",
		"activation-depth", "5", "scale-down-cooldown", "3s"))
	startController(t, ns)

	waitReplicas(ctx, t, kc, ns, "worker", 0, 30*time.Second)
	waitEvent(ctx, t, kc, ns, "worker", corev1.EventTypeNormal, autoscaler.ReasonRescaled, "scale 1 -> 0")

	publish(ctx, t, q, 3) // at or below activation-depth: stays asleep
	time.Sleep(3 * (tickInterval + broker.StatsInterval))
	if got := replicas(ctx, t, kc, ns, "worker"); got != 0 {
		t.Fatalf("replicas = %d with 3 messages <= activation-depth 5, want 0", got)
	}
	publish(ctx, t, q, 20) // 23 > 5: wake, 23 / 10 per pod = 3 pods
	waitReplicas(ctx, t, kc, ns, "worker", 3, 10*time.Second)
}

// Test 4: invalid annotations get a Warning naming the key and the value,
// the workload is left alone, and other workloads keep scaling.
func TestControllerReportsInvalidAnnotationsAndKeepsScalingOthers(t *testing.T) {
	// Built before the test's clock starts: on a cold build cache the
	// build alone took most of the two minutes.
	bin := rabbitscaleBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("mixed")
	createDeployment(ctx, t, kc, ns, "broken", 3, annotations(q,
		"target-depth-per-pod", "100", "max-replicas", "ten"))
	createDeployment(ctx, t, kc, ns, "healthy", 1, annotations(q,
		"target-depth-per-pod", "100", "max-replicas", "10"))
	startController(t, ns)

	publish(ctx, t, q, 400)
	waitReplicas(ctx, t, kc, ns, "healthy", 4, 10*time.Second)
	e := waitEvent(ctx, t, kc, ns, "broken", corev1.EventTypeWarning, autoscaler.ReasonInvalidAnnotations,
		`rabbitscale.io/max-replicas`, `"ten"`)
	if e.Count > 1 {
		t.Errorf("the same warning was recorded %d times, want once", e.Count)
	}
	if got := replicas(ctx, t, kc, ns, "broken"); got != 3 {
		t.Errorf("workload with invalid annotations has %d replicas, want its own 3 untouched", got)
	}

	// `rabbitscale status` lists both, the broken one with the field and
	// value at fault, and leaves out a Deployment without annotations.
	createDeployment(ctx, t, kc, ns, "plain", 1, nil)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.Kubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	var rows map[string][]string
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		// The table is stdout; stderr says the in-process controller here
		// has no Lease to ask for live decisions.
		cmd := exec.CommandContext(ctx, bin, "status", "--kubeconfig", kubeconfig, "-n", ns)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if out = string(b); err != nil {
			t.Fatalf("rabbitscale status: %v\n%s%s", err, out, stderr.String())
		}
		rows = map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(line)
			rows[f[1]] = f
		}
		if h := rows["deployment/healthy"]; len(h) > 5 && h[5] == "4" { // the decision annotation follows the scale
			break
		}
	}
	// NAMESPACE WORKLOAD QUEUE DEPTH CURRENT DESIRED LAST CHANGE DECIDED REASON
	if h := rows["deployment/healthy"]; len(h) < 6 || h[2] != q || h[3] != "400" || h[4] != "4" || h[5] != "4" {
		t.Errorf("status row for healthy = %q, want queue %s, depth 400, current 4, desired 4:\n%s", h, q, out)
	}
	if b := rows["deployment/broken"]; len(b) < 5 || b[4] != "3" ||
		!strings.Contains(out, "invalid annotations:") || !strings.Contains(out, `rabbitscale.io/max-replicas: "ten"`) {
		t.Errorf("status row for broken = %q, want current 3 and the invalid field and value:\n%s", b, out)
	}
	if _, ok := rows["deployment/plain"]; ok || len(rows) != 2 {
		t.Errorf("status lists %d workloads, want only the 2 annotated ones:\n%s", len(rows), out)
	}
}

// Test 6: a controller restarted in the middle of a cooldown continues from
// the state annotation: no scale-down before the cooldown that began with
// the first controller's scale-up.
func TestControllerRestartKeepsCooldown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("restart")
	const cooldown = 15 * time.Second
	createDeployment(ctx, t, kc, ns, "worker", 1, annotations(q,
		"target-depth-per-pod", "100", "max-replicas", "10", "scale-down-cooldown", cooldown.String()))
	first := startController(t, ns)
	publish(ctx, t, q, 500)
	up := waitReplicas(ctx, t, kc, ns, "worker", 5, 10*time.Second)
	first.stop()

	purge(t, q)
	startController(t, ns)
	down := waitReplicas(ctx, t, kc, ns, "worker", 1, cooldown+15*time.Second)
	if since := down.Sub(up); since < cooldown {
		t.Errorf("after a restart, scaled down %s after the scale-up, before the %s cooldown", since, cooldown)
	}
}

// Test 8: an HPA on the same Deployment makes rabbitscale stand aside and
// say so.
func TestControllerLeavesHPATargetsAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("hpa")
	createDeployment(ctx, t, kc, ns, "worker", 2, annotations(q, "target-depth-per-pod", "10", "max-replicas", "10"))
	_, err := kc.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "worker"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    4,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating HPA: %v", err)
	}
	startController(t, ns)
	publish(ctx, t, q, 100)

	waitEvent(ctx, t, kc, ns, "worker", corev1.EventTypeWarning, autoscaler.ReasonConflictingAutoscaler, "worker-hpa")
	time.Sleep(2 * (tickInterval + broker.StatsInterval))
	if got := replicas(ctx, t, kc, ns, "worker"); got != 2 {
		t.Errorf("replicas = %d under an HPA, want rabbitscale to leave them at 2", got)
	}
}

// Test 5: while the broker is down nothing is scaled down, a workload with
// fallback-replicas goes there after fallback-after, and scaling resumes
// within a tick once the broker's figures are back.
func TestControllerHoldsThroughBrokerOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	qa, qb := uniqueQueue("outage-a"), uniqueQueue("outage-b")
	publish(ctx, t, qa, 600)
	publish(ctx, t, qb, 600)
	createDeployment(ctx, t, kc, ns, "hold", 6, annotations(qa, "target-depth-per-pod", "100", "max-replicas", "20"))
	createDeployment(ctx, t, kc, ns, "fallback", 6, annotations(qb, "target-depth-per-pod", "100", "max-replicas", "20",
		"fallback-replicas", "3", "fallback-after", "5s"))
	startController(t, ns)
	time.Sleep(2 * tickInterval)

	if err := broker.Halt(ctx); err != nil {
		t.Fatalf("stopping the broker: %v", err)
	}
	t.Cleanup(func() { _ = broker.Resume(context.Background()) })
	down := time.Now()
	for time.Since(down) < 30*time.Second {
		if got := replicas(ctx, t, kc, ns, "hold"); got != 6 {
			t.Fatalf("replicas = %d %s into a broker outage, want 6 held", got, time.Since(down).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := replicas(ctx, t, kc, ns, "fallback"); got != 3 {
		t.Errorf("replicas = %d after 30 s of outage, want fallback-replicas 3", got)
	}
	waitEvent(ctx, t, kc, ns, "hold", corev1.EventTypeWarning, autoscaler.ReasonBrokerUnavailable, `broker "default"`)

	if err := broker.Resume(ctx); err != nil {
		t.Fatalf("starting the broker again: %v", err)
	}
	publish(ctx, t, qa, 600) // 1200 / 100 = 12
	visible := waitManagementDepth(ctx, t, qa, 1200)
	up := waitReplicas(ctx, t, kc, ns, "hold", 12, 15*time.Second)
	if lag := up.Sub(visible); lag > tickInterval+time.Second {
		t.Errorf("after the outage, replicas changed %s after the broker reported the backlog, want within a tick (%s) plus 1s", lag, tickInterval)
	}
	waitReplicas(ctx, t, kc, ns, "fallback", 6, 15*time.Second)
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// rabbitscaleBinary builds cmd/rabbitscale once per run, the way `make
// build` builds the binary the image ships (static, stripped), so that the
// figures measured on it are the shipped binary's.
func rabbitscaleBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rabbitscale-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "rabbitscale")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binary, "github.com/rabbitscale/rabbitscale/cmd/rabbitscale")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// runBinary starts `rabbitscale run` as its own process, as a Deployment's
// pod would, with a kubeconfig and a broker configuration file.
func runBinary(t testing.TB, dir, identity string, args ...string) *process {
	t.Helper()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if _, err := os.Stat(kubeconfig); err != nil { // a test may have written its own
		if err := cp.Kubeconfig(kubeconfig); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "brokers.yaml")); err != nil {
		if _, err := broker.WriteConfig(dir); err != nil {
			t.Fatal(err)
		}
	}
	return startProcess(t, dir, identity, rabbitscaleBinary(t), append([]string{"run",
		"--kubeconfig", kubeconfig, "--config", filepath.Join(dir, "brokers.yaml"),
		"--interval", tickInterval.String(), "--health-addr", "127.0.0.1:0",
		"--leader-election-identity", identity}, args...)...)
}

func leaseHolder(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string) string {
	t.Helper()
	l, err := kc.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

func waitLeaseHolder(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name, want string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if leaseHolder(ctx, t, kc, ns, name) == want {
			return time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("lease %s/%s is held by %q after %s, want %q", ns, name, leaseHolder(ctx, t, kc, ns, name), timeout, want)
	return time.Time{}
}

func rescaledBy(ctx context.Context, t testing.TB, kc kubernetes.Interface, ns, name string) []string {
	t.Helper()
	var out []string
	for _, e := range events(ctx, t, kc, ns, name) {
		if e.Reason == autoscaler.ReasonRescaled {
			out = append(out, fmt.Sprintf("%s x%d: %s", e.Source.Host, e.Count, e.Message[strings.LastIndex(e.Message, "; ")+2:]))
		}
	}
	slices.Sort(out)
	return out
}

// Test 7: two `rabbitscale run` processes with leader election. Only the
// leader scales; when it is killed the other takes over within the lease
// duration and carries on from the stored state, without repeating a step.
func TestLeaderElectionFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("leader")
	createDeployment(ctx, t, kc, ns, "worker", 1, annotations(q, "target-depth-per-pod", "100", "max-replicas", "20",
		"scale-up-cooldown", "0s"))
	dir := t.TempDir()
	const lease = 4 * time.Second
	leArgs := []string{"--namespace", ns, "--leader-election-namespace", ns, "--leader-election-id", "rabbitscale",
		"--leader-election-lease-duration", lease.String(), "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"}

	a := runBinary(t, dir, "a", leArgs...)
	waitLeaseHolder(ctx, t, kc, ns, "rabbitscale", "a", 30*time.Second)
	runBinary(t, dir, "b", leArgs...)

	publish(ctx, t, q, 500)
	waitReplicas(ctx, t, kc, ns, "worker", 5, 15*time.Second)
	time.Sleep(3 * tickInterval) // b is running and must not act
	if diff := cmp.Diff([]string{"a x1: scale 1 -> 5"}, rescaledBy(ctx, t, kc, ns, "worker")); diff != "" {
		t.Errorf("Rescaled events before the failover diff (-want +got):\n%s", diff)
	}

	if err := a.Process.Kill(); err != nil { // no chance to release the lease
		t.Fatal(err)
	}
	killed := time.Now()
	took := waitLeaseHolder(ctx, t, kc, ns, "rabbitscale", "b", 3*lease).Sub(killed)
	t.Logf("b took over %s after a was killed (lease duration %s)", took.Round(10*time.Millisecond), lease)
	if took > lease+2*time.Second {
		t.Errorf("takeover took %s, want within the lease duration %s (+2s)", took, lease)
	}

	publish(ctx, t, q, 500) // 1000 / 100 = 10
	waitReplicas(ctx, t, kc, ns, "worker", 10, 15*time.Second)
	time.Sleep(3 * tickInterval)
	want := []string{"a x1: scale 1 -> 5", "b x1: scale 5 -> 10"}
	if diff := cmp.Diff(want, rescaledBy(ctx, t, kc, ns, "worker")); diff != "" {
		t.Errorf("Rescaled events diff (-want +got):\n%s", diff)
	}
}
