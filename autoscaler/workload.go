package autoscaler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rabbitscale/rabbitscale/policy"
)

// Kind is a kind of workload rabbitscale scales.
type Kind string

const (
	KindDeployment  Kind = "Deployment"
	KindStatefulSet Kind = "StatefulSet"
)

// workload is what a tick needs of a Deployment or StatefulSet. Keep it a
// value: a tick works on copies, never on the informers' objects.
type workload struct {
	Kind        Kind
	Namespace   string
	Name        string
	UID         types.UID
	Annotations map[string]string
	// Replicas is spec.replicas (1 when unset, as the API server defaults).
	Replicas int32
	// Selector selects the workload's pods.
	Selector *metav1.LabelSelector
	// ResourceVersion is the informer's; the scale subresource shares it,
	// so a scale update can carry it as its precondition.
	ResourceVersion string
	obj             runtime.Object // for events
}

func (w *workload) key() string {
	return string(w.Kind) + "/" + w.Namespace + "/" + w.Name
}

func (w *workload) String() string { return w.key() }

func fromDeployment(d *appsv1.Deployment) workload {
	return workload{Kind: KindDeployment, Namespace: d.Namespace, Name: d.Name, UID: d.UID,
		Annotations: d.Annotations, Replicas: replicasOrOne(d.Spec.Replicas), Selector: d.Spec.Selector,
		ResourceVersion: d.ResourceVersion, obj: d}
}

func fromStatefulSet(s *appsv1.StatefulSet) workload {
	return workload{Kind: KindStatefulSet, Namespace: s.Namespace, Name: s.Name, UID: s.UID,
		Annotations: s.Annotations, Replicas: replicasOrOne(s.Spec.Replicas), Selector: s.Spec.Selector,
		ResourceVersion: s.ResourceVersion, obj: s}
}

func replicasOrOne(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// listWorkloads returns every workload that carries rabbitscale
// annotations, sorted by kind, namespace and name so that ticks are
// deterministic.
func listWorkloads(scopes []*listers) ([]workload, error) {
	var ds []*appsv1.Deployment
	var ss []*appsv1.StatefulSet
	for _, l := range scopes {
		d, err := l.deploys.List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("listing Deployments: %w", err)
		}
		s, err := l.sets.List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("listing StatefulSets: %w", err)
		}
		ds, ss = append(ds, d...), append(ss, s...)
	}
	return managed(ds, ss), nil
}

func managed(ds []*appsv1.Deployment, ss []*appsv1.StatefulSet) []workload {
	var out []workload
	for _, d := range ds {
		if policy.Managed(d.Annotations) {
			out = append(out, fromDeployment(d))
		}
	}
	for _, s := range ss {
		if policy.Managed(s.Annotations) {
			out = append(out, fromStatefulSet(s))
		}
	}
	slices.SortFunc(out, func(a, b workload) int { return strings.Compare(a.key(), b.key()) })
	return out
}

// Workload is a Deployment or StatefulSet that carries rabbitscale
// annotations, as `rabbitscale status` lists it.
type Workload struct {
	Kind        Kind
	Namespace   string
	Name        string
	Annotations map[string]string
	// Replicas is spec.replicas (1 when unset).
	Replicas int32
	// Written is when rabbitscale last wrote the workload's annotations,
	// from its managedFields (zero when unknown): how old the decision
	// annotation is.
	Written time.Time
}

// ListManaged reads the workloads in namespace (every namespace when it is
// metav1.NamespaceAll) that the controller would scale, in the order it
// visits them.
func ListManaged(ctx context.Context, kube kubernetes.Interface, namespace string) ([]Workload, error) {
	dl, err := kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Deployments: %w", err)
	}
	sl, err := kube.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing StatefulSets: %w", err)
	}
	ds := make([]*appsv1.Deployment, len(dl.Items))
	for i := range dl.Items {
		ds[i] = &dl.Items[i]
	}
	ss := make([]*appsv1.StatefulSet, len(sl.Items))
	for i := range sl.Items {
		ss[i] = &sl.Items[i]
	}
	written := map[types.UID]time.Time{}
	for _, d := range ds {
		written[d.UID] = annotationsWritten(d.ManagedFields)
	}
	for _, s := range ss {
		written[s.UID] = annotationsWritten(s.ManagedFields)
	}
	ws := managed(ds, ss)
	out := make([]Workload, len(ws))
	for i, w := range ws {
		out[i] = Workload{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Annotations: w.Annotations, Replicas: w.Replicas, Written: written[w.UID]}
	}
	return out, nil
}

// annotationsWritten is the latest time a rabbitscale field manager
// (Config.FieldManager: "rabbitscale" or "rabbitscale-<identity>") changed
// the object itself, not its scale: its annotation writes.
func annotationsWritten(fields []metav1.ManagedFieldsEntry) time.Time {
	var t time.Time
	for _, f := range fields {
		if f.Subresource == "" && f.Time != nil && (f.Manager == "rabbitscale" || strings.HasPrefix(f.Manager, "rabbitscale-")) && f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}

// lastApplied is kubectl's copy of the whole object: often the largest
// annotation, and never read here.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// StripWorkload is the informers' transform: it drops what the controller
// never reads (managed fields, the pod template, kubectl's last-applied
// copy, status) so that thousands of workloads stay small in memory. It
// keeps unmanaged workloads' metadata only.
func StripWorkload(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		stripMeta(&o.ObjectMeta)
		o.Spec.Template = corev1.PodTemplateSpec{}
		o.Status = appsv1.DeploymentStatus{}
	case *appsv1.StatefulSet:
		stripMeta(&o.ObjectMeta)
		o.Spec.Template = corev1.PodTemplateSpec{}
		o.Spec.VolumeClaimTemplates = nil
		o.Status = appsv1.StatefulSetStatus{}
	}
	return obj, nil
}

func stripMeta(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	if _, ok := m.Annotations[lastApplied]; ok {
		a := make(map[string]string, len(m.Annotations)-1)
		for k, v := range m.Annotations {
			if k != lastApplied {
				a[k] = v
			}
		}
		m.Annotations = a
	}
}
