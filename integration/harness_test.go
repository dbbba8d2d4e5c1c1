//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestHarness proves the test infrastructure end to end: a Deployment on the
// real API server, 100 messages published to the real broker, and the depth
// read back through the management API.
func TestHarness(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	deploy := workerDeployment(ns, "worker", 3, map[string]string{"rabbitscale.io/queue": "harness-jobs"})
	if _, err := kc.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Deployment: %v", err)
	}
	scale, err := kc.AppsV1().Deployments(ns).GetScale(ctx, "worker", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the scale subresource: %v", err)
	}
	if scale.Spec.Replicas != 3 {
		t.Errorf("scale subresource replicas = %d, want 3", scale.Spec.Replicas)
	}

	queue := fmt.Sprintf("harness-jobs-%d", time.Now().UnixNano())
	publish(ctx, t, queue, 100)
	published := time.Now()

	// The management API refreshes queue figures every
	// collect_statistics_interval, so poll until it has caught up.
	var got int
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got = managementDepth(ctx, t, queue); got == 100 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got != 100 {
		t.Fatalf("management API reports %d messages in %q, want 100", got, queue)
	}
	t.Logf("the management API showed 100 messages %s after they were confirmed (collect_statistics_interval %s)",
		time.Since(published).Round(10*time.Millisecond), broker.StatsInterval)
}

func createNamespace(ctx context.Context, t testing.TB, kc kubernetes.Interface) string {
	t.Helper()
	ns, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rabbitscale-test-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// createLabelledNamespace is createNamespace with labels.
func createLabelledNamespace(ctx context.Context, t testing.TB, kc kubernetes.Interface, labels map[string]string) string {
	t.Helper()
	ns, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rabbitscale-test-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

func workerDeployment(ns, name string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.invalid/worker:1"}}},
			},
		},
	}
}

// channel opens a connection to the test broker and a channel on it;
// done closes both.
func channel(t testing.TB) (ch *amqp.Channel, done func()) {
	t.Helper()
	conn, err := amqp.Dial(broker.AMQPURL)
	if err != nil {
		t.Fatalf("dialing the broker: %v", err)
	}
	ch, err = conn.Channel()
	if err != nil {
		_ = conn.Close()
		t.Fatalf("opening a channel: %v", err)
	}
	return ch, func() { _ = conn.Close() }
}

// publish declares a durable queue and publishes n persistent messages to
// it with publisher confirms, so they are on the broker when it returns.
func publish(ctx context.Context, t testing.TB, queue string, n int) {
	t.Helper()
	ch, done := channel(t)
	defer done()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatalf("declaring %q: %v", queue, err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("enabling confirms: %v", err)
	}
	confirms := make([]*amqp.DeferredConfirmation, 0, n)
	for i := range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			Body:         fmt.Appendf(nil, "job %d", i),
		})
		if err != nil {
			t.Fatalf("publishing: %v", err)
		}
		confirms = append(confirms, dc)
	}
	for i, dc := range confirms {
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			t.Fatalf("message %d not confirmed (ok=%v): %v", i, ok, err)
		}
	}
}

func managementDepth(ctx context.Context, t testing.TB, queue string) int {
	t.Helper()
	u := broker.ManagementURL + "/api/queues/" + url.PathEscape("/") + "/" + url.PathEscape(queue)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(broker.Username, broker.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	var q struct {
		Messages int `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		t.Fatalf("decoding %s: %v", u, err)
	}
	return q.Messages
}
