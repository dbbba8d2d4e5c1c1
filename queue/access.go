package queue

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotAllowed says that the broker's configuration does not let a
// namespace, or a vhost, use it (BrokerConfig.Allow).
var ErrNotAllowed = errors.New("not allowed by the broker configuration")

// Access says who may use a broker. In a shared cluster it keeps one
// team's workloads (and their HPAs, through the adapter) from reading the
// depth and rates of another team's queues: a workload in a namespace not
// allowed, or naming a vhost not listed, is not read at all.
//
// A namespace is allowed when it is listed in Namespaces or its labels
// match NamespaceSelector; with neither set, every namespace is. An empty
// Vhosts allows every vhost.
type Access struct {
	// Namespaces whose workloads and HPAs may read the broker, by name.
	Namespaces []string `json:"namespaces,omitempty"`
	// NamespaceSelector allows, besides, the namespaces whose labels it
	// matches. A namespace whose labels are not known (a controller
	// watching only some namespaces cannot read them) does not match.
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
	// Vhosts they may read.
	Vhosts []string `json:"vhosts,omitempty"`
}

// Namespace is the namespace of a workload or an HPA, as Access checks it.
type Namespace struct {
	Name string
	// Labels are the namespace's labels; nil when they are not known, and
	// then no NamespaceSelector matches. (Every namespace carries at least
	// kubernetes.io/metadata.name, so known labels are never empty.)
	Labels map[string]string
}

// Check returns an error wrapping ErrNotAllowed, which names the broker,
// the namespace or the vhost, and the rule that refuses it, when a
// workload or HPA in namespace ns may not read vhost on the broker.
func (a Access) Check(broker string, ns Namespace, vhost string) error {
	if vhost == "" {
		vhost = DefaultVhost
	}
	if !a.allowsNamespace(ns) {
		var rules []string
		if len(a.Namespaces) > 0 {
			rules = append(rules, fmt.Sprintf("allow.namespaces: %q", a.Namespaces))
		}
		if a.NamespaceSelector != nil {
			r := fmt.Sprintf("allow.namespaceSelector: %q", a.NamespaceSelector.String())
			if ns.Labels == nil {
				r += ", which cannot match: the namespace's labels are not known"
			}
			rules = append(rules, r)
		}
		return fmt.Errorf("broker %q: namespace %q: %w (%s)", broker, ns.Name, ErrNotAllowed, strings.Join(rules, "; "))
	}
	if len(a.Vhosts) > 0 && !slices.Contains(a.Vhosts, vhost) {
		return fmt.Errorf("broker %q: vhost %q: %w (allow.vhosts: %q)", broker, vhost, ErrNotAllowed, a.Vhosts)
	}
	return nil
}

func (a Access) allowsNamespace(ns Namespace) bool {
	switch {
	case len(a.Namespaces) == 0 && a.NamespaceSelector == nil:
		return true
	case slices.Contains(a.Namespaces, ns.Name):
		return true
	default:
		return a.NamespaceSelector != nil && ns.Labels != nil && a.NamespaceSelector.Matches(ns.Labels)
	}
}

func (a Access) validate(add func(field string, value any, msg string)) {
	for i, ns := range a.Namespaces {
		if len(ns) > 63 || !dnsLabel.MatchString(ns) {
			add(fmt.Sprintf("allow.namespaces[%d]", i), ns, "is not a namespace name (a DNS label)")
		} else if slices.Index(a.Namespaces, ns) < i {
			add(fmt.Sprintf("allow.namespaces[%d]", i), ns, "is listed twice")
		}
	}
	if a.NamespaceSelector != nil {
		a.NamespaceSelector.validate("allow.namespaceSelector", add)
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
// HPA in namespace ns may read vhost on it. A broker not configured is not
// this check's concern (the caller reports ErrUnknownBroker): it returns
// nil.
func (b *Brokers) Allowed(broker string, ns Namespace, vhost string) error {
	a, ok := b.access[broker]
	if !ok {
		return nil
	}
	return a.Check(broker, ns, vhost)
}

// SelectsNamespaces reports whether any broker allows namespaces by label
// (Access.NamespaceSelector).
func (b *Brokers) SelectsNamespaces() bool {
	for _, a := range b.access {
		if a.NamespaceSelector != nil {
			return true
		}
	}
	return false
}
