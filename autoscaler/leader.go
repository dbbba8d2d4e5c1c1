package autoscaler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
)

// LeaseGuard wraps the leader election's lock and answers, before every
// write the controller makes, whether this process may still act as the
// leader. client-go's elector notices a lost lease only when its renew
// loop fails, up to the renew deadline later; a process that was paused
// (SIGSTOP, a frozen node, a long GC) resumes believing it leads, and would
// write while another replica already does.
//
// The guard measures instead, on this process's monotonic clock, how long
// ago the lease was last renewed, from the moment the successful renewal
// was sent: a standby can take the lease no sooner than the lease duration
// after it saw that renewal, so writes are safe while that age is below the
// renew deadline, which is shorter than the lease duration by a margin. Use
// it as the elector's Lock and pass Check as Config.Leader.
type LeaseGuard struct {
	resourcelock.Interface
	clock         clock.PassiveClock
	renewDeadline time.Duration

	mu        sync.Mutex
	renewedAt time.Time // when the last successful acquire or renew was sent
	lost      bool
}

// NewLeaseGuard guards lock; renewDeadline is the elector's RenewDeadline.
func NewLeaseGuard(lock resourcelock.Interface, renewDeadline time.Duration, clk clock.PassiveClock) *LeaseGuard {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &LeaseGuard{Interface: lock, clock: clk, renewDeadline: renewDeadline}
}

// Create is the lock's Create, noting a successful acquisition.
func (g *LeaseGuard) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	sent := g.clock.Now()
	err := g.Interface.Create(ctx, r)
	g.note(sent, r, err)
	return err
}

// Update is the lock's Update, noting a successful renewal.
func (g *LeaseGuard) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	sent := g.clock.Now()
	err := g.Interface.Update(ctx, r)
	g.note(sent, r, err)
	return err
}

func (g *LeaseGuard) note(sent time.Time, r resourcelock.LeaderElectionRecord, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err != nil:
	case r.HolderIdentity == g.Identity():
		g.renewedAt = sent
	default: // released
		g.lost = true
	}
}

// Lost marks the lease as lost for good (the elector's OnStoppedLeading).
func (g *LeaseGuard) Lost() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lost = true
}

// Check returns nil while this process holds the lease as far as it can
// know, and an error wrapping ErrNotLeader otherwise.
func (g *LeaseGuard) Check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch age := g.clock.Since(g.renewedAt); {
	case g.lost:
		return fmt.Errorf("%w: the lease was lost", ErrNotLeader)
	case g.renewedAt.IsZero():
		return fmt.Errorf("%w: the lease was never acquired", ErrNotLeader)
	case age > g.renewDeadline:
		return fmt.Errorf("%w: the lease was last renewed %s ago, beyond the renew deadline %s", ErrNotLeader, age.Round(time.Millisecond), g.renewDeadline)
	}
	return nil
}
