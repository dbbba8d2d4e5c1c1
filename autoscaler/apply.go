package autoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

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
	if w.ResourceVersion != "" {
		s := &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name, ResourceVersion: w.ResourceVersion},
			Spec:       autoscalingv1.ScaleSpec{Replicas: d.Desired},
		}
		got, err := c.updateScale(ctx, w, s)
		if err == nil {
			return got.ResourceVersion, nil
		}
		if !apierrors.IsConflict(err) {
			return "", err
		}
	}
	var rv string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := c.getScale(ctx, w)
		if err != nil {
			return err
		}
		if s.Spec.Replicas != d.Current {
			return fmt.Errorf("%w: decided from %d, found %d", ErrReplicasChanged, d.Current, s.Spec.Replicas)
		}
		s.Spec.Replicas = d.Desired
		got, err := c.updateScale(ctx, w, s)
		if err == nil {
			rv = got.ResourceVersion
		}
		return err
	})
	return rv, err
}

func (c *Controller) getScale(ctx context.Context, w *workload) (*autoscalingv1.Scale, error) {
	switch w.Kind {
	case KindStatefulSet:
		return c.kube.AppsV1().StatefulSets(w.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
	default:
		return c.kube.AppsV1().Deployments(w.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
	}
}

func (c *Controller) updateScale(ctx context.Context, w *workload, s *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
	switch w.Kind {
	case KindStatefulSet:
		return c.kube.AppsV1().StatefulSets(w.Namespace).UpdateScale(ctx, w.Name, s, metav1.UpdateOptions{FieldManager: c.fieldManager})
	default:
		return c.kube.AppsV1().Deployments(w.Namespace).UpdateScale(ctx, w.Name, s, metav1.UpdateOptions{FieldManager: c.fieldManager})
	}
}

// written is what the controller compares to decide whether a workload's
// annotations tell something new: the encoding of the state's Durable part
// and the decision's Summary.
type written struct{ durable, summary string }

// persist writes the state annotation, and the decision annotation, with a
// merge patch of the workload's metadata only. It writes the decision on
// every change and whenever the state is written, and writes nothing when
// neither the state nor the decision's summary would change. news is what
// d and m.state come to, as sync computed it.
//
// rv is the workload's resourceVersion the write may assume: the
// informer's, or the one the scale update returned.
func (c *Controller) persist(ctx context.Context, w *workload, m *memory, d policy.Decision, news written, changed bool, rv string, now time.Time) error {
	state, err := policy.EncodeState(m.state)
	if err != nil {
		return err
	}
	if !changed && state == m.persisted && news.summary == m.written.summary {
		m.syncedAt = now
		return nil
	}
	decision, err := policy.EncodeDecision(d)
	if err != nil {
		return err
	}
	// Every write carries a precondition, so that a stale leader (paused,
	// partitioned) cannot overwrite a newer one's state. Once the state
	// annotation exists, a JSON patch tests that it is still the one last
	// read or written here; before that, a merge patch carries the
	// resourceVersion the decision was made from.
	var pt types.PatchType
	var patch []byte
	if m.persisted != "" {
		pt = types.JSONPatchType
		patch, err = json.Marshal([]map[string]string{
			{"op": "test", "path": annotationPath(policy.StateAnnotation), "value": m.persisted},
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
		return err
	}
	switch w.Kind {
	case KindStatefulSet:
		_, err = c.kube.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, pt, patch, metav1.PatchOptions{FieldManager: c.fieldManager})
	default:
		_, err = c.kube.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, pt, patch, metav1.PatchOptions{FieldManager: c.fieldManager})
	}
	switch {
	case err == nil:
	case pt == types.JSONPatchType && apierrors.IsInvalid(err):
		return fmt.Errorf("writing the status annotations: %w: %w", ErrStateChanged, err)
	case apierrors.IsConflict(err):
		// The object changed since the copy the decision came from: try
		// again on the next tick, from the informer's newer copy.
		klog.FromContext(ctx).V(2).Info("Status annotations not written: the workload changed; retrying on the next tick", "workload", klog.KRef(w.Namespace, w.Name), "kind", w.Kind)
		return nil
	default:
		return fmt.Errorf("writing the status annotations: %w", err)
	}
	klog.FromContext(ctx).V(4).Info("Wrote state", "workload", klog.KRef(w.Namespace, w.Name), "kind", w.Kind)
	m.persisted, m.written, m.syncedAt = state, news, now
	return nil
}

// annotationPath is the JSON pointer of an annotation ("/" escaped as ~1).
func annotationPath(key string) string {
	return "/metadata/annotations/" + strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
