//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/rabbitscale/rabbitscale/autoscaler"
)

// benchWorkloads is the fleet size of BenchmarkController.
const benchWorkloads = 1000

// BenchmarkController measures, on the real API server and broker with
// 1,000 annotated Deployments each on its own queue:
//
//   - tick-ms: one steady tick (one broker snapshot of every queue, 1,000
//     decisions, nothing to apply);
//   - first-tick-ms: the first tick, which also scales the 100 workloads
//     with a backlog (100 scale updates and 100 status patches) and writes
//     the first decision of as many others as `rabbitscale run`'s budget
//     allows (autoscaler.AnnotationWriteBudget: 12 at 50 QPS and a 1 s
//     tick);
//   - rss-MiB: peak RSS of a `rabbitscale run` process watching the same
//     1,000 Deployments after 10 ticks;
//   - reaction-s: from a confirmed publish burst to the updated
//     spec.replicas, with the process's 1 s tick and the broker's 1 s
//     collect_statistics_interval.
//
// Run: make bench-controller
func BenchmarkController(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Setup as fast as the API server takes it; the controller gets the
	// client limits `rabbitscale run` has by default.
	setup := rest.CopyConfig(cp.Config)
	setup.QPS, setup.Burst = 1000, 1000
	kc := kubernetes.NewForConfigOrDie(setup)
	ctrlCfg := rest.CopyConfig(cp.Config)
	ctrlCfg.QPS, ctrlCfg.Burst = 50, 100
	ns, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rabbitscale-bench-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	prefix := fmt.Sprintf("bench-%d-", time.Now().UnixNano())
	declareFleetQueues(b, prefix, benchWorkloads, 100)
	for i := range benchWorkloads {
		d := workerDeployment(ns.Name, fmt.Sprintf("worker-%d", i), 1, annotations(prefix+strconv.Itoa(i),
			"target-depth-per-pod", "10", "max-replicas", "50"))
		if _, err := kc.AppsV1().Deployments(ns.Name).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	waitManagementDepth(ctx, b, prefix+"0", 100)

	brokers := openBrokers(b)
	defer func() { _ = brokers.Close() }()
	r, err := brokers.Reader("default")
	if err != nil {
		b.Fatal(err)
	}
	ctrlKube := kubernetes.NewForConfigOrDie(ctrlCfg)
	factory := informers.NewSharedInformerFactoryWithOptions(ctrlKube, 0, informers.WithNamespace(ns.Name))
	ctrl, err := autoscaler.New(autoscaler.Config{Kube: ctrlKube, Brokers: map[string]autoscaler.Snapshotter{"default": r},
		Recorder: &record.FakeRecorder{}, Interval: time.Second,
		AnnotationWritesPerTick: autoscaler.AnnotationWriteBudget(float32(ctrlCfg.QPS), time.Second)}, autoscaler.Informers{Namespace: ns.Name, Workloads: factory})
	if err != nil {
		b.Fatal(err)
	}
	infCtx, stopInformers := context.WithCancel(ctx)
	factory.Start(infCtx.Done())
	defer func() { stopInformers(); factory.Shutdown() }()
	factory.WaitForCacheSync(infCtx.Done())

	first := ctrl.Tick(ctx)
	if first.Workloads != benchWorkloads || first.Changed != 100 || first.Errors != 0 {
		b.Fatalf("first tick: %d workloads, %d changed, %d errors; want %d, 100, 0", first.Workloads, first.Changed, first.Errors, benchWorkloads)
	}
	b.ResetTimer()
	var total time.Duration
	for b.Loop() {
		res := ctrl.Tick(ctx)
		total += res.Duration
		if res.Workloads != benchWorkloads || res.Errors != 0 {
			b.Fatalf("tick: %d workloads, %d errors", res.Workloads, res.Errors)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Duration.Microseconds())/1000, "first-tick-ms")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "tick-ms")

	// The same fleet watched by the real binary.
	dir := b.TempDir()
	cmd := runBinary(b, dir, "bench", "--namespace", ns.Name, "--leader-elect=false")
	time.Sleep(10 * time.Second)
	target := prefix + "1"
	publish(ctx, b, target, 400) // 100 + 400 = 500 / 10 per pod = 50
	published := time.Now()
	deadline := published.Add(30 * time.Second)
	for {
		d, err := kc.AppsV1().Deployments(ns.Name).Get(ctx, "worker-1", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if *d.Spec.Replicas == 50 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("worker-1 has %d replicas 30 s after the burst, want 50", *d.Spec.Replicas)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.ReportMetric(time.Since(published).Seconds(), "reaction-s")
	b.ReportMetric(peakRSSMiB(b, cmd.Process.Pid), "rss-MiB")
}

// peakRSSMiB reads a process's peak resident set size (VmHWM).
func peakRSSMiB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

// declareFleetQueues declares n durable queues named prefix0..prefix(n-1) and
// puts msgs messages in the first tenth of them.
func declareFleetQueues(b *testing.B, prefix string, n, msgs int) {
	conn, err := amqp.Dial(broker.AMQPURL)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := ch.QueueDeclare(prefix+strconv.Itoa(i), true, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	var confirms []*amqp.DeferredConfirmation
	for i := range n / 10 {
		for range msgs {
			dc, err := ch.PublishWithDeferredConfirm("", prefix+strconv.Itoa(i), false, false, amqp.Publishing{Body: []byte("x")})
			if err != nil {
				b.Fatal(err)
			}
			confirms = append(confirms, dc)
		}
	}
	for _, dc := range confirms {
		if !dc.Wait() {
			b.Fatal("publish not confirmed")
		}
	}
}
