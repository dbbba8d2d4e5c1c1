package queue

import (
	"errors"
	"strings"
	"testing"
)

func TestAccessCheck(t *testing.T) {
	shop := Access{Namespaces: []string{"shop", "shop-staging"}, Vhosts: []string{"/", "shop"}}
	tests := []struct {
		name             string
		access           Access
		namespace, vhost string
		want             string // "" for allowed
	}{
		{"no list allows all", Access{}, "anyone", "any", ""},
		{"listed namespace and vhost", shop, "shop-staging", "shop", ""},
		{"empty vhost is the default vhost", shop, "shop", "", ""},
		{"namespace not listed", shop, "mail", "shop",
			`broker "main": namespace "mail": not allowed by the broker configuration (allow.namespaces: ["shop" "shop-staging"])`},
		{"vhost not listed", shop, "shop", "payments",
			`broker "main": vhost "payments": not allowed by the broker configuration (allow.vhosts: ["/" "shop"])`},
		{"only vhosts limited", Access{Vhosts: []string{"shop"}}, "mail", "/",
			`broker "main": vhost "/": not allowed by the broker configuration (allow.vhosts: ["shop"])`},
	}
	for _, tt := range tests {
		err := tt.access.Check("main", tt.namespace, tt.vhost)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Check = %v, want allowed", tt.name, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.Is(err, ErrNotAllowed)):
			t.Errorf("%s: Check = %v, want %q wrapping ErrNotAllowed", tt.name, err, tt.want)
		}
	}
}

func TestBrokersAllowed(t *testing.T) {
	cfg, err := ParseConfig([]byte(`brokers:
- {name: shop, prometheusURLs: ["http://127.0.0.1:1"], allow: {namespaces: [shop]}}
- {name: shared, prometheusURLs: ["http://127.0.0.1:2"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if err := b.Allowed("shop", "mail", "/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("mail on shop's broker: %v, want ErrNotAllowed", err)
	}
	for _, c := range [][3]string{{"shop", "shop", "/"}, {"shared", "mail", "/"}, {"unknown", "mail", "/"}} {
		if err := b.Allowed(c[0], c[1], c[2]); err != nil {
			t.Errorf("Allowed(%q, %q, %q) = %v, want nil", c[0], c[1], c[2], err)
		}
	}
}

// Reopen keeps the reader (and with it the rate history) of every broker
// whose configuration did not change, takes a new allow list without a new
// reader, and refuses an invalid configuration while the old set stays.
func TestBrokersReopen(t *testing.T) {
	parse := func(s string) *Config {
		t.Helper()
		cfg, err := ParseConfig([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	old, err := Open(parse(`brokers:
- {name: a, prometheusURLs: ["http://127.0.0.1:1"]}
- {name: b, prometheusURLs: ["http://127.0.0.1:2"]}
- {name: c, prometheusURLs: ["http://127.0.0.1:3"]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := old.Reopen(parse(`brokers:
- {name: a, prometheusURLs: ["http://127.0.0.1:1"], allow: {namespaces: [shop]}}
- {name: b, prometheusURLs: ["http://127.0.0.1:22"]}
- {name: d, prometheusURLs: ["http://127.0.0.1:4"]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = next.Close() }()
	was, now := old.Readers(), next.Readers()
	if now["a"] != was["a"] {
		t.Error("broker a's configuration is unchanged but its reader was replaced: its rates would start over")
	}
	if now["b"] == was["b"] || now["d"] == nil || now["c"] != nil {
		t.Errorf("readers after reopen: b replaced %v, d added %v, c dropped %v; want all true", now["b"] != was["b"], now["d"] != nil, now["c"] == nil)
	}
	if err := next.Allowed("a", "mail", "/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("a's new allow list does not apply: %v", err)
	}
	bad := &Config{Brokers: []BrokerConfig{{Name: "Bad_Name"}}}
	if got, err := next.Reopen(bad, nil); err == nil || got != nil || !strings.Contains(err.Error(), `brokers[0].name: "Bad_Name"`) {
		t.Errorf("invalid configuration: %v, %v; want an error naming the field", got, err)
	}
}
