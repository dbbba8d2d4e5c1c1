package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// SourceKind names how a broker is read.
type SourceKind string

// The sources.
const (
	// SourceManagement reads the management plugin's HTTP API: one
	// paginated GET /api/queues per tick (per vhost when few are used).
	SourceManagement SourceKind = "management"
	// SourcePrometheus reads the rabbitmq_prometheus plugin's
	// /metrics/detailed endpoint, one request per node per tick.
	SourcePrometheus SourceKind = "prometheus"
	// SourceAMQP reads queues by AMQP 0-9-1 passive declares over one
	// connection: ready messages and consumers only.
	SourceAMQP SourceKind = "amqp"
)

// Defaults applied by BrokerConfig.Default.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultConnectionName  = "rabbitscale"
	DefaultPageSize        = 500 // the management API's largest page
	DefaultPageConcurrency = 2
	// DefaultMaxVhostRequests: a Scope naming at most this many vhosts is
	// read vhost by vhost; more, and the whole broker is listed at once.
	DefaultMaxVhostRequests = 3
	maxPageSize             = 500
	maxPageConcurrency      = 16
)

// Config is the queue part of the controller's configuration file.
type Config struct {
	Brokers []BrokerConfig `json:"brokers"`
}

// BrokerConfig describes one named broker. URLs never carry credentials:
// those come from environment variables or mounted files (Kubernetes
// Secrets), so that a URL can be logged.
type BrokerConfig struct {
	// Name identifies the broker in workloads' annotations, logs and
	// metric labels: a DNS label (lower case, digits, '-').
	Name string `json:"name"`
	// Source is management (the default when ManagementURL is set),
	// prometheus (the default when only PrometheusURLs are set) or amqp.
	Source SourceKind `json:"source,omitempty"`
	// ManagementURL is the management API's base URL, e.g.
	// https://rabbit.example:15671 (a path prefix is kept).
	ManagementURL string `json:"managementURL,omitempty"`
	// AMQPURL is e.g. amqps://rabbit.example:5671/vhost. The AMQP source
	// reads queues of this one vhost only. Beside a management or
	// Prometheus source it gives the Reader its fresh reads (passive
	// declares for workloads at zero replicas, Reader.Fresh).
	AMQPURL string `json:"amqpURL,omitempty"`
	// PrometheusURLs are the rabbitmq_prometheus endpoints, e.g.
	// http://rabbit-0.rabbit:15692, one per cluster node: that endpoint
	// reports only the queues and channels of its own node.
	PrometheusURLs []string `json:"prometheusURLs,omitempty"`

	Credentials Credentials `json:"credentials,omitempty"`
	TLS         TLSConfig   `json:"tls,omitempty"`

	// Timeout bounds each HTTP request, and an AMQP dial plus one read.
	Timeout Duration `json:"timeout,omitempty"`
	// ConnectionName is the AMQP connection_name client property, shown
	// by the broker's management UI.
	ConnectionName string `json:"connectionName,omitempty"`
	// PageSize is the management API page size, 1..500.
	PageSize int `json:"pageSize,omitempty"`
	// PageConcurrency is how many management API pages are fetched at
	// once, 1..16.
	PageConcurrency int `json:"pageConcurrency,omitempty"`
	// MaxVhostRequests: when a read's Scope names at most this many
	// vhosts, they are listed one by one; otherwise the whole broker is.
	MaxVhostRequests int `json:"maxVhostRequests,omitempty"`
	// RateWindow and MinRateSpan tune the rate computation (see Reader).
	RateWindow  Duration `json:"rateWindow,omitempty"`
	MinRateSpan Duration `json:"minRateSpan,omitempty"`

	// Allow limits which namespaces (by name or by label) and vhosts may
	// use the broker; empty allows all.
	Allow Access `json:"allow,omitempty"`
}

// Credentials say where the username and password come from. The password
// can only come from an environment variable or a file; files are re-read
// on every read, so a rotated Secret takes effect without a restart.
type Credentials struct {
	Username     string `json:"username,omitempty"`
	UsernameEnv  string `json:"usernameEnv,omitempty"`
	UsernameFile string `json:"usernameFile,omitempty"`
	PasswordEnv  string `json:"passwordEnv,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
}

// TLSConfig configures HTTPS and AMQPS. Server certificates are verified
// against the system roots plus CAFile unless InsecureSkipVerify is set.
type TLSConfig struct {
	CAFile string `json:"caFile,omitempty"`
	// CertFile and KeyFile are a client certificate, for brokers that
	// require one; set both or neither.
	CertFile   string `json:"certFile,omitempty"`
	KeyFile    string `json:"keyFile,omitempty"`
	ServerName string `json:"serverName,omitempty"`
	// InsecureSkipVerify turns off server certificate verification. Only
	// for tests.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Go duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s is not a duration string such as \"10s\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"10s\"", s)
	}
	d.Duration = v
	return nil
}

// LoadConfig reads a YAML or JSON file, applies defaults and validates it.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses YAML or JSON, rejecting unknown fields, applies
// defaults and validates. Its error joins every problem found, each wrapping
// ErrInvalidConfig and naming the field and the bad value.
func ParseConfig(b []byte) (*Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg.Default()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &cfg, nil
}

// Default fills every unset field with its default.
func (c *Config) Default() {
	for i := range c.Brokers {
		c.Brokers[i].Default()
	}
}

// Validate returns every problem, each naming its field (brokers[i].x).
func (c *Config) Validate() []error {
	if len(c.Brokers) == 0 {
		return []error{fmt.Errorf("%w: brokers: at least one broker is required", ErrInvalidConfig)}
	}
	var errs []error
	seen := map[string]int{}
	for i := range c.Brokers {
		b := &c.Brokers[i]
		errs = append(errs, b.validate(fmt.Sprintf("brokers[%d].", i))...)
		if j, dup := seen[b.Name]; dup && b.Name != "" {
			errs = append(errs, fieldErr(fmt.Sprintf("brokers[%d].name", i), b.Name, fmt.Sprintf("is already the name of brokers[%d]", j)))
		}
		seen[b.Name] = i
	}
	return errs
}

// Default fills every unset field with its default.
func (b *BrokerConfig) Default() {
	if b.Source == "" {
		switch {
		case b.ManagementURL != "":
			b.Source = SourceManagement
		case len(b.PrometheusURLs) > 0:
			b.Source = SourcePrometheus
		case b.AMQPURL != "":
			b.Source = SourceAMQP
		}
	}
	if b.Timeout.Duration == 0 {
		b.Timeout.Duration = DefaultTimeout
	}
	if b.ConnectionName == "" {
		b.ConnectionName = DefaultConnectionName
	}
	if b.PageSize == 0 {
		b.PageSize = DefaultPageSize
	}
	if b.PageConcurrency == 0 {
		b.PageConcurrency = DefaultPageConcurrency
	}
	if b.MaxVhostRequests == 0 {
		b.MaxVhostRequests = DefaultMaxVhostRequests
	}
	if b.RateWindow.Duration == 0 {
		b.RateWindow.Duration = DefaultRateWindow
	}
	if b.MinRateSpan.Duration == 0 {
		b.MinRateSpan.Duration = min(DefaultMinRateSpan, b.RateWindow.Duration)
	}
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate returns every problem, each naming its field.
func (b *BrokerConfig) Validate() []error { return b.validate("") }

func (b *BrokerConfig) validate(p string) []error {
	var errs []error
	add := func(field string, value any, msg string) {
		errs = append(errs, fieldErr(p+field, value, msg))
	}
	if b.Name == "" {
		add("name", b.Name, "is required")
	} else if len(b.Name) > 63 || !dnsLabel.MatchString(b.Name) {
		add("name", b.Name, "is not a DNS label (lower case letters, digits and '-', at most 63)")
	}
	switch b.Source {
	case SourceManagement:
		if b.ManagementURL == "" {
			add("managementURL", b.ManagementURL, "is required by source management")
		}
	case SourcePrometheus:
		if len(b.PrometheusURLs) == 0 {
			add("prometheusURLs", b.PrometheusURLs, "needs at least one URL for source prometheus")
		}
	case SourceAMQP:
		if b.AMQPURL == "" {
			add("amqpURL", b.AMQPURL, "is required by source amqp")
		}
	case "":
		add("source", b.Source, "cannot be defaulted: set managementURL, prometheusURLs or amqpURL")
	default:
		add("source", b.Source, "is not one of management, prometheus, amqp")
	}
	if b.ManagementURL != "" {
		errs = append(errs, checkURL(p+"managementURL", b.ManagementURL, "http", "https")...)
	}
	for i, u := range b.PrometheusURLs {
		errs = append(errs, checkURL(fmt.Sprintf("%sprometheusURLs[%d]", p, i), u, "http", "https")...)
	}
	if b.AMQPURL != "" {
		errs = append(errs, checkURL(p+"amqpURL", b.AMQPURL, "amqp", "amqps")...)
	}

	c := b.Credentials
	if n := countSet(c.Username, c.UsernameEnv, c.UsernameFile); n > 1 {
		add("credentials", "username, usernameEnv, usernameFile", "set at most one of these")
	}
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		add("credentials", "passwordEnv, passwordFile", "set at most one of these")
	}
	hasUser := countSet(c.Username, c.UsernameEnv, c.UsernameFile) > 0
	hasPass := c.PasswordEnv != "" || c.PasswordFile != ""
	if hasPass && !hasUser {
		add("credentials.username", "", "is required when a password is configured")
	}
	if (b.Source == SourceManagement || b.Source == SourceAMQP) && !hasUser {
		add("credentials.username", "", fmt.Sprintf("is required by source %s (or usernameEnv/usernameFile)", b.Source))
	}

	t := b.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("tls", "certFile, keyFile", "set both or neither")
	}

	if b.Timeout.Duration <= 0 {
		add("timeout", b.Timeout.String(), "must be positive")
	}
	if b.PageSize < 1 || b.PageSize > maxPageSize {
		add("pageSize", b.PageSize, fmt.Sprintf("must be between 1 and %d", maxPageSize))
	}
	if b.PageConcurrency < 1 || b.PageConcurrency > maxPageConcurrency {
		add("pageConcurrency", b.PageConcurrency, fmt.Sprintf("must be between 1 and %d", maxPageConcurrency))
	}
	if b.MaxVhostRequests < 0 {
		add("maxVhostRequests", b.MaxVhostRequests, "must not be negative")
	}
	if b.RateWindow.Duration <= 0 {
		add("rateWindow", b.RateWindow.String(), "must be positive")
	}
	if b.MinRateSpan.Duration <= 0 || b.MinRateSpan.Duration > b.RateWindow.Duration {
		add("minRateSpan", b.MinRateSpan.String(), "must be positive and at most rateWindow")
	}
	b.Allow.validate(add)
	return errs
}

func countSet(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

// checkURL validates a broker URL. The value shown in an error is redacted:
// a URL with a password never appears whole.
func checkURL(field, raw string, schemes ...string) []error {
	u, err := url.Parse(raw)
	if err != nil {
		return []error{fieldErr(field, "<unparseable URL>", "is not a URL")}
	}
	var errs []error
	shown := redactURL(u)
	if !slices.Contains(schemes, u.Scheme) {
		errs = append(errs, fieldErr(field, shown, "must use scheme "+strings.Join(schemes, " or ")))
	}
	if u.Host == "" {
		errs = append(errs, fieldErr(field, shown, "has no host"))
	}
	if u.User != nil {
		errs = append(errs, fieldErr(field, shown, "must not carry credentials: use credentials.usernameEnv/passwordFile and friends"))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fieldErr(field, shown, "must not have a query or fragment"))
	}
	return errs
}

func fieldErr(field string, value any, msg string) error {
	switch v := value.(type) {
	case string:
		return fmt.Errorf("%w: %s: %q %s", ErrInvalidConfig, field, v, msg)
	case SourceKind:
		return fmt.Errorf("%w: %s: %q %s", ErrInvalidConfig, field, string(v), msg)
	default:
		return fmt.Errorf("%w: %s: %v %s", ErrInvalidConfig, field, v, msg)
	}
}
