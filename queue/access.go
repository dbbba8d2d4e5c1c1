package queue

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNotAllowed says that the broker's configuration does not let a
// namespace, or a vhost, use it (BrokerConfig.Allow).
var ErrNotAllowed = errors.New("not allowed by the broker configuration")

// Access says who may use a broker. In a shared cluster it keeps one
// team's workloads (and their HPAs, through the adapter) from reading the
// depth and rates of another team's queues: a workload in a namespace not
// listed, or naming a vhost not listed, is not read at all. An empty list
// allows everything, as a broker without Allow does.
type Access struct {
	// Namespaces whose workloads and HPAs may read the broker.
	Namespaces []string `json:"namespaces,omitempty"`
	// Vhosts they may read.
	Vhosts []string `json:"vhosts,omitempty"`
}

// Check returns an error wrapping ErrNotAllowed, which names the broker,
// the namespace and the vhost, when a workload or HPA in namespace may not
// read vhost on the broker.
func (a Access) Check(broker, namespace, vhost string) error {
	if vhost == "" {
		vhost = DefaultVhost
	}
	switch {
	case len(a.Namespaces) > 0 && !slices.Contains(a.Namespaces, namespace):
		return fmt.Errorf("broker %q: namespace %q: %w (allow.namespaces: %q)", broker, namespace, ErrNotAllowed, a.Namespaces)
	case len(a.Vhosts) > 0 && !slices.Contains(a.Vhosts, vhost):
		return fmt.Errorf("broker %q: vhost %q: %w (allow.vhosts: %q)", broker, vhost, ErrNotAllowed, a.Vhosts)
	}
	return nil
}

func (a Access) validate(add func(field string, value any, msg string)) {
	for i, ns := range a.Namespaces {
		if len(ns) > 63 || !dnsLabel.MatchString(ns) {
			add(fmt.Sprintf("allow.namespaces[%d]", i), ns, "is not a namespace name (a DNS label)")
		} else if slices.Index(a.Namespaces, ns) < i {
			add(fmt.Sprintf("allow.namespaces[%d]", i), ns, "is listed twice")
		}
	}
	for i, v := range a.Vhosts {
		if v == "" {
			add(fmt.Sprintf("allow.vhosts[%d]", i), v, `is empty (the default vhost is "/")`)
		} else if slices.Index(a.Vhosts, v) < i {
			add(fmt.Sprintf("allow.vhosts[%d]", i), v, "is listed twice")
		}
	}
}

// Allowed checks, with the named broker's Access, whether a workload or
// HPA in namespace may read vhost on it. A broker not configured is not
// this check's concern (the caller reports ErrUnknownBroker): it returns
// nil.
func (b *Brokers) Allowed(broker, namespace, vhost string) error {
	a, ok := b.access[broker]
	if !ok {
		return nil
	}
	return a.Check(broker, namespace, vhost)
}
