package observe

import (
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
	var t queue.Totals
	var err error
	if sel.Pattern != nil {
		t, err = snap.Match(sel.Vhost, sel.Pattern)
	} else {
		t, err = snap.Lookup(sel.Vhost, sel.Names...)
	}
	if err != nil {
		return policy.QueueObservation{}, err
	}
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
		RecentRateSpan:    t.Rates.RecentSpan,
		OldestReadyAt:     t.OldestReadyAt,
	}, nil
}
