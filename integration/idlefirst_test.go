//go:build integration

package integration

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/queue"
)

// consumeFrom opens a consumer on q whose connection comes from the source
// address ip (any 127.x address works on Linux loopback), so that the
// broker sees it as that pod. With hold it never acknowledges: up to
// prefetch messages stay unacknowledged on its channel. It returns a
// channel that receives every delivery.
func consumeFrom(t *testing.T, ip, q string, prefetch int) <-chan amqp.Delivery {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := amqp.DialConfig(broker.AMQPURL, amqp.Config{Dial: func(network, addr string) (net.Conn, error) {
		return d.Dial(network, addr)
	}})
	if err != nil {
		t.Fatalf("dialing the broker from %s: %v", ip, redactedErr(err))
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q, "pod-"+ip, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("consuming %q from %s: %v", q, ip, err)
	}
	return deliveries
}

// createRunningPod creates a pod of the worker Deployment and gives it the
// status a kubelet would: Running, Ready, and the pod IP. No kubelet runs
// against the test API server.
func createRunningPod(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name, ip string) {
	t.Helper()
	tmpl := workerDeployment(ns, "worker", 1, nil).Spec.Template
	p, err := kc.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: tmpl.Labels},
		Spec:       tmpl.Spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	now := metav1.Now()
	p.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      ip,
		PodIPs:     []corev1.PodIP{{IP: ip}},
		StartTime:  &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
	}
	if _, err := kc.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the status of pod %s (pod IP %s): %v", name, ip, err)
	}
}

// deletionCost is the pod's deletion cost as its ReplicaSet reads it: 0
// when unset.
func deletionCost(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name string) int {
	t.Helper()
	p, err := kc.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := p.Annotations[autoscaler.DeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("pod %s: %s: %q is not an integer", name, autoscaler.DeletionCostAnnotation, v)
	}
	return n
}

// Test 9: idle-first. Two consumers, one holding unacknowledged messages
// and one idle, connect from the IPs of two pods of a Deployment; on the
// scale-down from 2 to 1 the busy pod carries the higher deletion cost, so
// its ReplicaSet removes the idle pod.
func TestIdleFirstScaleDownMarksTheBusyPod(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	q := uniqueQueue("idlefirst")
	const busyIP, idleIP = "127.0.0.2", "127.0.0.3"

	publish(ctx, t, q, 5)
	busy := consumeFrom(t, busyIP, q, 5)
	for i := range 5 {
		select {
		case <-busy:
		case <-ctx.Done():
			t.Fatalf("the busy consumer got %d of 5 messages", i)
		}
	}
	consumeFrom(t, idleIP, q, 1) // the queue is empty now: stays idle

	// Wait until the broker's statistics show who holds what, as the
	// controller will read them.
	brokers := openBrokers(t)
	defer func() { _ = brokers.Close() }()
	r, err := brokers.Reader("default")
	if err != nil {
		t.Fatal(err)
	}
	var seen map[string]int64
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		cs, err := r.Consumers(ctx, "/")
		if err != nil {
			t.Fatalf("reading the consumers from the management API: %v", err)
		}
		seen = map[string]int64{}
		for _, c := range cs {
			if c.Queue == (queue.QueueKey{Vhost: "/", Name: q}) && c.UnackedAvailable {
				seen[c.PeerHost] = c.Unacked
			}
		}
		if len(seen) == 2 && seen[busyIP] == 5 {
			break
		}
	}
	if diff := cmp.Diff(map[string]int64{busyIP: 5, idleIP: 0}, seen); diff != "" {
		t.Fatalf("unacknowledged messages per consumer address in the management API diff (-want +got):\n%s", diff)
	}

	createDeployment(ctx, t, kc, ns, "worker", 2, annotations(q,
		"target-depth-per-pod", "10", "min-replicas", "1", "scale-down-cooldown", "3s"))
	createRunningPod(ctx, t, kc, ns, "worker-busy", busyIP)
	createRunningPod(ctx, t, kc, ns, "worker-idle", idleIP)
	startController(t, ns)

	waitReplicas(ctx, t, kc, ns, "worker", 1, 20*time.Second)
	// The costs were written before the scale update: they are there now.
	busyCost, idleCost := deletionCost(ctx, t, kc, ns, "worker-busy"), deletionCost(ctx, t, kc, ns, "worker-idle")
	if busyCost <= idleCost {
		t.Errorf("deletion costs when replicas reached 1: busy pod %d, idle pod %d; want the busy pod higher so that the idle one goes", busyCost, idleCost)
	}
	if busyCost != 5 || idleCost != 0 {
		t.Errorf("deletion costs = busy %d, idle %d; want 5 (its unacknowledged messages) and 0", busyCost, idleCost)
	}
	waitEvent(ctx, t, kc, ns, "worker", corev1.EventTypeNormal, autoscaler.ReasonRescaled, "scale 2 -> 1")
}
