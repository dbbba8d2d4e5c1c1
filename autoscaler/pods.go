package autoscaler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/rabbitscale/rabbitscale/policy"
)

// DeletionCostAnnotation is the annotation a ReplicaSet reads to choose
// which pods to remove first on a scale-down: lower cost goes first, among
// pods that are otherwise alike (scheduled, running and ready).
const DeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// OwnedCostAnnotation records the deletion cost rabbitscale set on a pod.
// rabbitscale changes or removes a pod's deletion cost only while it still
// equals this value, so a cost someone else set is left alone.
const OwnedCostAnnotation = policy.Prefix + "pod-deletion-cost"

// StripPod is the pod informer's transform. It keeps only what the CPU
// signal and idle-first marking read: name, namespace, labels, owner
// references, the deletion timestamp, the two deletion-cost annotations,
// the phase, the pod IP, the Ready condition, the start time and the
// containers' CPU requests. A cluster's thousands of pods then cost a few
// hundred bytes each.
func StripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         p.Namespace,
			Name:              p.Name,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			Labels:            p.Labels,
			OwnerReferences:   p.OwnerReferences,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Status: corev1.PodStatus{
			Phase:     p.Status.Phase,
			PodIP:     p.Status.PodIP,
			StartTime: p.Status.StartTime,
		},
	}
	for _, k := range []string{DeletionCostAnnotation, OwnedCostAnnotation} {
		if v, ok := p.Annotations[k]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime}}
			break
		}
	}
	if len(p.Spec.Containers) > 0 {
		out.Spec.Containers = make([]corev1.Container, len(p.Spec.Containers))
		for i, c := range p.Spec.Containers {
			out.Spec.Containers[i].Name = c.Name
			if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
				out.Spec.Containers[i].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: q}
			}
		}
	}
	return out, nil
}

// workloadPods returns the pods that w's selector selects, from the pod
// informer's cache. A workload without a usable selector has no pods.
func workloadPods(pods corelisters.PodLister, w *workload) ([]*corev1.Pod, error) {
	if w.Selector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(w.Selector)
	if err != nil || sel.Empty() {
		// An empty selector would select every pod of the namespace;
		// the API server refuses it for Deployments and StatefulSets.
		return nil, err
	}
	return pods.Pods(w.Namespace).List(sel)
}
