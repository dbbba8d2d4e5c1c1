package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/rabbitscale/rabbitscale/metrics"
	"github.com/rabbitscale/rabbitscale/policy"
)

// PodMetricsLister lists the PodMetrics (metrics.k8s.io) of one namespace.
// The controller calls it at most once per namespace per tick, and only for
// namespaces with a workload that asks for CPU.
type PodMetricsLister interface {
	ListPodMetrics(ctx context.Context, namespace string) ([]metricsv1beta1.PodMetrics, error)
}

// NewPodMetricsLister reads PodMetrics through the k8s.io/metrics
// clientset.
func NewPodMetricsLister(c metricsclient.Interface) PodMetricsLister {
	return metricsAPI{c}
}

type metricsAPI struct{ c metricsclient.Interface }

func (m metricsAPI) ListPodMetrics(ctx context.Context, namespace string) ([]metricsv1beta1.PodMetrics, error) {
	l, err := m.c.MetricsV1beta1().PodMetricses(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// The HPA's defaults for the two periods its CPU signal distrusts samples
// in (kube-controller-manager --horizontal-pod-autoscaler-cpu-initialization-period
// and --horizontal-pod-autoscaler-initial-readiness-delay).
const (
	DefaultCPUInitializationPeriod = 5 * time.Minute
	DefaultInitialReadinessDelay   = 30 * time.Second
)

// errNoMetricsClient is why CPU is unavailable when the controller was
// built without a metrics client.
var errNoMetricsClient = errors.New("no metrics.k8s.io client configured")

// podSample is one pod's CPU usage from the metrics API.
type podSample struct {
	usageMilli int64
	timestamp  time.Time
	window     time.Duration
}

// cpuRead is one workload's CPU observation for this tick, or why there is
// none.
type cpuRead struct {
	obs policy.CPUObservation
	err error
}

// readCPU builds the CPU observation of every workload whose spec enables
// the CPU signal, listing PodMetrics once per namespace.
func (c *Controller) readCPU(ctx context.Context, ps []parsedWorkload, now time.Time) map[string]cpuRead {
	out := map[string]cpuRead{}
	samples := map[string]map[string]podSample{}
	nsErr := map[string]error{}
	for i := range ps {
		p := &ps[i]
		if p.spec.TargetCPUUtilization <= 0 {
			continue
		}
		if _, done := samples[p.Namespace]; !done && nsErr[p.Namespace] == nil {
			s, err := c.listSamples(ctx, p.Namespace)
			if err != nil {
				c.observe.ObserveError(metrics.ErrorKindCPU)
				nsErr[p.Namespace] = err
			} else {
				samples[p.Namespace] = s
			}
		}
		if err := nsErr[p.Namespace]; err != nil {
			out[p.key()] = cpuRead{err: err}
			continue
		}
		pods, err := workloadPods(c.in(p.Namespace).pods, p.workload)
		if err != nil {
			out[p.key()] = cpuRead{err: fmt.Errorf("listing pods: %w", err)}
			continue
		}
		obs := policy.CPUObservation{Available: true}
		for _, pod := range pods {
			if pc, ok := c.classify(pod, samples[p.Namespace], now); ok {
				obs.Pods = append(obs.Pods, pc)
			}
		}
		out[p.key()] = cpuRead{obs: obs}
	}
	return out
}

// listSamples lists the PodMetrics of a namespace, by pod name. A pod whose
// sample lacks a container's CPU usage, or has no container, gets no sample
// (it is missing), as in the HPA's metrics client.
func (c *Controller) listSamples(ctx context.Context, ns string) (map[string]podSample, error) {
	if c.podMetrics == nil {
		return nil, errNoMetricsClient
	}
	items, err := c.podMetrics.ListPodMetrics(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("listing PodMetrics in %s: %w", ns, err)
	}
	klog.FromContext(ctx).V(4).Info("Read pod metrics", "namespace", ns, "pods", len(items))
	out := make(map[string]podSample, len(items))
next:
	for _, m := range items {
		if len(m.Containers) == 0 {
			continue
		}
		var sum int64
		for _, ct := range m.Containers {
			q, ok := ct.Usage[corev1.ResourceCPU]
			if !ok {
				continue next
			}
			sum += q.MilliValue()
		}
		out[m.Name] = podSample{usageMilli: sum, timestamp: m.Timestamp.Time, window: m.Window.Duration}
	}
	return out, nil
}

// classify turns one pod into the policy's PodCPU the way the HPA groups
// pods (kubernetes pkg/controller/podautoscaler, groupPods): pods being
// deleted and failed pods are left out (ok false); a pending pod is not
// ready; a pod without a sample is missing; a pod with a sample is not
// ready when it has no Ready condition or start time, when within the CPU
// initialization period after its start it is not ready or its sample's
// window began before it last changed readiness, and, after that period,
// when it is not ready and has never been ready (its readiness last changed
// within the initial readiness delay of its start).
func (c *Controller) classify(pod *corev1.Pod, samples map[string]podSample, now time.Time) (policy.PodCPU, bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed {
		return policy.PodCPU{}, false
	}
	pc := policy.PodCPU{RequestMilli: cpuRequestMilli(pod)}
	if pod.Status.Phase == corev1.PodPending {
		return pc, true
	}
	s, found := samples[pod.Name]
	if !found {
		pc.Ready = true // missing, not unready: the HPA checks the sample first
		return pc, true
	}
	pc.HasMetric, pc.UsageMilli = true, s.usageMilli
	cond := readyCondition(pod)
	switch {
	case cond == nil || pod.Status.StartTime == nil:
		pc.Ready = false
	case pod.Status.StartTime.Add(c.cpuInitPeriod).After(now):
		pc.Ready = cond.Status != corev1.ConditionFalse && !s.timestamp.Before(cond.LastTransitionTime.Add(s.window))
	default:
		neverReady := cond.Status == corev1.ConditionFalse && pod.Status.StartTime.Add(c.readinessDelay).After(cond.LastTransitionTime.Time)
		pc.Ready = !neverReady
	}
	return pc, true
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// cpuRequestMilli sums the containers' CPU requests; 0 when one of them has
// none, which makes the CPU signal unavailable as it does for the HPA.
func cpuRequestMilli(pod *corev1.Pod) int64 {
	var sum int64
	for _, ct := range pod.Spec.Containers {
		q, ok := ct.Resources.Requests[corev1.ResourceCPU]
		if !ok {
			return 0
		}
		sum += q.MilliValue()
	}
	return sum
}
