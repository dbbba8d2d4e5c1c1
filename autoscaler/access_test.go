package autoscaler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rabbitscale/rabbitscale/queue"
)

// A workload in a namespace that its broker's allow list leaves out is not
// read at all (its queue is not even in the broker's scope), holds, and
// says why; a workload in an allowed namespace scales as usual.
func TestWorkloadOutsideTheBrokersAllowListIsNotRead(t *testing.T) {
	access := queue.Access{Namespaces: []string{"shop"}}
	f := newFixtureWith(t, func(c *Config) { c.Allowed = access.Check },
		cpuDeployment("shop", "orders", 1, ann("orders", "target-depth-per-pod", "100")),
		cpuDeployment("mail", "snoop", 1, ann("payments", "target-depth-per-pod", "100")))
	f.broker.depth["orders"] = 300
	f.broker.depth["payments"] = 900

	f.ctrl.Tick(context.Background())

	replicas := func(ns, name string) int32 {
		d, err := f.kube.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	if got := replicas("shop", "orders"); got != 3 {
		t.Errorf("shop/orders has %d replicas, want 3", got)
	}
	if got := replicas("mail", "snoop"); got != 1 {
		t.Errorf("mail/snoop has %d replicas, want 1: it may not read the broker", got)
	}
	want := queue.Scope{Queues: []queue.QueueKey{{Vhost: "/", Name: "orders"}}}
	if diff := cmp.Diff(want, f.broker.scope); diff != "" {
		t.Errorf("broker read scope diff (-want +got):\n%s", diff)
	}
	var warned []string
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Warning") {
			warned = append(warned, e)
		}
	}
	wantEvents := []string{`Warning BrokerNotAllowed broker "default": namespace "mail": not allowed by the broker configuration (allow.namespaces: ["shop"]); rabbitscale leaves it alone`}
	if diff := cmp.Diff(wantEvents, warned); diff != "" {
		t.Errorf("warnings diff (-want +got):\n%s", diff)
	}
	d, err := f.kube.AppsV1().Deployments("mail").Get(context.Background(), "snoop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Annotations) != 2 {
		t.Errorf("mail/snoop's annotations were written (%v): nothing of the broker may reach it", d.Annotations)
	}
}

// Watching a list of namespaces, one informer factory each (the namespaced
// install, whose Roles cover only those namespaces), the controller scales
// the workloads of every listed namespace and never reads another's.
func TestNamespacedInformersScaleOnlyTheirNamespaces(t *testing.T) {
	f := newScopedFixture(t, func(*Config) {}, []string{"shop", "mail"},
		cpuDeployment("shop", "orders", 1, ann("orders", "target-depth-per-pod", "100")),
		cpuDeployment("mail", "sender", 1, ann("mail", "target-depth-per-pod", "100")),
		cpuDeployment("other", "worker", 1, ann("jobs", "target-depth-per-pod", "100")))
	f.broker.depth["orders"], f.broker.depth["mail"], f.broker.depth["jobs"] = 300, 200, 900

	res := f.ctrl.Tick(context.Background())
	if res.Workloads != 2 || res.Changed != 2 {
		t.Errorf("tick saw %d workloads and changed %d, want 2 and 2", res.Workloads, res.Changed)
	}
	if _, err := f.ctrl.sync(context.Background(), "Deployment/other/worker"); err != nil {
		t.Errorf("sync of a workload in a namespace not watched: %v, want nothing to do", err)
	}
	for _, a := range f.kube.Actions() {
		if a.GetNamespace() == "other" || (a.GetVerb() == "list" || a.GetVerb() == "watch") && a.GetNamespace() == "" {
			t.Errorf("%s %s in namespace %q: the controller must stay in its namespaces", a.GetVerb(), a.GetResource().Resource, a.GetNamespace())
		}
	}
	for _, w := range []struct {
		ns, name string
		want     int32
	}{{"shop", "orders", 3}, {"mail", "sender", 2}, {"other", "worker", 1}} {
		d, err := f.kube.AppsV1().Deployments(w.ns).Get(context.Background(), w.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != w.want {
			t.Errorf("%s/%s has %d replicas, want %d", w.ns, w.name, *d.Spec.Replicas, w.want)
		}
	}
}

// fakeNamespaces is a NamespaceGetter over namespace labels.
type fakeNamespaces map[string]map[string]string

func (f fakeNamespaces) Get(name string) (*metav1.PartialObjectMetadata, error) {
	l, ok := f[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
	}
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, nil
}

// A broker that allows namespaces by label: a workload in a namespace whose
// labels match is read and scaled; one whose labels do not match, or whose
// namespace the lister does not know, holds and says why.
func TestWorkloadInANamespaceTheSelectorLeavesOutIsNotRead(t *testing.T) {
	access := queue.Access{NamespaceSelector: &queue.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}
	nss := fakeNamespaces{"shop-eu": {"team": "shop"}, "mail": {"team": "mail"}}
	f := newFixtureWith(t, func(c *Config) { c.Allowed, c.Namespaces = access.Check, nss },
		cpuDeployment("shop-eu", "orders", 1, ann("orders", "target-depth-per-pod", "100")),
		cpuDeployment("mail", "snoop", 1, ann("payments", "target-depth-per-pod", "100")),
		cpuDeployment("fresh", "early", 1, ann("payments", "target-depth-per-pod", "100")))
	f.broker.depth["orders"] = 300
	f.broker.depth["payments"] = 900

	f.ctrl.Tick(context.Background())

	for _, w := range []struct {
		ns, name string
		want     int32
	}{{"shop-eu", "orders", 3}, {"mail", "snoop", 1}, {"fresh", "early", 1}} {
		d, err := f.kube.AppsV1().Deployments(w.ns).Get(context.Background(), w.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != w.want {
			t.Errorf("%s/%s has %d replicas, want %d", w.ns, w.name, *d.Spec.Replicas, w.want)
		}
	}
	want := queue.Scope{Queues: []queue.QueueKey{{Vhost: "/", Name: "orders"}}}
	if diff := cmp.Diff(want, f.broker.scope); diff != "" {
		t.Errorf("broker read scope diff (-want +got):\n%s", diff)
	}
	var warned []string
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Warning") {
			warned = append(warned, e)
		}
	}
	wantEvents := []string{
		`Warning BrokerNotAllowed broker "default": namespace "fresh": not allowed by the broker configuration (allow.namespaceSelector: "team=shop", which cannot match: the namespace's labels are not known); rabbitscale leaves it alone`,
		`Warning BrokerNotAllowed broker "default": namespace "mail": not allowed by the broker configuration (allow.namespaceSelector: "team=shop"); rabbitscale leaves it alone`,
	}
	if diff := cmp.Diff(wantEvents, warned, cmpSortStrings); diff != "" {
		t.Errorf("warnings diff (-want +got):\n%s", diff)
	}
}

var cmpSortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	slices.Sort(out)
	return out
})

// queue.LabelSelector is plain data, since package queue may not import
// apimachinery; it must match exactly as a metav1.LabelSelector does.
func TestQueueLabelSelectorMatchesAsApimachinery(t *testing.T) {
	selectors := []queue.LabelSelector{
		{MatchLabels: map[string]string{"team": "shop"}},
		{MatchLabels: map[string]string{"team": "shop", "env": ""}},
		{MatchExpressions: []queue.LabelSelectorRequirement{{Key: "team", Operator: queue.OpIn, Values: []string{"shop", "mail"}}}},
		{MatchExpressions: []queue.LabelSelectorRequirement{{Key: "env", Operator: queue.OpNotIn, Values: []string{"dev", ""}}}},
		{MatchExpressions: []queue.LabelSelectorRequirement{{Key: "example.com/tenant", Operator: queue.OpExists}}},
		{MatchExpressions: []queue.LabelSelectorRequirement{{Key: "legacy", Operator: queue.OpDoesNotExist}}},
		{MatchLabels: map[string]string{"team": "shop"}, MatchExpressions: []queue.LabelSelectorRequirement{
			{Key: "env", Operator: queue.OpNotIn, Values: []string{"dev"}}, {Key: "legacy", Operator: queue.OpDoesNotExist}}},
	}
	namespaces := []map[string]string{
		{},
		{"team": "shop"},
		{"team": "shop", "env": ""},
		{"team": "shop", "env": "dev"},
		{"team": "mail", "env": "prod"},
		{"example.com/tenant": ""},
		{"team": "shop", "legacy": "yes"},
		{"env": "prod", "example.com/tenant": "a"},
	}
	for i, qs := range selectors {
		ms := &metav1.LabelSelector{MatchLabels: qs.MatchLabels}
		for _, r := range qs.MatchExpressions {
			ms.MatchExpressions = append(ms.MatchExpressions, metav1.LabelSelectorRequirement{Key: r.Key, Operator: metav1.LabelSelectorOperator(r.Operator), Values: r.Values})
		}
		sel, err := metav1.LabelSelectorAsSelector(ms)
		if err != nil {
			t.Fatalf("selector %d: %v", i, err)
		}
		for _, l := range namespaces {
			want := sel.Matches(labels.Set(l))
			if got := qs.Matches(l); got != want {
				t.Errorf("selector %d (%s) on %v: queue says %v, apimachinery (%s) says %v", i, qs.String(), l, got, sel, want)
			}
		}
		// The same text as apimachinery's, but for its sorting of the
		// requirements by key.
		if got, want := sortedReqs(qs.String()), sortedReqs(sel.String()); got != want {
			t.Errorf("selector %d: String() = %q, apimachinery's %q", i, qs.String(), sel.String())
		}
	}
}

func sortedReqs(s string) string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, s[start:])
	slices.Sort(parts)
	return fmt.Sprint(parts)
}
