package policy_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

func ExampleParseSpec() {
	spec, err := policy.ParseSpec(map[string]string{
		"rabbitscale.io/queue":                "orders, invoices",
		"rabbitscale.io/target-depth-per-pod": "300",
		"rabbitscale.io/max-replicas":         "20",
		"rabbitscale.io/max-scale-up-step":    "4,100%",
		"app.kubernetes.io/name":              "worker", // not under the prefix: ignored
	})
	fmt.Println(err)
	fmt.Println(spec.Queue.Names, spec.TargetDepthPerPod, spec.MinReplicas, spec.MaxReplicas,
		spec.ScaleUp.Policies, spec.ScaleDown.Policies, spec.ScaleDown.StabilizationWindow)

	_, err = policy.ParseSpec(map[string]string{
		"rabbitscale.io/queue":                "orders",
		"rabbitscale.io/target-depth-per-pod": "ten",
		"rabbitscale.io/min-replicas":         "5",
		"rabbitscale.io/max-replicas":         "3",
		"rabbitscale.io/scale-down-cooldown":  "-1m",
		"rabbitscale.io/max-replica":          "3",
	})
	fmt.Println(err)
	var fe *policy.FieldError
	if errors.As(err, &fe) {
		fmt.Printf("first: key %s, value %q\n", fe.Key, fe.Value)
	}

	_, err = policy.ParseSpec(map[string]string{"app": "web"})
	fmt.Println(errors.Is(err, policy.ErrNoQueue))
	// Output:
	// <nil>
	// [orders invoices] 300 1 20 [4 100%] [100%] 5m0s
	// rabbitscale.io/target-depth-per-pod: "ten" is not an integer
	// rabbitscale.io/scale-down-cooldown: "-1m" must not be negative
	// rabbitscale.io/min-replicas: 5 > rabbitscale.io/max-replicas: 3
	// rabbitscale.io/max-replica: unknown annotation (did you mean rabbitscale.io/max-replicas?)
	// first: key rabbitscale.io/target-depth-per-pod, value "ten"
	// true
}

func ExampleDecide() {
	spec, err := policy.ParseSpec(map[string]string{
		"rabbitscale.io/queue":                "orders",
		"rabbitscale.io/target-depth-per-pod": "300",
		"rabbitscale.io/max-replicas":         "30",
		"rabbitscale.io/max-scale-up-step":    "2",
	})
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	var state policy.State // zero for a new workload; afterwards the one Decide returned
	obs := policy.Observation{
		Replicas: 10,
		Queue:    policy.QueueObservation{Available: true, Ready: 4000, Unacked: 200, Consumers: 10},
	}
	d, state := policy.Decide(spec, obs, state, now)
	fmt.Println(d.Desired, d.Apply, d.DrivenBy)
	fmt.Println(d.Reason)

	// Fifteen seconds later the pods are up; the backlog shrinks but the
	// scale-down window keeps the replicas.
	obs.Replicas = d.Desired
	obs.Queue.Ready, obs.Queue.Unacked = 1000, 400
	d, _ = policy.Decide(spec, obs, state, now.Add(15*time.Second))
	fmt.Println(d.Reason)
	// Output:
	// 12 true depth
	// depth 4200 > 10 pods x 300 wants 14; max-scale-up-step 14 -> 12; scale 10 -> 12
	// depth 1400 < 12 pods x 300 wants 5; scale-down-window 5 -> 12; hold 12
}
