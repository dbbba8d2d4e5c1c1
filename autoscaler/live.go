package autoscaler

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// LiveDecision is a workload's latest decision as this process made it,
// which the annotations may show only later (their writes are spaced, see
// writeDue): what `rabbitscale status` and `make demo` show as the live
// "why".
type LiveDecision struct {
	Kind      Kind            `json:"kind"`
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	At        time.Time       `json:"at"`
	Decision  policy.Decision `json:"decision"`
}

// Decisions returns the latest decision of every workload this process
// decided for, sorted by kind, namespace and name. A standby, or a process
// before its first tick, has none. Safe for concurrent use with Tick.
func (c *Controller) Decisions() []LiveDecision {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]LiveDecision, 0, len(c.live))
	for _, k := range slices.Sorted(maps.Keys(c.live)) { // workload keys: kind/namespace/name
		out = append(out, c.live[k])
	}
	return out
}

// keepLive keeps w's decision for Decisions.
func (c *Controller) keepLive(w *workload, d policy.Decision, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[w.key()] = LiveDecision{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, At: at, Decision: d}
}

// forgetLive drops the decisions of workloads no longer decided for.
func (c *Controller) forgetLive(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.live {
		if !keep[k] {
			delete(c.live, k)
		}
	}
}

// DecisionsPath is where `rabbitscale run` serves Decisions on its health
// port.
const DecisionsPath = "/decisions"

// LiveDecisions is what DecisionsHandler answers: who answers, whether it
// leads (a standby decides nothing), and the decisions.
type LiveDecisions struct {
	Identity  string         `json:"identity"`
	Leading   bool           `json:"leading"`
	Decisions []LiveDecision `json:"decisions"`
}

// DecisionsHandler serves c's Decisions as JSON (LiveDecisions). leading
// says whether this process holds the lease now.
func DecisionsHandler(c *Controller, identity string, leading func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(LiveDecisions{Identity: identity, Leading: leading(), Decisions: c.Decisions()})
	})
}
