package autoscaler

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Event reasons, as `kubectl describe` and `kubectl get events` show them.
const (
	// ReasonRescaled (Normal) says the replicas were changed, and why.
	ReasonRescaled = "Rescaled"
	// ReasonInvalidAnnotations (Warning) names each bad key and value.
	ReasonInvalidAnnotations = "InvalidAnnotations"
	// ReasonQueueNotFound (Warning): the broker answered and has no such queue.
	ReasonQueueNotFound = "QueueNotFound"
	// ReasonQueueUnavailable (Warning): the queue could not be read for
	// another reason (not in the snapshot's scope, say).
	ReasonQueueUnavailable = "QueueUnavailable"
	// ReasonBrokerUnavailable (Warning): the broker could not be read.
	ReasonBrokerUnavailable = "BrokerUnavailable"
	// ReasonConflictingAutoscaler (Warning): an HPA (or a KEDA
	// ScaledObject's HPA) targets the workload, so rabbitscale does not.
	ReasonConflictingAutoscaler = "ConflictingAutoscaler"
	// ReasonBrokerNotAllowed (Warning): the broker's allow list does not
	// let the workload's namespace, or its vhost, use the broker; the
	// workload is not read and holds.
	ReasonBrokerNotAllowed = "BrokerNotAllowed"
	// ReasonScaleFailed (Warning): the scale subresource update failed.
	ReasonScaleFailed = "ScaleFailed"
	// ReasonCPUMetricsUnavailable (Warning): the workload asks for the CPU
	// signal and metrics.k8s.io could not be read; the CPU signal holds.
	ReasonCPUMetricsUnavailable = "CPUMetricsUnavailable"
)

// warning is the last Warning event recorded for a workload, and when.
type warning struct {
	text string // reason and message
	at   time.Time
}

// due records that text is w's warning now and reports whether its event
// should go out: when the text is new, or when the same text was last sent
// Config.WarningRepeatPeriod ago or more. Callers hold c.mu.
func (c *Controller) due(m map[string]warning, key, text string) bool {
	now := c.clock.Now()
	if last, ok := m[key]; ok && last.text == text && now.Sub(last.at) < c.rewarn {
		return false
	}
	m[key] = warning{text: text, at: now}
	return true
}

// warn records a Warning event on w unless the same warning was the last
// one recorded for it less than Config.WarningRepeatPeriod ago: a broker
// that stays down for an hour makes an event every 10 minutes (so that
// `kubectl describe` shows one for as long as it lasts, events expiring
// after an hour), not 720.
func (c *Controller) warn(w *workload, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	send := c.due(c.warned, w.key(), reason+"\x00"+msg)
	c.mu.Unlock()
	if send {
		c.recorder.Event(w.obj, corev1.EventTypeWarning, reason, msg)
	}
}

// clearWarning forgets w's last warning once its queue reads fine again,
// so that the same problem coming back is reported again.
func (c *Controller) clearWarning(w *workload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.warned, w.key())
}

// warnCPU records a CPUMetricsUnavailable warning on w, deduplicated (and
// repeated) as warn does but on its own: the queue's warnings come and go
// independently.
func (c *Controller) warnCPU(w *workload, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	send := c.due(c.cpuWarned, w.key(), msg)
	c.mu.Unlock()
	if send {
		c.recorder.Event(w.obj, corev1.EventTypeWarning, ReasonCPUMetricsUnavailable, msg)
	}
}

// clearCPUWarning forgets w's CPU warning once CPU reads fine again.
func (c *Controller) clearCPUWarning(w *workload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cpuWarned, w.key())
}

// oneLine joins a multi-line error (errors.Join) into one event message.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// EventSpamKey is the key of client-go's event spam filter for the
// controller's broadcaster. The default keys by object alone, so 25 events
// of one long-lasting or flapping problem on a workload use up its budget,
// and a new problem (its queue deleted) is then dropped. warn sends a
// problem's event once per Config.WarningRepeatPeriod while it lasts (the
// filter refills one token per 5 minutes, more often than that); keying by
// reason and message as well
// gives every distinct problem a budget of its own.
func EventSpamKey(e *corev1.Event) string {
	return strings.Join([]string{e.Source.Component, e.Source.Host, e.InvolvedObject.Kind, e.InvolvedObject.Namespace,
		e.InvolvedObject.Name, string(e.InvolvedObject.UID), e.InvolvedObject.APIVersion, e.Type, e.Reason, e.Message}, "\x00")
}
