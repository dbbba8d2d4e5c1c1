package queue

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// LabelSelector selects namespaces by their labels, in the shape and with
// the meaning of a Kubernetes LabelSelector (metav1.LabelSelector): every
// matchLabels pair and every matchExpressions requirement must hold. It is
// plain data here because this package knows nothing of Kubernetes' API
// (the layering check keeps k8s.io/api and k8s.io/apimachinery out);
// autoscaler's tests check that it matches as the apimachinery one does.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one matchExpressions entry: Key, an Operator
// (In, NotIn, Exists, DoesNotExist) and, for In and NotIn, the Values.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// The operators of a LabelSelectorRequirement.
const (
	OpIn           = "In"
	OpNotIn        = "NotIn"
	OpExists       = "Exists"
	OpDoesNotExist = "DoesNotExist"
)

// Matches reports whether labels satisfy every requirement of s. In needs
// the key with one of the values; NotIn, the key absent or with none of
// them; Exists, the key; DoesNotExist, no such key.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		var holds bool
		switch r.Operator {
		case OpIn:
			holds = ok && slices.Contains(r.Values, v)
		case OpNotIn:
			holds = !ok || !slices.Contains(r.Values, v)
		case OpExists:
			holds = ok
		case OpDoesNotExist:
			holds = !ok
		}
		if !holds {
			return false
		}
	}
	return true
}

// String writes s in kubectl's selector syntax, values sorted: "team=shop,
// tier in (a,b),env notin (dev),owner,!legacy".
func (s *LabelSelector) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, r := range s.MatchExpressions {
		switch r.Operator {
		case OpIn:
			parts = append(parts, r.Key+" in ("+strings.Join(slices.Sorted(slices.Values(r.Values)), ",")+")")
		case OpNotIn:
			parts = append(parts, r.Key+" notin ("+strings.Join(slices.Sorted(slices.Values(r.Values)), ",")+")")
		case OpExists:
			parts = append(parts, r.Key)
		case OpDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	return strings.Join(parts, ",")
}

// The syntax of label keys and values (Kubernetes' qualified names and
// label values): a name of at most 63 characters, alphanumerics with '-',
// '_' and '.' inside; a key may have a DNS subdomain prefix and a '/'.
var (
	labelName = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	dnsSub    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

func labelKeyProblem(k string) string {
	name := k
	if prefix, rest, ok := strings.Cut(k, "/"); ok {
		if prefix == "" || len(prefix) > 253 || !dnsSub.MatchString(prefix) {
			return "is not a label key: its prefix must be a DNS subdomain (lower case, at most 253 characters)"
		}
		name = rest
	}
	if name == "" || len(name) > 63 || !labelName.MatchString(name) {
		return "is not a label key (at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric, after an optional DNS subdomain and '/')"
	}
	return ""
}

func labelValueProblem(v string) string {
	if v != "" && (len(v) > 63 || !labelName.MatchString(v)) {
		return "is not a label value (empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)"
	}
	return ""
}

// validate reports every problem of s, each naming its field under field.
func (s *LabelSelector) validate(field string, add func(field string, value any, msg string)) {
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		add(field, "{}", "selects every namespace; leave it out to allow every namespace, or give matchLabels or matchExpressions")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		f := fmt.Sprintf("%s.matchLabels[%q]", field, k)
		if msg := labelKeyProblem(k); msg != "" {
			add(f, k, msg)
		}
		if msg := labelValueProblem(s.MatchLabels[k]); msg != "" {
			add(f, s.MatchLabels[k], msg)
		}
	}
	for i, r := range s.MatchExpressions {
		f := fmt.Sprintf("%s.matchExpressions[%d]", field, i)
		if msg := labelKeyProblem(r.Key); msg != "" {
			add(f+".key", r.Key, msg)
		}
		switch r.Operator {
		case OpIn, OpNotIn:
			if len(r.Values) == 0 {
				add(f+".values", r.Values, "must not be empty with operator "+r.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(r.Values) > 0 {
				add(f+".values", r.Values, "must be empty with operator "+r.Operator)
			}
		default:
			add(f+".operator", r.Operator, "is not one of In, NotIn, Exists, DoesNotExist")
		}
		for j, v := range r.Values {
			if msg := labelValueProblem(v); msg != "" {
				add(fmt.Sprintf("%s.values[%d]", f, j), v, msg)
			}
		}
	}
}
