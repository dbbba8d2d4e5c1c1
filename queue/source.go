package queue

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/utils/clock"
)

// Source reads one broker. Each call makes a handful of requests however
// many workloads will look at the result: the management source one per
// page (per vhost when few vhosts are in scope), the Prometheus source one
// per node, the AMQP source one passive declare per queue in scope over a
// single connection. A Source does not compute rates; wrap it in a Reader.
type Source interface {
	Snapshot(ctx context.Context, scope Scope) (*Snapshot, error)
	// Close releases connections. The Source is unusable afterwards.
	Close() error
}

// Scope says what a read must cover. The zero Scope means every queue of
// every vhost, which listing sources can do and the AMQP source cannot.
type Scope struct {
	// Vhosts whose queues are wanted, e.g. for pattern lookups.
	Vhosts []string
	// Queues named exactly by workloads. Listing sources only take their
	// vhosts from them; the AMQP source reads exactly these.
	Queues []QueueKey
}

// Add records that a workload reads the named queues of vhost ("" means
// "/"). With no names, it records the whole vhost (for a pattern).
func (s *Scope) Add(vhost string, names ...string) {
	if vhost == "" {
		vhost = DefaultVhost
	}
	if len(names) == 0 {
		s.Vhosts = append(s.Vhosts, vhost)
	}
	for _, n := range names {
		s.Queues = append(s.Queues, QueueKey{Vhost: vhost, Name: n})
	}
}

// vhostSet is the sorted set of vhosts the scope touches; nil means all.
func (s Scope) vhostSet() []string {
	if len(s.Vhosts) == 0 && len(s.Queues) == 0 {
		return nil
	}
	vs := slices.Clone(s.Vhosts)
	for _, q := range s.Queues {
		vs = append(vs, q.Vhost)
	}
	for i, v := range vs {
		if v == "" {
			vs[i] = DefaultVhost
		}
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

// queueSet is the sorted set of exact queues.
func (s Scope) queueSet() []QueueKey {
	qs := slices.Clone(s.Queues)
	for i := range qs {
		if qs[i].Vhost == "" {
			qs[i].Vhost = DefaultVhost
		}
	}
	slices.SortFunc(qs, compareKeys)
	return slices.Compact(qs)
}

// NewSource builds the source a broker's configuration asks for; unset
// fields take their defaults and the result must be valid. clk stamps
// samples and paces AMQP re-dials (nil means the real clock).
func NewSource(cfg BrokerConfig, clk clock.PassiveClock) (Source, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	cfg.Default() // a copy: unset fields get their defaults
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("broker %q: %w", cfg.Name, errs[0])
	}
	switch cfg.Source {
	case SourceManagement:
		return NewManagementSource(cfg, clk)
	case SourcePrometheus:
		return NewPrometheusSource(cfg, clk)
	case SourceAMQP:
		return NewAMQPSource(cfg, clk)
	}
	return nil, fmt.Errorf("%w: broker %q: source %q", ErrInvalidConfig, cfg.Name, cfg.Source)
}
