package autoscaler

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/rabbitscale/rabbitscale/policy"
)

// memory is what the controller keeps of a workload between ticks.
type memory struct {
	state     policy.State
	persisted string    // the state annotation as last written or read
	written   written   // what the annotations said when last written or read
	syncedAt  time.Time // when the annotations were last written or read
	// phase places this workload's refreshes within the period, so that
	// workloads seen in the same tick (all of them, after a start) are not
	// refreshed in one burst.
	phase time.Duration
}

// refreshDue reports whether a refresh of m's annotations is due at now:
// once in every period, at the workload's phase.
func (m *memory) refreshDue(now time.Time, period time.Duration) bool {
	if period <= 0 {
		return true
	}
	slot := func(t time.Time) int64 { return (t.UnixNano() + int64(m.phase)) / int64(period) }
	return slot(now) != slot(m.syncedAt)
}

// remember returns the controller's memory of w, reading the state
// annotation the first time it sees w (after a restart or a failover).
func (c *Controller) remember(w *workload, now time.Time) (*memory, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.states[w.UID]; ok {
		return m, nil
	}
	raw := w.Annotations[policy.StateAnnotation]
	m := &memory{persisted: raw, syncedAt: now, phase: syncPhase(w.UID, c.syncEach)}
	c.states[w.UID] = m
	if d, err := policy.DecodeDecision(w.Annotations[policy.DecisionAnnotation]); err == nil && d.Reason != "" {
		m.written.summary = d.Summary()
	} else {
		m.syncedAt = time.Time{} // nothing written yet: the first decision is news at once
	}
	st, err := policy.DecodeState(raw)
	if err != nil {
		return m, err
	}
	if m.written.durable, err = policy.EncodeState(st.Durable()); err != nil {
		return m, err
	}
	// Stored state may lag the last decisions: hold the current replicas
	// for a window before any scale-down.
	m.state = st.Resumed(now, w.Replicas)
	return m, nil
}

// syncPhase spreads workloads over the refresh period by their UID.
func syncPhase(uid types.UID, period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	h := sha256.Sum256([]byte(uid))
	return time.Duration(binary.BigEndian.Uint64(h[:8]) % uint64(period))
}

// forget drops the memory of workloads that are gone.
func (c *Controller) forget(ws []workload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.states) <= len(ws) && len(c.warned) <= len(ws) && len(c.cpuWarned) <= len(ws) {
		return
	}
	live := make(map[types.UID]bool, len(ws))
	keys := make(map[string]bool, len(ws))
	for _, w := range ws {
		live[w.UID] = true
		keys[w.key()] = true
	}
	for uid := range c.states {
		if !live[uid] {
			delete(c.states, uid)
		}
	}
	for k := range c.warned {
		if !keys[k] {
			delete(c.warned, k)
		}
	}
	for k := range c.cpuWarned {
		if !keys[k] {
			delete(c.cpuWarned, k)
		}
	}
}

// dropMemory forgets what the controller kept of a workload, so that the
// next sync reads its annotations again.
func (c *Controller) dropMemory(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.states, uid)
}
