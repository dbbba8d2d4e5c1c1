package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/testcontainers/testcontainers-go"
	tcrabbitmq "github.com/testcontainers/testcontainers-go/modules/rabbitmq"
)

// StatsInterval is the management plugin's collect_statistics_interval on
// brokers the harness starts itself, unless BrokerOptions.StatsInterval
// says otherwise. Queue figures read through the
// management API or the Prometheus endpoint are at most this old.
const StatsInterval = time.Second

// ErrNoBroker says that no way to reach or start a RabbitMQ broker was found.
var ErrNoBroker = errors.New("no RabbitMQ broker: set RABBITMQ_URL and RABBITMQ_MANAGEMENT_URL, " +
	"start a Docker engine, or install rabbitmq-server (Debian: apt-get install -y rabbitmq-server; `make test` does this as root)")

// Broker is a RabbitMQ node the tests can use.
type Broker struct {
	// AMQPURL includes credentials; never log it (use String).
	AMQPURL string
	// ManagementURL is the management API's base URL, without credentials.
	ManagementURL string
	// PrometheusURL is the rabbitmq_prometheus endpoint's base URL, or empty.
	PrometheusURL string
	Username      string
	Password      string
	// Source says how the broker was found: "env", "testcontainers" or "rabbitmq-server".
	Source string
	// StatsInterval is the broker's collect_statistics_interval when known, else 0.
	StatsInterval time.Duration

	stop func(context.Context) error
	node *localNode
}

// String describes the broker without credentials.
func (b *Broker) String() string {
	return fmt.Sprintf("%s broker amqp=%s management=%s prometheus=%s", b.Source, Redact(b.AMQPURL), b.ManagementURL, b.PrometheusURL)
}

// WriteConfig writes a `rabbitscale run --config` file for this broker,
// named "default", into dir with the password in a file beside it, as a
// Secret mounted as files would be, and returns the config's path. Rates
// are learned over a 10 s window from 3 s of samples, so that tests see
// them within seconds.
func (b *Broker) WriteConfig(dir string) (string, error) {
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(b.Password), 0o600); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "brokers.yaml")
	err := os.WriteFile(conf, fmt.Appendf(nil, `brokers:
- name: default
  managementURL: %s
  credentials:
    username: %s
    passwordFile: %s
  rateWindow: 10s
  minRateSpan: 3s
`, b.ManagementURL, b.Username, pw), 0o600)
	return conf, err
}

// Stop stops a broker the harness started; it does nothing for one from the environment.
func (b *Broker) Stop(ctx context.Context) error {
	if b.stop == nil {
		return nil
	}
	return b.stop(ctx)
}

// ErrRestartUnsupported is returned by Restart for a broker the harness did not start.
var ErrRestartUnsupported = errors.New("the harness can restart only a broker it started")

// Restart stops the broker and starts it again on the same ports with the
// same data, for tests of reconnection. Messages in durable queues survive.
func (b *Broker) Restart(ctx context.Context) error {
	if err := b.Halt(ctx); err != nil {
		return err
	}
	return b.Resume(ctx)
}

// Halt stops the broker's node without removing its data, for outage tests;
// Resume starts it again on the same ports.
func (b *Broker) Halt(ctx context.Context) error {
	if b.node == nil {
		return ErrRestartUnsupported
	}
	return b.node.halt(ctx)
}

// Kill SIGKILLs the broker's node, as a crash or an OOM kill would: no
// connection is closed cleanly. Resume starts it again.
func (b *Broker) Kill(ctx context.Context) error {
	if b.node == nil {
		return ErrRestartUnsupported
	}
	n := b.node
	if n.running == nil {
		return nil
	}
	_ = syscall.Kill(-n.running.Process.Pid, syscall.SIGKILL)
	select {
	case <-n.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	n.running = nil
	return nil
}

// Plugins runs rabbitmq-plugins against the running node, e.g.
// Plugins(ctx, "disable", "rabbitmq_management") to take the management API
// away at runtime, as an operator might.
func (b *Broker) Plugins(ctx context.Context, args ...string) error {
	return b.tool(ctx, "rabbitmq-plugins", args...)
}

// Ctl runs rabbitmqctl against the running node, e.g. Ctl(ctx,
// "add_user", name, password) to create a user. Arguments may hold a
// password: the error names the command's first word only.
func (b *Broker) Ctl(ctx context.Context, args ...string) error {
	return b.tool(ctx, "rabbitmqctl", args...)
}

// tool runs one of the node's command-line tools beside rabbitmq-server.
func (b *Broker) tool(ctx context.Context, name string, args ...string) error {
	if b.node == nil {
		return ErrRestartUnsupported
	}
	n := b.node
	bin := filepath.Join(filepath.Dir(n.cmd.Path), name)
	cmd := exec.CommandContext(ctx, bin, append([]string{"-n", n.name}, args...)...)
	cmd.Dir, cmd.Env = n.cmd.Dir, n.cmd.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: n.cmd.SysProcAttr.Credential}
	if out, err := cmd.CombinedOutput(); err != nil {
		what := name
		if len(args) > 0 {
			what += " " + args[0]
		}
		return fmt.Errorf("%s: %w\n%s", what, err, Tail(out, 20))
	}
	return nil
}

// Resume starts a node stopped by Halt and waits until it answers.
func (b *Broker) Resume(ctx context.Context) error {
	if b.node == nil {
		return ErrRestartUnsupported
	}
	if b.node.running != nil {
		return nil
	}
	return b.node.start(ctx)
}

// StartBroker finds or starts a broker, in this order: RABBITMQ_URL (with
// RABBITMQ_MANAGEMENT_URL) from the environment, a testcontainers RabbitMQ when
// a Docker engine answers, a private rabbitmq-server node on free loopback
// ports. It returns ErrNoBroker when none of these is possible.
func StartBroker(ctx context.Context, logf func(format string, args ...any)) (*Broker, error) {
	return StartBrokerWith(ctx, logf, BrokerOptions{})
}

// BrokerOptions change the broker StartBrokerWith starts.
type BrokerOptions struct {
	// StatsInterval is the collect_statistics_interval, and the management
	// plugin's sample step, of a broker the harness starts: whole seconds,
	// 0 for the package's StatsInterval. Another than that is never taken
	// from the environment (whose interval is unknown): the harness starts
	// its own broker.
	StatsInterval time.Duration
}

// StartBrokerWith is StartBroker with options.
func StartBrokerWith(ctx context.Context, logf func(format string, args ...any), opts BrokerOptions) (*Broker, error) {
	interval := opts.StatsInterval
	if interval == 0 {
		interval = StatsInterval
	}
	if interval < time.Second || interval%time.Second != 0 {
		return nil, fmt.Errorf("BrokerOptions.StatsInterval: %s is not a whole number of seconds", interval)
	}
	if amqpURL := os.Getenv("RABBITMQ_URL"); amqpURL != "" && interval == StatsInterval {
		return brokerFromEnv(amqpURL, os.Getenv("RABBITMQ_MANAGEMENT_URL"))
	}
	if dockerAvailable(ctx) {
		logf("starting RabbitMQ with testcontainers (collect_statistics_interval %s)", interval)
		return startContainer(ctx, interval)
	}
	if bin := findRabbitMQServer(); bin != "" {
		logf("starting a private RabbitMQ node from %s (collect_statistics_interval %s)", bin, interval)
		return startLocalNode(ctx, bin, interval)
	}
	return nil, ErrNoBroker
}

func brokerFromEnv(amqpURL, mgmtURL string) (*Broker, error) {
	u, err := url.Parse(amqpURL)
	if err != nil {
		return nil, fmt.Errorf("RABBITMQ_URL is not a URL: %w", redactErr(err))
	}
	b := &Broker{AMQPURL: amqpURL, Source: "env", Username: "guest", Password: "guest"}
	if u.User != nil {
		b.Username = u.User.Username()
		b.Password, _ = u.User.Password()
	}
	if mgmtURL == "" {
		return nil, errors.New("RABBITMQ_URL is set but RABBITMQ_MANAGEMENT_URL is not: set both")
	}
	m, err := url.Parse(mgmtURL)
	if err != nil {
		return nil, fmt.Errorf("RABBITMQ_MANAGEMENT_URL is not a URL: %w", redactErr(err))
	}
	if m.User != nil {
		b.Username = m.User.Username()
		b.Password, _ = m.User.Password()
		m.User = nil
	}
	b.ManagementURL = strings.TrimRight(m.String(), "/")
	b.PrometheusURL = os.Getenv("RABBITMQ_PROMETHEUS_URL")
	return b, nil
}

func dockerAvailable(ctx context.Context) bool {
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			return false
		}
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	defer func() { _ = p.Close() }()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.Health(hctx) == nil
}

func startContainer(ctx context.Context, interval time.Duration) (*Broker, error) {
	c, err := tcrabbitmq.Run(ctx, "rabbitmq:3.13-management",
		testcontainers.WithEnv(map[string]string{
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": fmt.Sprintf("-rabbit collect_statistics_interval %d", interval.Milliseconds()),
		}),
		testcontainers.WithExposedPorts("15692/tcp"),
	)
	if err != nil {
		return nil, fmt.Errorf("starting RabbitMQ container: %w", err)
	}
	b := &Broker{Source: "testcontainers", Username: c.AdminUsername, Password: c.AdminPassword, StatsInterval: interval,
		stop: func(ctx context.Context) error { return c.Terminate(ctx) }}
	if b.AMQPURL, err = c.AmqpURL(ctx); err != nil {
		return nil, errors.Join(err, c.Terminate(ctx))
	}
	if b.ManagementURL, err = c.HttpURL(ctx); err != nil {
		return nil, errors.Join(err, c.Terminate(ctx))
	}
	if ep, err := c.PortEndpoint(ctx, "15692/tcp", "http"); err == nil {
		b.PrometheusURL = ep
	}
	return b, nil
}

// findRabbitMQServer prefers Debian's real start script over the
// /usr/sbin wrapper, which insists on su-ing to the rabbitmq user itself.
func findRabbitMQServer() string {
	for _, p := range []string{"/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/local/lib/rabbitmq/bin/rabbitmq-server"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("rabbitmq-server"); err == nil {
		return p
	}
	return ""
}

// startLocalNode runs a private node: its own node name, free loopback ports
// for AMQP, management, Prometheus and Erlang distribution, and every file
// under a temporary directory. As root it runs as the rabbitmq user, as
// Debian's packaging expects.
func startLocalNode(ctx context.Context, bin string, interval time.Duration) (*Broker, error) {
	ports, err := FreePorts(4)
	if err != nil {
		return nil, err
	}
	amqpPort, mgmtPort, promPort, distPort := ports[0], ports[1], ports[2], ports[3]

	dir, err := os.MkdirTemp("", "rabbitscale-rabbitmq-")
	if err != nil {
		return nil, err
	}
	// The management plugin keeps 5 s samples by default whatever the
	// collect_statistics_interval; 1 s samples make queue figures fresh.
	secs := int(interval.Seconds())
	conf := fmt.Sprintf(`listeners.tcp.default = 127.0.0.1:%d
management.tcp.ip = 127.0.0.1
management.tcp.port = %d
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = %d
collect_statistics_interval = %d
management.sample_retention_policies.global.minute = %d
management.sample_retention_policies.basic.minute = %d
management.sample_retention_policies.detailed.10 = %d
`, amqpPort, mgmtPort, promPort, interval.Milliseconds(), secs, secs, secs)
	files := map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[rabbitmq_management,rabbitmq_prometheus].\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	nodeName := fmt.Sprintf("rabbitscale-%d@localhost", amqpPort)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir, // a fresh Erlang cookie, not the system node's
		"RABBITMQ_NODENAME="+nodeName,
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_LOGS=-",
		"RABBITMQ_FEATURE_FLAGS_FILE="+filepath.Join(dir, "feature_flags"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_PLUGINS_EXPAND_DIR="+filepath.Join(dir, "plugins-expand"),
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		cred, err := rabbitmqUser()
		if err != nil {
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
		if err := chownTree(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	b := &Broker{
		AMQPURL:       fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort),
		ManagementURL: fmt.Sprintf("http://127.0.0.1:%d", mgmtPort),
		PrometheusURL: fmt.Sprintf("http://127.0.0.1:%d", promPort),
		Username:      "guest",
		Password:      "guest",
		Source:        "rabbitmq-server",
		StatsInterval: interval,
	}
	node := &localNode{cmd: cmd, dir: dir, name: nodeName, broker: b}
	if err := node.start(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	b.stop = func(ctx context.Context) error {
		defer func() { _ = os.RemoveAll(dir) }()
		return node.halt(ctx)
	}
	b.node = node
	return b, nil
}

// localNode is a rabbitmq-server process the harness started. Its data
// directory survives a restart, so durable queues and their messages do too.
type localNode struct {
	cmd    *exec.Cmd // template: copied for every start
	dir    string
	name   string
	broker *Broker

	running *exec.Cmd
	exited  chan struct{} // closed when running has exited
	waitErr error         // what Wait said; read after exited is closed
}

func (n *localNode) start(ctx context.Context) error {
	cmd := exec.Command(n.cmd.Path, n.cmd.Args[1:]...)
	cmd.Dir, cmd.Env, cmd.SysProcAttr = n.cmd.Dir, n.cmd.Env, n.cmd.SysProcAttr
	logPath := filepath.Join(n.dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if cred := cmd.SysProcAttr.Credential; cred != nil {
		_ = logFile.Chown(int(cred.Uid), int(cred.Gid))
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		n.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	n.running, n.exited = cmd, exited
	if err := n.waitReady(ctx); err != nil {
		out, _ := os.ReadFile(logPath)
		_ = n.halt(context.Background())
		return fmt.Errorf("private RabbitMQ node %s did not start: %w\n%s", n.name, err, Tail(out, 30))
	}
	return nil
}

// halt stops the node: SIGTERM to its process group stops it gracefully,
// SIGKILL follows after 20 s.
func (n *localNode) halt(ctx context.Context) error {
	if n.running == nil {
		return nil
	}
	pid := n.running.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-n.exited
	case <-ctx.Done():
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-n.exited
	}
	n.running = nil
	return nil
}

// waitReady waits until both the management API and AMQP answer.
func (n *localNode) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if err := ping(ctx, client, n.broker); err == nil {
			return nil
		}
		select {
		case <-n.exited:
			return fmt.Errorf("rabbitmq-server exited: %w", n.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, client *http.Client, b *Broker) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.ManagementURL+"/api/overview", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(b.Username, b.Password)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("management API answered %s", resp.Status)
	}
	conn, err := amqp.Dial(b.AMQPURL)
	if err != nil {
		return redactErr(err)
	}
	return conn.Close()
}

func rabbitmqUser() (*syscall.Credential, error) {
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		return nil, fmt.Errorf("running as root but there is no rabbitmq user to run rabbitmq-server as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
}

// FreePorts asks the kernel for n distinct free loopback ports.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Tail is the last lines of b, for a log in an error message.
func Tail(b []byte, lines int) string {
	parts := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return string(bytes.Join(parts, []byte("\n")))
}

// Redact returns raw with any password replaced by "xxxxx".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return u.Redacted()
}

// redactErr drops errors' text that may carry a URL with credentials.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, Redact(ue.URL), ue.Err)
	}
	return err
}
