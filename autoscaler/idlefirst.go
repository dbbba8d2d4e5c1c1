package autoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/rabbitscale/rabbitscale/queue"
)

// ConsumerLister lists who consumes a vhost's queues, with what each
// consumer's channel holds unacknowledged. *queue.Reader implements it; a
// broker read through a source other than the management API answers
// queue.ErrConsumersUnsupported. The controller finds it on the broker's
// Snapshotter and calls it only when a scale-down is about to be applied.
type ConsumerLister interface {
	Consumers(ctx context.Context, vhost string) ([]queue.Consumer, error)
}

// MaxDeletionCost bounds the deletion cost given to a busy pod: the cost
// is its unacknowledged message count, capped here.
const MaxDeletionCost = 1_000_000

// markIdleFirst sets the deletion cost of a Deployment's pods before a
// scale-down, so that its ReplicaSet removes idle pods first: a pod whose
// consumers hold unacknowledged messages on the workload's queues gets
// their count (at most MaxDeletionCost), an idle pod loses a cost
// rabbitscale set earlier (the default cost is 0). Pods are matched to
// consumers by pod IP and the consumer channels' peer address, so a
// consumer behind a proxy or on a host-network pod shared by several
// consumers' pods is not matched.
//
// StatefulSets are skipped: they remove the highest ordinal whatever the
// cost. Nothing here blocks the scale-down; failures are logged.
//
// The ReplicaSet ranks pods by deletion cost only after it has preferred
// unscheduled, pending and unready pods, and reads the cost from its own
// informer: the patches land before the scale update is sent, which is as
// early as the controller can make them.
func (c *Controller) markIdleFirst(ctx context.Context, p *parsedWorkload) {
	logger := klog.FromContext(ctx).WithValues("workload", klog.KRef(p.Namespace, p.Name), "kind", p.Kind)
	if p.Kind != KindDeployment {
		logger.V(4).Info("Skipping idle-first marking: only ReplicaSets honour the pod deletion cost")
		return
	}
	if c.dryRun || c.noIdle {
		return
	}
	lister, ok := c.brokers[p.spec.Broker].(ConsumerLister)
	if !ok {
		logger.V(2).Info("Skipping idle-first marking: the broker reader cannot list consumers", "broker", p.spec.Broker)
		return
	}
	consumers, err := lister.Consumers(ctx, p.spec.Queue.Vhost)
	if err != nil {
		if errors.Is(err, queue.ErrConsumersUnsupported) {
			logger.V(2).Info("Skipping idle-first marking: the broker is not read through the management API", "broker", p.spec.Broker)
		} else {
			logger.V(2).Info("Skipping idle-first marking: listing the consumers failed", "broker", p.spec.Broker, "err", err)
		}
		return
	}
	pods, err := workloadPods(c.in(p.Namespace).pods, p.workload)
	if err != nil {
		logger.V(2).Info("Skipping idle-first marking: listing the pods failed", "err", err)
		return
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	costs := deletionCosts(pods, c.unackedByPeer(p, consumers))
	patched := 0
	for _, pod := range pods {
		want, ok := costs[pod.Name]
		if !ok {
			continue
		}
		wrote, err := c.setDeletionCost(ctx, pod, want)
		if err != nil {
			logger.V(2).Info("Setting a pod deletion cost failed", "pod", klog.KObj(pod), "err", err)
			continue
		}
		if wrote {
			patched++
		}
	}
	logger.V(4).Info("Marked pods idle-first", "consumers", len(consumers), "pods", len(pods), "patched", patched)
}

// unackedByPeer sums, per client address, the unacknowledged messages of
// the channels that consume the workload's queues. A channel consuming
// several of them counts once.
func (c *Controller) unackedByPeer(p *parsedWorkload, consumers []queue.Consumer) map[netip.Addr]int64 {
	out := map[netip.Addr]int64{}
	seen := map[string]bool{}
	for _, cs := range consumers {
		if !p.spec.Queue.Match(cs.Queue.Vhost, cs.Queue.Name) || seen[cs.Channel] {
			continue
		}
		seen[cs.Channel] = true
		addr, err := netip.ParseAddr(cs.PeerHost)
		if err != nil {
			continue
		}
		out[addr.Unmap()] += max(cs.Unacked, 0)
	}
	return out
}

// deletionCosts returns the deletion cost each pod should carry ("" for
// none), for the pods whose cost rabbitscale may set: pods not being
// deleted, with an IP no other pod of the workload shares, and without a
// cost someone else set.
func deletionCosts(pods []*corev1.Pod, unacked map[netip.Addr]int64) map[string]string {
	byIP := map[netip.Addr]int{}
	for _, pod := range pods {
		if a, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
			byIP[a.Unmap()]++
		}
	}
	out := map[string]string{}
	for _, pod := range pods {
		a, err := netip.ParseAddr(pod.Status.PodIP)
		if pod.DeletionTimestamp != nil || err != nil || byIP[a.Unmap()] > 1 {
			continue
		}
		cur, has := pod.Annotations[DeletionCostAnnotation]
		if has && cur != pod.Annotations[OwnedCostAnnotation] {
			continue // someone else's cost
		}
		want := ""
		if n := unacked[a.Unmap()]; n > 0 {
			want = strconv.FormatInt(min(n, MaxDeletionCost), 10)
		}
		out[pod.Name] = want
	}
	return out
}

// setDeletionCost patches the pod's deletion cost to want, or removes the
// cost rabbitscale set when want is "". It makes no request, and reports
// false, when the pod already carries want.
func (c *Controller) setDeletionCost(ctx context.Context, pod *corev1.Pod, want string) (bool, error) {
	cur, has := pod.Annotations[DeletionCostAnnotation]
	if (want == "" && !has) || (want != "" && cur == want && pod.Annotations[OwnedCostAnnotation] == want) {
		return false, nil
	}
	var v any // nil removes the annotations in a merge patch
	if want != "" {
		v = want
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		DeletionCostAnnotation: v,
		OwnedCostAnnotation:    v,
	}}})
	if err != nil {
		return false, err
	}
	if _, err := c.kube.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: c.fieldManager}); err != nil {
		return false, fmt.Errorf("patching the deletion cost of pod %s: %w", pod.Name, err)
	}
	return true, nil
}
