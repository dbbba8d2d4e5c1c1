package autoscaler

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rabbitscale/rabbitscale/metrics"
)

// series returns the value of every series of the named metric, keyed by
// its workload label.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "workload" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// setAnnotations replaces a Deployment's annotations and waits until the
// controller's lister sees them.
func (f *fixture) setAnnotations(name string, ann map[string]string) {
	f.t.Helper()
	d, err := f.kube.AppsV1().Deployments("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	d.Annotations = ann
	if _, err := f.kube.AppsV1().Deployments("ns").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.waitForLister(name, func(err error, got map[string]string) bool { return err == nil && cmp.Equal(got, ann) })
}

// deleteDeployment deletes a Deployment and waits until the lister has
// lost it.
func (f *fixture) deleteDeployment(name string) {
	f.t.Helper()
	if err := f.kube.AppsV1().Deployments("ns").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.waitForLister(name, func(err error, _ map[string]string) bool { return apierrors.IsNotFound(err) })
}

func (f *fixture) waitForLister(name string, done func(error, map[string]string) bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := f.ctrl.in("ns").deploys.Deployments("ns").Get(name)
		var got map[string]string
		if err == nil {
			got = d.Annotations
		}
		if done(err, got) {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the lister does not see the change of %s after 10s", name)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInvalidAnnotationsStayOnMetrics: a workload whose annotations do not
// parse keeps rabbitscale_workload_annotations_invalid at 1 on every tick
// while its decision series are gone, loses it once fixed, and once
// deleted.
func TestInvalidAnnotationsStayOnMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	valid := ann("jobs", "target-depth-per-pod", "100")
	broken := ann("jobs", "target-depth-per-pod", "100", "max-replicas", "ten")
	f := newFixtureWith(t, func(c *Config) { c.Observer = metrics.NewCollectors(reg) },
		deployment("worker", 2, valid), deployment("healthy", 1, valid))
	f.broker.depth["jobs"] = 100
	const invalidName, desiredName = "rabbitscale_workload_annotations_invalid", "rabbitscale_workload_desired_replicas"

	tick := func() {
		f.ctrl.Tick(context.Background())
		f.clock.Step(5 * time.Second)
	}
	check := func(when string, wantInvalid, wantDesired []string) {
		t.Helper()
		want := map[string]float64{}
		for _, w := range wantInvalid {
			want[w] = 1
		}
		if diff := cmp.Diff(want, series(t, reg, invalidName)); diff != "" {
			t.Errorf("%s: %s diff (-want +got):\n%s", when, invalidName, diff)
		}
		got := slices.Sorted(maps.Keys(series(t, reg, desiredName)))
		if diff := cmp.Diff(wantDesired, got); diff != "" {
			t.Errorf("%s: workloads with %s diff (-want +got):\n%s", when, desiredName, diff)
		}
	}

	tick()
	check("valid", nil, []string{"healthy", "worker"})

	f.setAnnotations("worker", broken)
	for i := range 3 {
		tick()
		check(fmt.Sprintf("broken, tick %d", i+1), []string{"worker"}, []string{"healthy"})
	}

	f.setAnnotations("worker", valid)
	tick()
	check("fixed", nil, []string{"healthy", "worker"})

	f.setAnnotations("worker", broken)
	tick()
	check("broken again", []string{"worker"}, []string{"healthy"})

	f.deleteDeployment("worker")
	tick()
	check("deleted", nil, []string{"healthy"})
}

// TestInvalidAnnotationsWarningRepeats: the InvalidAnnotations warning is
// recorded again every WarningRepeatPeriod while the problem lasts, not on
// every tick, and at once when it changes; so an hour-long problem always
// has an event younger than the API server's one-hour event TTL.
func TestInvalidAnnotationsWarningRepeats(t *testing.T) {
	f := newFixture(t, false, deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100", "max-replicas", "ten")))
	const ten = `Warning InvalidAnnotations invalid annotations: rabbitscale.io/max-replicas: "ten" is not an integer`
	const tick = 5 * time.Second

	start := f.clock.Now()
	var sent []time.Duration // when each warning went out, since start
	for f.clock.Since(start) <= time.Hour {
		f.ctrl.Tick(context.Background())
		for _, e := range f.events() {
			if e != ten {
				t.Fatalf("event %q, want only %q", e, ten)
			}
			sent = append(sent, f.clock.Since(start))
		}
		f.clock.Step(tick)
	}
	want := []time.Duration{0, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute, 40 * time.Minute, 50 * time.Minute, time.Hour}
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("warnings over an hour of 5 s ticks, at (-want +got):\n%s", diff)
	}

	// A changed problem is told at once, however recent the last warning.
	f.setAnnotations("worker", ann("jobs", "target-depth-per-pod", "100", "max-replicas", "eleven"))
	f.ctrl.Tick(context.Background())
	if diff := cmp.Diff([]string{`Warning InvalidAnnotations invalid annotations: rabbitscale.io/max-replicas: "eleven" is not an integer`}, f.events()); diff != "" {
		t.Errorf("events after the problem changed (-want +got):\n%s", diff)
	}
}

func TestWarningRepeatPeriodIsConfigurable(t *testing.T) {
	f := newFixtureWith(t, func(c *Config) { c.WarningRepeatPeriod = time.Minute },
		deployment("worker", 2, ann("jobs", "target-depth-per-pod", "100", "max-replicas", "ten")))
	counts := []int{}
	for _, step := range []time.Duration{0, 55 * time.Second, 5 * time.Second, 30 * time.Second} {
		f.clock.Step(step)
		f.ctrl.Tick(context.Background())
		counts = append(counts, len(f.events()))
	}
	// At 0 s, 55 s (too soon), 60 s (due) and 90 s (too soon).
	if diff := cmp.Diff([]int{1, 0, 1, 0}, counts); diff != "" {
		t.Errorf("events per tick (-want +got):\n%s", diff)
	}
}
