package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rabbitscale/rabbitscale/policy"
)

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	d := policy.Decision{Current: 2, Desired: 7, Apply: true, Reason: "depth 700 > 2 pods x 100 wants 7; scale 2 -> 7",
		Signals: policy.Signals{Depth: policy.Signal{Enabled: true, Available: true, Value: 700, Target: 100, Recommendation: 7}}}
	decision, err := policy.EncodeDecision(d)
	if err != nil {
		t.Fatal(err)
	}
	state, err := policy.EncodeState(policy.State{LastScaleUp: now.Add(-90 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	rows := []statusRow{
		{Namespace: "shop", Workload: "deployment/orders", Replicas: 7, Annotations: map[string]string{
			policy.KeyQueue: "orders", policy.KeyTargetDepthPerPod: "100",
			policy.DecisionAnnotation: decision, policy.StateAnnotation: state}},
		{Namespace: "shop", Workload: "deployment/mail", Replicas: 1, Annotations: map[string]string{
			policy.KeyQueuePattern: "mail-.*", policy.KeyTargetDepthPerPod: "x"}},
	}
	var out bytes.Buffer
	printStatus(&out, rows, now)
	want := `NAMESPACE   WORKLOAD            QUEUE      DEPTH   CURRENT   DESIRED   LAST CHANGE   REASON
shop        deployment/orders   orders     700     7         7         90s ago       depth 700 > 2 pods x 100 wants 7; scale 2 -> 7
shop        deployment/mail     ~mail-.*   -       1         -         -             invalid annotations: rabbitscale.io/target-depth-per-pod: "x" is not an integer
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status table diff (-want +got):\n%s", diff)
	}
}
