package autoscaler

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeLock is a lock whose writes take the fake clock's time and may fail.
type fakeLock struct {
	resourcelock.Interface
	clock   *clocktesting.FakeClock
	latency time.Duration
	err     error
}

func (l *fakeLock) Identity() string { return "me" }

func (l *fakeLock) Create(context.Context, resourcelock.LeaderElectionRecord) error {
	l.clock.Step(l.latency)
	return l.err
}

func (l *fakeLock) Update(context.Context, resourcelock.LeaderElectionRecord) error {
	l.clock.Step(l.latency)
	return l.err
}

func TestLeaseGuard(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	lock := &fakeLock{clock: clk, latency: 3 * time.Second}
	g := NewLeaseGuard(lock, 10*time.Second, clk)
	ctx := context.Background()
	mine := resourcelock.LeaderElectionRecord{HolderIdentity: "me"}
	check := func(step string, wantLeader bool) {
		t.Helper()
		err := g.Check()
		if wantLeader != (err == nil) || (err != nil && !errors.Is(err, ErrNotLeader)) {
			t.Errorf("%s: Check() = %v, want leading %v", step, err, wantLeader)
		}
	}

	check("before acquiring", false)
	_ = g.Create(ctx, mine)
	check("just acquired", true)

	// The age counts from when the renewal was sent, not answered: a slow
	// answer (3 s here) leaves 7 s, not 10.
	clk.Step(7500 * time.Millisecond)
	check("10.5 s after the renewal was sent", false)

	_ = g.Update(ctx, mine)
	check("renewed", true)
	lock.err, lock.latency = errors.New("apiserver unreachable"), 2*time.Second
	for range 3 {
		_ = g.Update(ctx, mine) // failures extend nothing
	}
	check("three failed renewals, 9 s later", true)
	clk.Step(2 * time.Second)
	check("past the renew deadline after failed renewals", false)

	// A pause: the process sleeps 30 s between two renewals.
	lock.err = nil
	_ = g.Update(ctx, mine)
	clk.Step(30 * time.Second)
	check("resumed after a 30 s pause", false)

	_ = g.Update(ctx, mine)
	g.Lost()
	check("after OnStoppedLeading", false)
}
