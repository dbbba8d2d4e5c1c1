package autoscaler

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/rabbitscale/rabbitscale/metrics"
)

// report tells what one workload's sync saw and did: warnings (each once
// while it lasts), the Rescaled event, and the workload's metrics. It is
// the only place a sync's events and per-workload metrics come from.
func (c *Controller) report(p *parsedWorkload, out outcome) {
	w, d := p.workload, out.decision
	c.keepLive(w, d, out.at)
	if out.stateErr != nil {
		c.warn(w, ReasonInvalidAnnotations, "%v; starting from an empty state", out.stateErr)
	}
	if qp := out.queueProblem; qp != nil {
		c.warn(w, qp.reason, "%s", oneLine(qp.err))
		if qp.lookup {
			c.observe.ObserveError(metrics.ErrorKindQueue)
		}
	} else {
		c.clearWarning(w)
	}
	if p.spec.TargetCPUUtilization > 0 {
		if out.cpuErr != nil {
			c.warnCPU(w, "CPU metrics unavailable, holding on CPU: %v", oneLine(out.cpuErr))
		} else {
			c.clearCPUWarning(w)
		}
	}
	c.observe.ObserveWorkload(string(p.Kind), p.Namespace, p.Name, p.spec.Broker, p.spec.Queue.String(), out.obs, d, p.spec)
	if out.applied {
		c.observe.ObserveApply(out.applyTook)
	}
	if out.scaleErr != nil {
		c.warn(w, ReasonScaleFailed, "scaling %d -> %d failed: %v", d.Current, d.Desired, out.scaleErr)
		c.observe.ObserveError(metrics.ErrorKindApply)
	}
	if out.scaled {
		c.observe.ObserveScale(string(p.Kind), p.Namespace, p.Name, metrics.Direction(d.Current, d.Desired), d.DrivenBy)
		c.recorder.Eventf(p.obj, corev1.EventTypeNormal, ReasonRescaled, "%s", d.Reason)
	}
	if out.persistErr != nil {
		c.observe.ObserveError(metrics.ErrorKindState)
	}
}

// reportSkipped tells why a workload is left alone: annotations that do
// not parse (a warning repeated while it lasts, an error counted every
// tick and rabbitscale_workload_annotations_invalid), or another autoscaler
// targeting it.
func (c *Controller) reportSkipped(w *workload, sk *skip) {
	c.warn(w, sk.reason, "%s", sk.message)
	if sk.invalid {
		c.observe.ObserveError(metrics.ErrorKindSpec)
		c.observe.ObserveAnnotationsInvalid(string(w.Kind), w.Namespace, w.Name)
	}
}
