package observe

import (
	"context"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// Include adds what sel reads to sc: its vhost for a pattern, which needs
// a listing, or its queue names.
func Include(sc *queue.Scope, sel policy.QueueSelector) {
	if sel.Pattern != nil {
		sc.Add(sel.Vhost)
		return
	}
	sc.Add(sel.Vhost, sel.Names...)
}

// Queue returns the engine's view of sel's queues in snap. Anything
// missing (a queue not found, not in the snapshot's scope, a pattern that
// matches nothing) makes the observation unavailable, which the engine
// never answers with a scale-down, and comes back as the error, which
// wraps queue.ErrQueueNotFound or queue.ErrNotInScope.
//
// The rates are the snapshot's: a queue.Reader computed them from its own
// successive samples of the broker's counters, the recent publish rate
// included. OldestReadyAt is the totals' (the management API's
// head_message_timestamp), zero when unknown.
func Queue(snap *queue.Snapshot, sel policy.QueueSelector) (policy.QueueObservation, error) {
	t, err := totals(snap, sel)
	if err != nil {
		return policy.QueueObservation{}, err
	}
	return fromTotals(t), nil
}

func fromTotals(t queue.Totals) policy.QueueObservation {
	return policy.QueueObservation{
		Available:      true,
		Ready:          t.Ready,
		Unacked:        t.Unacked,
		Consumers:      t.Consumers,
		RatesAvailable: t.Rates.Available,
		PublishRate:    t.Rates.Publish,
		DeliverRate:    t.Rates.Deliver,
		AckRate:        t.Rates.Ack,
		RateSpan:       t.Rates.Span,

		RecentPublishRate: t.Rates.RecentPublish,
		RecentDeliverRate: t.Rates.RecentDeliver,
		RecentAckRate:     t.Rates.RecentAck,
		RecentRateSpan:    t.Rates.RecentSpan,
		OldestReadyAt:     t.OldestReadyAt,
	}
}

func totals(snap *queue.Snapshot, sel policy.QueueSelector) (queue.Totals, error) {
	if sel.Pattern != nil {
		return snap.Match(sel.Vhost, sel.Pattern)
	}
	return snap.Lookup(sel.Vhost, sel.Names...)
}

// Workload is what the fresh read needs of one workload: its queues and
// its current replicas.
type Workload struct {
	Replicas int32
	Queue    policy.QueueSelector
}

// WantsFresh says whether w's ready count is read fresh every tick
// (queue.Reader.Fresh, an AMQP passive declare): a workload at zero
// replicas, whose wake-up must not wait for the broker's next statistics
// sample (collect_statistics_interval, 5 s by default). A workload with
// pods has consumers, and the statistics serve it.
func (w Workload) WantsFresh() bool { return w.Replicas == 0 }

// FreshScope is the scope of a broker's one fresh read in a tick: the
// queues of every workload that wants one, as the main read snap resolved
// them (a pattern's queues are the ones it matched there). A workload
// whose queues snap cannot answer for adds nothing: its observation is
// unavailable anyway. The scope is empty when no workload wants a fresh
// read; then make none.
func FreshScope(snap *queue.Snapshot, ws ...Workload) queue.Scope {
	var sc queue.Scope
	for _, w := range ws {
		if !w.WantsFresh() {
			continue
		}
		t, err := totals(snap, w.Queue)
		if err != nil {
			continue
		}
		for _, k := range t.Queues {
			sc.Add(k.Vhost, k.Name)
		}
	}
	return sc
}

// FreshReader makes a broker's fresh read; *queue.Reader implements it.
type FreshReader interface {
	Fresh(ctx context.Context, scope queue.Scope) (*queue.Snapshot, error)
}

// ReadFresh makes a broker's one fresh read of a tick for its workloads
// ws, after its main read snap: nil and no request when none wants one
// (FreshScope is empty). Its errors are r's, queue.ErrFreshUnsupported
// for a broker without a fresh source; the caller keeps the statistics.
func ReadFresh(ctx context.Context, r FreshReader, snap *queue.Snapshot, ws ...Workload) (*queue.Snapshot, error) {
	scope := FreshScope(snap, ws...)
	if len(scope.Queues) == 0 {
		return nil, nil
	}
	return r.Fresh(ctx, scope)
}

// QueueFresh is Queue, with the fresh read's ready count for a workload
// that wants one (WantsFresh): when fresh (nil for none) holds every queue
// the totals of snap summed, Ready is their fresh sum, so that a burst on
// a queue at zero replicas is seen within the tick. Otherwise, a queue the
// fresh read could not answer for (another vhost than the AMQP
// connection's, a failed declare), the statistics figures stand. Nothing
// else is taken from the fresh read.
func QueueFresh(snap, fresh *queue.Snapshot, w Workload) (policy.QueueObservation, error) {
	t, err := totals(snap, w.Queue)
	if err != nil {
		return policy.QueueObservation{}, err
	}
	q := fromTotals(t)
	if fresh == nil || !w.WantsFresh() {
		return q, nil
	}
	var ready int64
	for _, k := range t.Queues {
		st, err := fresh.Queue(k)
		if err != nil {
			return q, nil
		}
		ready += st.Ready
	}
	q.Ready = ready
	return q, nil
}
