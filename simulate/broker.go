package simulate

import (
	"context"
	"fmt"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
	"github.com/rabbitscale/rabbitscale/queue"
)

// The simulated workload's one queue, as the controller's code selects it.
// The run does not read the workload's own selection: there is one queue,
// and this is its name.
var (
	simQueue    = queue.QueueKey{Vhost: queue.DefaultVhost, Name: "simulated"}
	simSelector = policy.QueueSelector{Vhost: simQueue.Vhost, Names: []string{simQueue.Name}}
)

// brokerModel is the simulated broker as a queue.Source, so that the run
// reads it through a queue.Reader (the controller's rate tracking) and
// package observe (the controller's observation), like a management API
// source: the figures are the broker's last statistics sample, the
// counters carry that sample's time, and the read is stamped with the
// simulated time of the tick.
type brokerModel struct {
	now    time.Time
	last   sample
	outage bool
	// readyNow and consumersNow are the true figures at the tick, which a
	// passive declare returns (freshModel).
	readyNow, consumersNow int64
}

var _ queue.Source = (*brokerModel)(nil)

func (b *brokerModel) Snapshot(context.Context, queue.Scope) (*queue.Snapshot, error) {
	if b.outage {
		return nil, &queue.BrokerError{Broker: "simulated", Op: "read", Kind: queue.ErrBrokerUnavailable,
			Err: fmt.Errorf("outage at %s", b.now.Sub(Epoch))}
	}
	s := queue.NewSnapshot("simulated", queue.SourceManagement, b.now, queue.Coverage{Listed: true})
	s.Set(simQueue, queue.QueueStats{
		Ready: b.last.ready, Unacked: b.last.unacked, UnackedAvailable: true, Consumers: b.last.consumers,
		Counters:          queue.Counters{Publish: b.last.published, Deliver: b.last.delivered, Ack: b.last.acks},
		CountersAvailable: true,
		CountersTime:      Epoch.Add(time.Duration(b.last.at) * step),
		SampleTime:        b.now,
	})
	return s, nil
}

func (b *brokerModel) Close() error { return nil }

// freshModel is the broker's AMQP side, as the controller's fresh read
// (queue.Reader.Fresh) sees it: a passive declare returns the true ready
// count at the tick, whatever the statistics sampling. It fails during
// outages like the statistics.
type freshModel struct{ b *brokerModel }

var _ queue.Source = freshModel{}

func (f freshModel) Snapshot(_ context.Context, scope queue.Scope) (*queue.Snapshot, error) {
	if f.b.outage {
		return nil, &queue.BrokerError{Broker: "simulated", Op: "amqp passive declare", Kind: queue.ErrBrokerUnavailable,
			Err: fmt.Errorf("outage at %s", f.b.now.Sub(Epoch))}
	}
	s := queue.NewSnapshot("simulated", queue.SourceAMQP, f.b.now, queue.Coverage{})
	for _, k := range scope.Queues {
		if k != simQueue {
			s.SetError(k, &queue.QueueError{Broker: "simulated", Queue: k, Kind: queue.ErrQueueNotFound})
			continue
		}
		s.Set(k, queue.QueueStats{Ready: f.b.readyNow, Consumers: f.b.consumersNow, SampleTime: f.b.now})
	}
	return s, nil
}

func (f freshModel) Close() error { return nil }
