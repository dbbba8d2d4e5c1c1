package policy

import (
	"regexp"
	"slices"
	"strings"
)

// QueueSelector is the queues one workload consumes from, as its
// annotations name them: the queues Names of Vhost, or every queue of
// Vhost whose whole name Pattern matches. Exactly one of Names and Pattern
// is set in a parsed Spec.
//
// It is the only reading of a workload's queue selection: the broker
// scope and the observation (package observe), idle-first marking and the
// metric label all go through it.
type QueueSelector struct {
	Vhost string
	// Names are summed; a parsed Spec holds no name twice.
	Names []string
	// Pattern is anchored: it matches whole names.
	Pattern *regexp.Regexp
}

// Match reports whether the queue name in vhost is one the selector
// selects.
func (s QueueSelector) Match(vhost, name string) bool {
	if vhost != s.Vhost {
		return false
	}
	if s.Pattern != nil {
		return s.Pattern.MatchString(name)
	}
	return slices.Contains(s.Names, name)
}

// String is the selection as one label value: the anchored pattern, or the
// names joined with commas. The vhost is not part of it.
func (s QueueSelector) String() string {
	if s.Pattern != nil {
		return s.Pattern.String()
	}
	return strings.Join(s.Names, ",")
}
