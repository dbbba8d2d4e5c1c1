package queue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	in := `
brokers:
- name: main
  managementURL: https://rabbit.example:15671/
  credentials:
    username: scaler
    passwordFile: /var/run/secrets/rabbit/password
  tls:
    caFile: /etc/rabbit/ca.pem
  timeout: 5s
- name: legacy
  amqpURL: amqp://legacy.example:5672/jobs
  credentials:
    usernameEnv: LEGACY_USER
    passwordEnv: LEGACY_PASSWORD
  connectionName: rabbitscale-prod
- name: metrics-only
  prometheusURLs:
  - http://rabbit-0.rabbit:15692
  - http://rabbit-1.rabbit:15692
  rateWindow: 1m
`
	got, err := ParseConfig([]byte(in))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	defaults := func(b BrokerConfig) BrokerConfig {
		if b.Timeout.Duration == 0 {
			b.Timeout = Duration{DefaultTimeout}
		}
		if b.ConnectionName == "" {
			b.ConnectionName = DefaultConnectionName
		}
		b.PageSize, b.PageConcurrency, b.MaxVhostRequests = DefaultPageSize, DefaultPageConcurrency, DefaultMaxVhostRequests
		if b.RateWindow.Duration == 0 {
			b.RateWindow = Duration{DefaultRateWindow}
		}
		b.MinRateSpan = Duration{DefaultMinRateSpan}
		return b
	}
	want := &Config{Brokers: []BrokerConfig{
		defaults(BrokerConfig{Name: "main", Source: SourceManagement, ManagementURL: "https://rabbit.example:15671/",
			Credentials: Credentials{Username: "scaler", PasswordFile: "/var/run/secrets/rabbit/password"},
			TLS:         TLSConfig{CAFile: "/etc/rabbit/ca.pem"}, Timeout: Duration{5 * time.Second}}),
		defaults(BrokerConfig{Name: "legacy", Source: SourceAMQP, AMQPURL: "amqp://legacy.example:5672/jobs",
			Credentials:    Credentials{UsernameEnv: "LEGACY_USER", PasswordEnv: "LEGACY_PASSWORD"},
			ConnectionName: "rabbitscale-prod"}),
		defaults(BrokerConfig{Name: "metrics-only", Source: SourcePrometheus,
			PrometheusURLs: []string{"http://rabbit-0.rabbit:15692", "http://rabbit-1.rabbit:15692"}, RateWindow: Duration{time.Minute}}),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config diff (-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() BrokerConfig {
		return BrokerConfig{Name: "main", ManagementURL: "http://rabbit:15672", Credentials: Credentials{Username: "u", PasswordEnv: "P"}}
	}
	tests := []struct {
		name   string
		mutate func(*BrokerConfig)
		want   []string // each error must contain one of these, in order
	}{
		{name: "valid", mutate: func(*BrokerConfig) {}},
		{name: "bad name", mutate: func(b *BrokerConfig) { b.Name = "Main_Broker" },
			want: []string{`name: "Main_Broker" is not a DNS label`}},
		{name: "unknown source", mutate: func(b *BrokerConfig) { b.Source = "kafka" },
			want: []string{`source: "kafka" is not one of management, prometheus, amqp`}},
		{name: "no URL at all", mutate: func(b *BrokerConfig) { b.ManagementURL = "" },
			want: []string{`source: "" cannot be defaulted`}},
		{name: "password in the URL is refused and not shown",
			mutate: func(b *BrokerConfig) { b.ManagementURL = "http://admin:hunter2@rabbit:15672" },
			want:   []string{`managementURL: "http://rabbit:15672" must not carry credentials`}},
		{name: "wrong scheme", mutate: func(b *BrokerConfig) { b.AMQPURL = "http://rabbit:5672" },
			want: []string{`amqpURL: "http://rabbit:5672" must use scheme amqp or amqps`}},
		{name: "prometheus URL with a query", mutate: func(b *BrokerConfig) { b.PrometheusURLs = []string{"http://r:15692", "http://r2:15692?family=x"} },
			want: []string{`prometheusURLs[1]: "http://r2:15692?family=x" must not have a query`}},
		{name: "two password sources", mutate: func(b *BrokerConfig) { b.Credentials.PasswordFile = "/p" },
			want: []string{`credentials: "passwordEnv, passwordFile" set at most one`}},
		{name: "password without user", mutate: func(b *BrokerConfig) { b.Credentials.Username = "" },
			want: []string{`credentials.username: "" is required when a password is configured`, `credentials.username: "" is required by source management`}},
		{name: "half a client certificate", mutate: func(b *BrokerConfig) { b.TLS.CertFile = "/c.pem" },
			want: []string{`tls: "certFile, keyFile" set both or neither`}},
		{name: "negative timeout", mutate: func(b *BrokerConfig) { b.Timeout = Duration{-time.Second} },
			want: []string{`timeout: "-1s" must be positive`}},
		{name: "page size over 500", mutate: func(b *BrokerConfig) { b.PageSize = 1000 },
			want: []string{`pageSize: 1000 must be between 1 and 500`}},
		{name: "min span over window", mutate: func(b *BrokerConfig) {
			b.RateWindow = Duration{5 * time.Second}
			b.MinRateSpan = Duration{10 * time.Second}
		},
			want: []string{`minRateSpan: "10s" must be positive and at most rateWindow`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := valid()
			tt.mutate(&b)
			b.Default()
			errs := b.Validate()
			var got []string
			for _, err := range errs {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("%v does not wrap ErrInvalidConfig", err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the password", err)
				}
				got = append(got, err.Error())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"no brokers", "brokers: []", "brokers: at least one broker is required"},
		{"unknown field", "brokers:\n- name: a\n  managementEndpoint: http://x", `unknown field "managementEndpoint"`},
		{"duration without unit", "brokers:\n- name: a\n  managementURL: http://x\n  timeout: 5", `5 is not a duration string`},
		{"duplicate names", "brokers:\n- {name: a, prometheusURLs: [http://x]}\n- {name: a, prometheusURLs: [http://y]}", `brokers[1].name: "a" is already the name of brokers[0]`},
		{"allowed namespace not a name", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaces: [shop, Team_B]}}", `brokers[0].allow.namespaces[1]: "Team_B" is not a namespace name`},
		{"allowed namespace twice", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaces: [shop, shop]}}", `brokers[0].allow.namespaces[1]: "shop" is listed twice`},
		{"allowed vhost empty", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {vhosts: [\"\"]}}", `brokers[0].allow.vhosts[0]: "" is empty`},
		{"namespace selector empty", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {}}}", `brokers[0].allow.namespaceSelector: "{}" selects every namespace`},
		{"namespace selector bad key", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchLabels: {\"te am\": shop}}}}", `brokers[0].allow.namespaceSelector.matchLabels["te am"]: "te am" is not a label key`},
		{"namespace selector bad key prefix", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchLabels: {Example.com/team: shop}}}}", `brokers[0].allow.namespaceSelector.matchLabels["Example.com/team"]: "Example.com/team" is not a label key: its prefix must be a DNS subdomain`},
		{"namespace selector bad value", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchLabels: {team: \"-shop\"}}}}", `brokers[0].allow.namespaceSelector.matchLabels["team"]: "-shop" is not a label value`},
		{"namespace selector bad operator", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchExpressions: [{key: team, operator: Equals, values: [a]}]}}}", `brokers[0].allow.namespaceSelector.matchExpressions[0].operator: "Equals" is not one of In, NotIn, Exists, DoesNotExist`},
		{"namespace selector In without values", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchExpressions: [{key: team, operator: In}]}}}", `brokers[0].allow.namespaceSelector.matchExpressions[0].values: [] must not be empty with operator In`},
		{"namespace selector Exists with values", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchExpressions: [{key: team, operator: Exists, values: [x]}]}}}", `brokers[0].allow.namespaceSelector.matchExpressions[0].values: [x] must be empty with operator Exists`},
		{"namespace selector bad expression value", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [a, \"a b\"]}]}}}", `brokers[0].allow.namespaceSelector.matchExpressions[0].values[1]: "a b" is not a label value`},
		{"namespace selector unknown field", "brokers:\n- {name: a, prometheusURLs: [http://x], allow: {namespaceSelector: {matchLabel: {team: a}}}}", `unknown field "matchLabel"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.in))
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalidConfig containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigAndOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rabbitscale.yaml")
	if err := os.WriteFile(path, []byte("brokers:\n- name: main\n  managementURL: http://127.0.0.1:1\n  credentials: {username: u, passwordFile: "+filepath.Join(dir, "pw")+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	// The password file is not there yet: Open says so, naming the field
	// and the file but nothing of its content.
	if _, err := Open(cfg, nil); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "credentials.passwordFile") {
		t.Fatalf("Open without the password file: err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if diff := cmp.Diff([]string{"main"}, b.Names()); diff != "" {
		t.Errorf("names diff (-want +got):\n%s", diff)
	}
	if _, err := b.Reader("nope"); !errors.Is(err, ErrUnknownBroker) {
		t.Errorf("Reader(nope): err = %v, want ErrUnknownBroker", err)
	}
	r, err := b.Reader("main")
	if err != nil || r.Latest() != nil {
		t.Errorf("Reader(main) = %v, %v; want a reader with no snapshot yet", r, err)
	}
}

func TestCredentialsResolver(t *testing.T) {
	dir := t.TempDir()
	userFile := filepath.Join(dir, "username")
	if err := os.WriteFile(userFile, []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RS_TEST_PW", "pw-from-env")
	tests := []struct {
		name    string
		c       Credentials
		want    userPass
		wantOK  bool
		wantErr string
	}{
		{name: "none", c: Credentials{}},
		{name: "user only", c: Credentials{Username: "u"}, want: userPass{user: "u"}, wantOK: true},
		{name: "file and env", c: Credentials{UsernameFile: userFile, PasswordEnv: "RS_TEST_PW"}, want: userPass{"from-file", "pw-from-env"}, wantOK: true},
		{name: "env unset", c: Credentials{Username: "u", PasswordEnv: "RS_TEST_UNSET"}, wantErr: `credentials.passwordEnv: environment variable "RS_TEST_UNSET" is not set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := tt.c.resolver()()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ok != tt.wantOK || got != tt.want {
				t.Errorf("got %v (%v), %v, %v; want %v, %v", got, got.pass, ok, err, tt.want, tt.wantOK)
			}
			if strings.Contains(got.String(), "pw-from-env") {
				t.Errorf("String() = %q shows the password", got.String())
			}
		})
	}
}
