//go:build integration

package integration

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/policy"
)

// TestTenancy runs `rabbitscale run` with a broker that only one team may
// use, its namespaces listed by name or selected by label: the team's
// workers scale from their queues, and a worker in another namespace (with
// the label key but another team's value), naming a queue on the same
// broker, is not read at all. It holds, gets a BrokerNotAllowed warning,
// and nothing of the broker reaches its annotations.
func TestTenancy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	team := createNamespace(ctx, t, kc)
	const tenantKey = "rabbitscale-test-tenant"
	labelled := createLabelledNamespace(ctx, t, kc, map[string]string{tenantKey: team})
	other := createLabelledNamespace(ctx, t, kc, map[string]string{tenantKey: "someone-else"})
	dir := t.TempDir()
	conf, err := broker.WriteConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	allow := "  allow:\n    namespaces: [" + team + "]\n    namespaceSelector:\n      matchLabels: {" + tenantKey + ": " + team + "}\n"
	if _, err := f.WriteString(allow); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mine, ours, theirs := uniqueQueue("tenant-mine"), uniqueQueue("tenant-ours"), uniqueQueue("tenant-theirs")
	publish(ctx, t, mine, 300)
	publish(ctx, t, ours, 500)
	publish(ctx, t, theirs, 900)
	// The process watches every namespace; the label keeps it to this
	// test's workloads.
	label := "rabbitscale-tenancy-" + team
	for _, w := range []struct{ ns, name, queue string }{{team, "worker", mine}, {labelled, "worker", ours}, {other, "snoop", theirs}} {
		d := workerDeployment(w.ns, w.name, 1, annotations(w.queue, "target-depth-per-pod", "100", "max-replicas", "10"))
		d.Labels = map[string]string{"test": label}
		if _, err := kc.AppsV1().Deployments(w.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	runBinary(t, dir, "tenancy", "--leader-elect=false", "--label-selector", "test="+label)

	waitReplicas(ctx, t, kc, team, "worker", 3, 30*time.Second)
	waitReplicas(ctx, t, kc, labelled, "worker", 5, 30*time.Second)
	waitEvent(ctx, t, kc, other, "snoop", corev1.EventTypeWarning, autoscaler.ReasonBrokerNotAllowed, `namespace "`+other+`"`, "not allowed",
		`allow.namespaceSelector: "`+tenantKey+"="+team+`"`)
	if got := replicas(ctx, t, kc, other, "snoop"); got != 1 {
		t.Errorf("%s/snoop has %d replicas, want 1: its namespace may not use the broker", other, got)
	}
	d, err := kc.AppsV1().Deployments(other).Get(ctx, "snoop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a := d.Annotations[policy.DecisionAnnotation]; a != "" {
		t.Errorf("%s/snoop carries a decision, which would show the queue's depth: %s", other, a)
	}
}
