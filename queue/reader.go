package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// Reader reads one broker through a Source and adds rates computed from its
// own successive samples. The controller calls Snapshot once per tick with
// the Scope of every workload on the broker and hands the result to all of
// them; anything else that needs figures between ticks (the external
// metrics API) uses Latest and makes no request.
//
// A failed read changes nothing: Latest keeps the previous snapshot and the
// next successful read computes rates across the gap.
type Reader struct {
	src   Source
	fresh Source // nil: no fresh read

	mu     sync.Mutex // serializes reads: the rate state needs them in order
	rates  *rateTracker
	latest atomic.Pointer[Snapshot]
}

var _ Source = (*Reader)(nil)

// ReaderOptions tune the rate computation.
type ReaderOptions struct {
	// RateWindow is how far back a rate's base sample lies (default
	// DefaultRateWindow). Make it several times the broker's
	// collect_statistics_interval (5 s by default): the broker refreshes
	// its counters only that often.
	RateWindow time.Duration
	// MinRateSpan is the shortest span a rate is reported over (default
	// DefaultMinRateSpan, at most RateWindow).
	MinRateSpan time.Duration
	// Fresh, when set, answers Reader.Fresh: a source whose figures are
	// the broker's current ones, not its last statistics sample (Open
	// gives an AMQPSource to a broker with an amqpURL beside its
	// management or Prometheus source). The Reader closes it.
	Fresh Source
}

// NewReader wraps src.
func NewReader(src Source, opts ReaderOptions) *Reader {
	return &Reader{src: src, fresh: opts.Fresh, rates: newRateTracker(opts.RateWindow, opts.MinRateSpan)}
}

// Fresh reads the scope's queues from the fresh source (AMQP passive
// declares: ready messages and consumers as the broker has them now,
// whatever its collect_statistics_interval), bounded by the broker's
// timeout. Its snapshot has no rates and is not Latest: it only
// supplements the last Snapshot. Without a fresh source it returns
// ErrFreshUnsupported at once. It may run concurrently with Snapshot.
func (r *Reader) Fresh(ctx context.Context, scope Scope) (*Snapshot, error) {
	if r.fresh == nil {
		return nil, ErrFreshUnsupported
	}
	return r.fresh.Snapshot(ctx, scope)
}

// Snapshot reads the broker and computes every queue's rates. Concurrent
// calls are serialized.
func (r *Reader) Snapshot(ctx context.Context, scope Scope) (*Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.src.Snapshot(ctx, scope)
	if err != nil {
		return nil, err
	}
	r.rates.observe(s)
	r.latest.Store(s)
	return s, nil
}

// Latest returns the last successful snapshot, or nil before the first.
func (r *Reader) Latest() *Snapshot { return r.latest.Load() }

// Close closes the source, and the fresh one.
func (r *Reader) Close() error {
	err := r.src.Close()
	if r.fresh != nil {
		err = errors.Join(err, r.fresh.Close())
	}
	return err
}

// Brokers holds one Reader per configured broker.
type Brokers struct {
	readers map[string]*Reader
	access  map[string]Access
	configs map[string]BrokerConfig // as defaulted, for Reopen
}

// Open builds a Reader for every broker of cfg, whose unset fields take
// their defaults (cfg itself is not modified) and which must then be valid.
// It checks that credentials and certificates can be read, but connects to
// nothing: the first read does. clk stamps samples and paces AMQP re-dials;
// nil means the real clock.
func Open(cfg *Config, clk clock.PassiveClock) (*Brokers, error) {
	return open(cfg, clk, nil)
}

// open is Open, taking from prev the reader of every broker whose
// configuration (allow list aside) is the same.
func open(cfg *Config, clk clock.PassiveClock, prev *Brokers) (*Brokers, error) {
	c := Config{Brokers: slices.Clone(cfg.Brokers)}
	c.Default()
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b := &Brokers{readers: map[string]*Reader{}, access: map[string]Access{}, configs: map[string]BrokerConfig{}}
	closeNew := func() {
		for name, r := range b.readers {
			if prev == nil || prev.readers[name] != r {
				_ = r.Close()
			}
		}
	}
	for _, bc := range c.Brokers {
		if _, _, err := bc.Credentials.resolver()(); err != nil {
			closeNew()
			return nil, fmt.Errorf("broker %q: %w", bc.Name, err)
		}
		b.access[bc.Name], b.configs[bc.Name] = bc.Allow, bc
		if r, ok := prev.same(bc); ok {
			b.readers[bc.Name] = r
			continue
		}
		src, err := NewSource(bc, clk)
		if err != nil {
			closeNew()
			return nil, err
		}
		opts := ReaderOptions{RateWindow: bc.RateWindow.Duration, MinRateSpan: bc.MinRateSpan.Duration}
		if bc.AMQPURL != "" && bc.Source != SourceAMQP {
			// Passive declares for workloads at zero, on the broker's
			// one AMQP connection (none is dialed until the first).
			if opts.Fresh, err = NewAMQPSource(bc, clk); err != nil {
				_ = src.Close()
				closeNew()
				return nil, err
			}
		}
		b.readers[bc.Name] = NewReader(src, opts)
	}
	return b, nil
}

// same returns b's reader of bc's broker when b read it with the same
// configuration; the allow list does not matter to the reader.
func (b *Brokers) same(bc BrokerConfig) (*Reader, bool) {
	if b == nil {
		return nil, false
	}
	old, ok := b.configs[bc.Name]
	if !ok {
		return nil, false
	}
	old.Allow, bc.Allow = Access{}, Access{}
	if !reflect.DeepEqual(old, bc) {
		return nil, false
	}
	return b.readers[bc.Name], true
}

// Reopen opens cfg's brokers as Open does, keeping b's reader of every
// broker whose configuration did not change (its connection and its rate
// history with it), and closes b's readers that cfg dropped or changed.
// On error b is untouched and still in use.
func (b *Brokers) Reopen(cfg *Config, clk clock.PassiveClock) (*Brokers, error) {
	nb, err := open(cfg, clk, b)
	if err != nil {
		return nil, err
	}
	for name, r := range b.readers {
		if nb.readers[name] != r {
			_ = r.Close()
		}
	}
	return nb, nil
}

// OpenFile loads the configuration file at path (LoadConfig) and opens a
// Reader for every broker it lists (Open): what the controller and the
// external metrics adapter both start from. Every error names path. clk is
// as for Open.
func OpenFile(path string, clk clock.PassiveClock) (*Brokers, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	b, err := Open(cfg, clk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Readers returns every broker's reader keyed by its configured name, in a
// new map the caller may keep.
func (b *Brokers) Readers() map[string]*Reader { return maps.Clone(b.readers) }

// Reader returns the named broker's reader, or an error wrapping
// ErrUnknownBroker.
func (b *Brokers) Reader(name string) (*Reader, error) {
	r, ok := b.readers[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBroker, name)
	}
	return r, nil
}

// Names lists the configured brokers, sorted.
func (b *Brokers) Names() []string {
	names := make([]string, 0, len(b.readers))
	for n := range b.readers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close closes every reader.
func (b *Brokers) Close() error {
	var errs []error
	for _, r := range b.readers {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}
