package policy

import (
	"math"
	"time"
)

// Observation is what the controller saw in one tick for one workload.
type Observation struct {
	// Replicas is the workload's current replica count (the scale
	// subresource's spec.replicas).
	Replicas int32            `json:"replicas"`
	Queue    QueueObservation `json:"queue"`
	CPU      CPUObservation   `json:"cpu"`
}

// QueueObservation sums the selected queues of one workload.
type QueueObservation struct {
	// Available is false when the broker or a queue could not be read;
	// the other fields are then ignored.
	Available bool `json:"available"`
	// Ready messages wait for a consumer; Unacked ones are delivered and
	// not yet acknowledged.
	Ready   int64 `json:"ready"`
	Unacked int64 `json:"unacked"`
	// Consumers on the queues. The per-pod rate is learned only while
	// there are at least as many consumers as replicas (every pod
	// consuming), so leave it 0 only if rate learning is not wanted.
	Consumers int64 `json:"consumers"`

	// RatesAvailable is false until the caller has two counter samples,
	// or when a counter went backwards. Rates are messages per second,
	// computed by the caller from the broker's counters (never from the
	// broker's own *_details.rate fields).
	RatesAvailable bool `json:"ratesAvailable"`
	// PublishRate is the arrival rate into the queues.
	PublishRate float64 `json:"publishRate"`
	// DeliverRate counts deliveries to consumers (including auto-ack).
	DeliverRate float64 `json:"deliverRate"`
	// AckRate counts acknowledgements.
	AckRate float64 `json:"ackRate"`
	// RateSpan is the time the rates average over: the span between the
	// two counter samples they come from. The per-pod rate is learned only
	// from rates whose whole span the current replicas spent saturated, so
	// that pods still starting (or idle before a burst) do not drag the
	// sample down. Zero means the rates are instantaneous.
	RateSpan time.Duration `json:"rateSpan,omitempty"`

	// RecentPublishRate is the arrival rate over RecentRateSpan, the span
	// between the two newest counter samples that the broker took at
	// different times (one collect_statistics_interval with the management
	// API). Quiet is decided from it: 0 means the publish counter did not
	// move between them. RecentRateSpan is zero when unknown (fewer than two
	// such samples, or a counter went backwards).
	RecentPublishRate float64       `json:"recentPublishRate,omitempty"`
	RecentRateSpan    time.Duration `json:"recentRateSpan,omitempty"`
	// RecentDeliverRate and RecentAckRate are the deliver and ack rates
	// over RecentRateSpan. The per-pod rate is learned from them: one
	// sampling step whose both ends saw the consumers saturated is an
	// unbiased sample, where the windowed rates would need the whole
	// window.
	RecentDeliverRate float64 `json:"recentDeliverRate,omitempty"`
	RecentAckRate     float64 `json:"recentAckRate,omitempty"`

	// OldestReadyAt is when the oldest ready message was published, from
	// its timestamp property (the management API's head_message_timestamp);
	// zero when unknown: no ready message, a publisher that sets no
	// timestamp, or a source that cannot tell.
	OldestReadyAt time.Time `json:"oldestReadyAt,omitzero"`
}

// CPUObservation carries one sample per pod of the workload, for the CPU
// signal. Leave out pods that are being deleted or have failed, as the HPA
// does.
type CPUObservation struct {
	// Available is false when the metrics API could not be read.
	Available bool     `json:"available"`
	Pods      []PodCPU `json:"pods,omitempty"`
}

// PodCPU is one pod's CPU sample, classified the way the HPA classifies
// pods (kubernetes pkg/controller/podautoscaler, groupPods).
type PodCPU struct {
	// Ready is false for a pod the HPA sets aside as not ready: a pending
	// pod, or one still in its CPU initialisation period whose sample
	// cannot be trusted yet. Unready pods are ignored when the CPU signal
	// points down and count as 0% when it points up.
	Ready bool `json:"ready"`
	// HasMetric is false when the metrics API returned no sample for a
	// ready pod. Such missing pods count as 100% of their request when the
	// signal points down and 0% when it points up.
	HasMetric bool `json:"hasMetric"`
	// UsageMilli is the pod's CPU usage in millicores.
	UsageMilli int64 `json:"usageMilli"`
	// RequestMilli is the sum of the pod's containers' CPU requests in
	// millicores; 0 when a container has none (the CPU signal is then
	// unavailable, as for the HPA).
	RequestMilli int64 `json:"requestMilli"`
}

// sanitize makes an observation safe to compute with: negative counts become
// zero, and rates that are negative or not finite make the rates unavailable.
func (q QueueObservation) sanitize() QueueObservation {
	if !q.Available {
		return QueueObservation{}
	}
	q.Ready = max(q.Ready, 0)
	q.Unacked = max(q.Unacked, 0)
	q.Consumers = max(q.Consumers, 0)
	q.RateSpan = max(q.RateSpan, 0)
	if !q.RatesAvailable || !usableRate(q.PublishRate) || !usableRate(q.DeliverRate) || !usableRate(q.AckRate) {
		q.RatesAvailable = false
		q.PublishRate, q.DeliverRate, q.AckRate = 0, 0, 0
	}
	if q.RecentRateSpan <= 0 || !usableRate(q.RecentPublishRate) || !usableRate(q.RecentDeliverRate) || !usableRate(q.RecentAckRate) {
		q.RecentRateSpan = 0
		q.RecentPublishRate, q.RecentDeliverRate, q.RecentAckRate = 0, 0, 0
	}
	return q
}

func usableRate(r float64) bool {
	return r >= 0 && !math.IsInf(r, 0) && !math.IsNaN(r)
}

// processed is the rate at which consumers finish messages: acks, or
// deliveries when consumers use auto-ack and never ack.
func (q QueueObservation) processed() float64 {
	return finished(q.AckRate, q.DeliverRate)
}

// recentProcessed is processed over the recent span, and the span; without
// recent rates, the windowed ones and RateSpan. ok is false when neither is
// known.
func (q QueueObservation) recentProcessed() (rate float64, span time.Duration, ok bool) {
	switch {
	case q.RecentRateSpan > 0:
		return finished(q.RecentAckRate, q.RecentDeliverRate), q.RecentRateSpan, true
	case q.RatesAvailable:
		return q.processed(), q.RateSpan, true
	}
	return 0, 0, false
}

func finished(ack, deliver float64) float64 {
	if ack > 0 {
		return ack
	}
	return deliver
}
