package queue

import (
	"errors"
	"strings"
	"testing"
)

func TestAccessCheck(t *testing.T) {
	shop := Access{Namespaces: []string{"shop", "shop-staging"}, Vhosts: []string{"/", "shop"}}
	byLabel := Access{Namespaces: []string{"ops"}, NamespaceSelector: &LabelSelector{
		MatchLabels:      map[string]string{"team": "shop"},
		MatchExpressions: []LabelSelectorRequirement{{Key: "env", Operator: OpNotIn, Values: []string{"dev"}}},
	}}
	onlyLabel := Access{NamespaceSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "rabbitscale.io/tenant", Operator: OpExists}}}}
	labelled := func(name string, kv ...string) Namespace {
		ns := Namespace{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name}}
		for i := 0; i+1 < len(kv); i += 2 {
			ns.Labels[kv[i]] = kv[i+1]
		}
		return ns
	}
	tests := []struct {
		name   string
		access Access
		ns     Namespace
		vhost  string
		want   string // "" for allowed
	}{
		{"no list allows all", Access{}, Namespace{Name: "anyone"}, "any", ""},
		{"listed namespace and vhost", shop, Namespace{Name: "shop-staging"}, "shop", ""},
		{"empty vhost is the default vhost", shop, Namespace{Name: "shop"}, "", ""},
		{"namespace not listed", shop, Namespace{Name: "mail"}, "shop",
			`broker "main": namespace "mail": not allowed by the broker configuration (allow.namespaces: ["shop" "shop-staging"])`},
		{"vhost not listed", shop, Namespace{Name: "shop"}, "payments",
			`broker "main": vhost "payments": not allowed by the broker configuration (allow.vhosts: ["/" "shop"])`},
		{"only vhosts limited", Access{Vhosts: []string{"shop"}}, Namespace{Name: "mail"}, "/",
			`broker "main": vhost "/": not allowed by the broker configuration (allow.vhosts: ["shop"])`},
		{"labels match the selector", byLabel, labelled("shop-eu", "team", "shop", "env", "prod"), "/", ""},
		{"labels match, NotIn key absent", byLabel, labelled("shop-us", "team", "shop"), "/", ""},
		{"listed by name, labels do not match", byLabel, labelled("ops", "team", "ops"), "/", ""},
		{"listed by name, labels unknown", byLabel, Namespace{Name: "ops"}, "/", ""},
		{"labels do not match", byLabel, labelled("shop-dev", "team", "shop", "env", "dev"), "/",
			`broker "main": namespace "shop-dev": not allowed by the broker configuration (allow.namespaces: ["ops"]; allow.namespaceSelector: "team=shop,env notin (dev)")`},
		{"labels unknown", byLabel, Namespace{Name: "shop-eu"}, "/",
			`broker "main": namespace "shop-eu": not allowed by the broker configuration (allow.namespaces: ["ops"]; allow.namespaceSelector: "team=shop,env notin (dev)", which cannot match: the namespace's labels are not known)`},
		{"only a selector, matching", onlyLabel, labelled("a", "rabbitscale.io/tenant", ""), "/", ""},
		{"only a selector, not matching", onlyLabel, labelled("b"), "/",
			`broker "main": namespace "b": not allowed by the broker configuration (allow.namespaceSelector: "rabbitscale.io/tenant")`},
		{"only a selector, labels unknown", onlyLabel, Namespace{Name: "c"}, "/",
			`broker "main": namespace "c": not allowed by the broker configuration (allow.namespaceSelector: "rabbitscale.io/tenant", which cannot match: the namespace's labels are not known)`},
	}
	for _, tt := range tests {
		err := tt.access.Check("main", tt.ns, tt.vhost)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Check = %v, want allowed", tt.name, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.Is(err, ErrNotAllowed)):
			t.Errorf("%s: Check = %v, want %q wrapping ErrNotAllowed", tt.name, err, tt.want)
		}
	}
}

func TestLabelSelectorMatches(t *testing.T) {
	sel := &LabelSelector{MatchExpressions: []LabelSelectorRequirement{
		{Key: "tier", Operator: OpIn, Values: []string{"a", "b"}},
		{Key: "env", Operator: OpNotIn, Values: []string{"dev"}},
		{Key: "owner", Operator: OpExists},
		{Key: "legacy", Operator: OpDoesNotExist},
	}}
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"tier": "a", "owner": "x"}, true},
		{map[string]string{"tier": "b", "owner": "", "env": "prod"}, true},
		{map[string]string{"tier": "c", "owner": "x"}, false},
		{map[string]string{"owner": "x"}, false},
		{map[string]string{"tier": "a", "owner": "x", "env": "dev"}, false},
		{map[string]string{"tier": "a"}, false},
		{map[string]string{"tier": "a", "owner": "x", "legacy": "yes"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := sel.Matches(tt.labels); got != tt.want {
			t.Errorf("%s matches %v = %v, want %v", sel, tt.labels, got, tt.want)
		}
	}
	if got, want := sel.String(), "tier in (a,b),env notin (dev),owner,!legacy"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestBrokersAllowed(t *testing.T) {
	cfg, err := ParseConfig([]byte(`brokers:
- {name: shop, prometheusURLs: ["http://127.0.0.1:1"], allow: {namespaces: [shop]}}
- {name: shared, prometheusURLs: ["http://127.0.0.1:2"]}
- name: teams
  prometheusURLs: ["http://127.0.0.1:3"]
  allow:
    namespaceSelector:
      matchLabels: {team: shop}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if !b.SelectsNamespaces() {
		t.Error("SelectsNamespaces = false, but broker teams has a namespaceSelector")
	}
	mail := Namespace{Name: "mail", Labels: map[string]string{"team": "mail"}}
	shop := Namespace{Name: "shop-eu", Labels: map[string]string{"team": "shop"}}
	for _, c := range []struct {
		broker string
		ns     Namespace
	}{{"shop", mail}, {"teams", mail}, {"teams", Namespace{Name: "shop-eu"}}} {
		if err := b.Allowed(c.broker, c.ns, "/"); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Allowed(%q, %+v) = %v, want ErrNotAllowed", c.broker, c.ns, err)
		}
	}
	for _, c := range []struct {
		broker string
		ns     Namespace
	}{{"shop", Namespace{Name: "shop"}}, {"shared", mail}, {"unknown", mail}, {"teams", shop}} {
		if err := b.Allowed(c.broker, c.ns, "/"); err != nil {
			t.Errorf("Allowed(%q, %+v) = %v, want nil", c.broker, c.ns, err)
		}
	}
	if err := b.Allowed("teams", mail, "/"); err == nil || !strings.Contains(err.Error(), `allow.namespaceSelector: "team=shop"`) {
		t.Errorf("refusal %v does not name the selector", err)
	}
}
