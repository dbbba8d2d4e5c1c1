package autoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/rabbitscale/rabbitscale/policy"
)

// ErrReplicasChanged says that someone else changed a workload's replicas
// between the decision and its application. The change is dropped: the
// next tick decides again from what is there, so no step is taken twice.
var ErrReplicasChanged = errors.New("replicas changed since the decision")

// ErrStateChanged says that the workload's rabbitscale.io/state annotation
// is no longer the one this controller last read or wrote: another
// controller (a newer leader) or a person wrote it. The write is refused,
// and the controller reads the annotation again instead of overwriting it.
var ErrStateChanged = errors.New("state annotation changed by someone else")

// scale sets w's replicas to d.Desired through the scale subresource. The
// update carries a resourceVersion, so a concurrent writer makes it fail
// with a conflict. The first try uses the informer's copy, from which the
// decision was made: the scale shares the workload's resourceVersion, so no
// read is needed. After a conflict (the copy was stale) it reads the scale
// and retries only while the replicas are still the ones the decision
// started from.
//
// It returns the workload's resourceVersion after the update.
func (c *Controller) scale(ctx context.Context, w *workload, d policy.Decision) (string, error) {
	api := c.client(w)
	update := func(s *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
		return api.UpdateScale(ctx, w.Name, s, metav1.UpdateOptions{FieldManager: c.fieldManager})
	}
	if w.ResourceVersion != "" {
		s := &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name, ResourceVersion: w.ResourceVersion},
			Spec:       autoscalingv1.ScaleSpec{Replicas: d.Desired},
		}
		got, err := update(s)
		if err == nil {
			return got.ResourceVersion, nil
		}
		if !apierrors.IsConflict(err) {
			return "", err
		}
	}
	var rv string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := api.GetScale(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s.Spec.Replicas != d.Current {
			return fmt.Errorf("%w: decided from %d, found %d", ErrReplicasChanged, d.Current, s.Spec.Replicas)
		}
		s.Spec.Replicas = d.Desired
		got, err := update(s)
		if err == nil {
			rv = got.ResourceVersion
		}
		return err
	})
	return rv, err
}

// workloadClient is what the controller writes on one kind of workload:
// its scale subresource and its metadata. The typed clients of Deployments
// and StatefulSets differ only in what Patch returns, so one generic
// wrapper serves every kind.
type workloadClient interface {
	GetScale(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error)
	UpdateScale(ctx context.Context, name string, scale *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error)
	patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) error
}

// typedClient is the client-go typed client of one kind (T is what its
// Patch returns).
type typedClient[T any] struct {
	c interface {
		GetScale(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error)
		UpdateScale(ctx context.Context, name string, scale *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error)
		Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	}
}

func (t typedClient[T]) GetScale(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error) {
	return t.c.GetScale(ctx, name, opts)
}

func (t typedClient[T]) UpdateScale(ctx context.Context, name string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	return t.c.UpdateScale(ctx, name, s, opts)
}

func (t typedClient[T]) patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) error {
	_, err := t.c.Patch(ctx, name, pt, data, opts)
	return err
}

// client is the one place a workload's kind picks its API client.
func (c *Controller) client(w *workload) workloadClient {
	if w.Kind == KindStatefulSet {
		return typedClient[*appsv1.StatefulSet]{c.kube.AppsV1().StatefulSets(w.Namespace)}
	}
	return typedClient[*appsv1.Deployment]{c.kube.AppsV1().Deployments(w.Namespace)}
}

// written is what the controller compares to decide whether a workload's
// annotations tell something new: the encoding of the state's Durable part
// and the decision's Summary.
type written struct{ durable, summary string }

// annotationCheck is what writeDue decides from.
type annotationCheck struct {
	// scaled is true when this sync changed the replicas.
	scaled bool
	// state and persisted are the state's encoding now, and as last
	// written or read.
	state, persisted string
	// news and written are what the annotations would tell now, and what
	// they told when last written or read.
	news, written written
	// sinceWrite is the time since they were last written or read.
	sinceWrite time.Duration
	// refreshDue is true once per refresh period (memory.refreshDue).
	refreshDue bool
	// rewriteAfter spaces the writes that no replica change caused.
	rewriteAfter time.Duration
}

// writeDue is the rule for writing a workload's annotations, which a
// person or a resumed controller reads: at once after a change of
// replicas; never when neither the state nor the decision's gist would
// change; otherwise for news (a new gist, or a change of the durable
// state) once rewriteAfter has passed since the last write, and once per
// refresh period to refresh their figures. A busy workload's state changes
// on every tick (its window, its last arrival), which alone is no reason
// to write it.
func writeDue(a annotationCheck) bool {
	switch {
	case a.scaled:
		return true
	case a.state == a.persisted && a.news.summary == a.written.summary:
		return false
	}
	return a.refreshDue || a.news != a.written && a.sinceWrite >= a.rewriteAfter
}

// persist writes the state annotation, and the decision annotation, with a
// patch of the workload's metadata only. It reports whether it wrote:
// a conflict leaves the write to the next tick.
//
// Every write carries a precondition, so that a stale leader (paused,
// partitioned) cannot overwrite a newer one's state. Once the state
// annotation exists (persisted, as last read or written here), a JSON
// patch tests that it is still that; before, a merge patch carries rv, the
// resourceVersion the decision was made from (the informer's, or the one
// the scale update returned).
func (c *Controller) persist(ctx context.Context, w *workload, persisted, state string, d policy.Decision, rv string) (bool, error) {
	decision, err := policy.EncodeDecision(d)
	if err != nil {
		return false, err
	}
	var pt types.PatchType
	var patch []byte
	if persisted != "" {
		pt = types.JSONPatchType
		patch, err = json.Marshal([]map[string]string{
			{"op": "test", "path": annotationPath(policy.StateAnnotation), "value": persisted},
			{"op": "replace", "path": annotationPath(policy.StateAnnotation), "value": state},
			{"op": "add", "path": annotationPath(policy.DecisionAnnotation), "value": decision},
		})
	} else {
		pt = types.MergePatchType
		patch, err = json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": rv,
			"annotations": map[string]string{
				policy.StateAnnotation:    state,
				policy.DecisionAnnotation: decision,
			}}})
	}
	if err != nil {
		return false, err
	}
	err = c.client(w).patch(ctx, w.Name, pt, patch, metav1.PatchOptions{FieldManager: c.fieldManager})
	switch {
	case err == nil:
	case pt == types.JSONPatchType && apierrors.IsInvalid(err):
		return false, fmt.Errorf("writing the status annotations: %w: %w", ErrStateChanged, err)
	case apierrors.IsConflict(err):
		// The object changed since the copy the decision came from: try
		// again on the next tick, from the informer's newer copy.
		klog.FromContext(ctx).V(2).Info("Status annotations not written: the workload changed; retrying on the next tick", "workload", klog.KRef(w.Namespace, w.Name), "kind", w.Kind)
		return false, nil
	default:
		return false, fmt.Errorf("writing the status annotations: %w", err)
	}
	klog.FromContext(ctx).V(4).Info("Wrote state", "workload", klog.KRef(w.Namespace, w.Name), "kind", w.Kind)
	return true, nil
}

// annotationPath is the JSON pointer of an annotation ("/" escaped as ~1).
func annotationPath(key string) string {
	return "/metadata/annotations/" + strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
