// Package demo is `make demo`: a real controller scaling a worker
// Deployment on a real API server from a real queue, with in-process
// consumers playing the pods, a load profile, a live table and an SVG of
// what happened. The integration tests run it in a short mode.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/deploy"
	"github.com/rabbitscale/rabbitscale/integration/harness"
	"github.com/rabbitscale/rabbitscale/policy"
)

// Options configure a run. Zero values take the defaults of NewOptions.
type Options struct {
	// Duration of the whole load profile: quiet, burst, steady, quiet.
	Duration time.Duration
	// Binary is the rabbitscale binary to run as the controller.
	Binary string
	// Kubeconfig is an admin kubeconfig for Config, given to the controller.
	Kubeconfig string
	Config     *rest.Config
	Broker     *harness.Broker
	// Out receives the live table.
	Out io.Writer
	// Dir holds the controller's files and its log.
	Dir string
	// PerPodRate is how many messages per second one simulated pod
	// processes; StartupDelay how long a new pod takes to start consuming.
	PerPodRate   float64
	StartupDelay time.Duration
}

// NewOptions returns the defaults: a 150 s profile, 10 messages per second
// per pod, pods ready 3 s after they are asked for.
func NewOptions() Options {
	return Options{Duration: 150 * time.Second, PerPodRate: 10, StartupDelay: 3 * time.Second, Out: os.Stdout}
}

// Sample is one row of the live table.
type Sample struct {
	At         time.Duration
	Depth      int64
	Arrival    float64 // messages per second published
	Processing float64 // messages per second acknowledged
	Desired    int32
	Replicas   int32
	Reason     string
}

// Result is what happened.
type Result struct {
	Samples []Sample
	// Published and Processed count messages over the whole run.
	Published, Processed int64
}

// MaxReplicas is the highest replica count seen.
func (r *Result) MaxReplicas() int32 {
	var m int32
	for _, s := range r.Samples {
		m = max(m, s.Replicas)
	}
	return m
}

const (
	namespace = "rabbitscale-demo"
	name      = "email-sender" // deploy/examples/workers.yaml's plain depth example
	burstSize = 1200
)

// Run plays the demo and returns its samples. ctx ends it early.
func Run(ctx context.Context, o Options) (*Result, error) {
	def := NewOptions()
	if o.Duration <= 0 {
		o.Duration = def.Duration
	}
	if o.PerPodRate <= 0 {
		o.PerPodRate = def.PerPodRate
	}
	if o.StartupDelay <= 0 {
		o.StartupDelay = def.StartupDelay
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	kc, err := kubernetes.NewForConfig(o.Config)
	if err != nil {
		return nil, err
	}
	queueName := fmt.Sprintf("emails-demo-%d", time.Now().Unix())
	if err := createWorkload(ctx, kc, queueName, o.Duration); err != nil {
		return nil, err
	}

	conn, err := amqp.Dial(o.Broker.AMQPURL)
	if err != nil {
		return nil, fmt.Errorf("dialing the broker: %w", err)
	}
	defer func() { _ = conn.Close() }()
	pub, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if _, err := pub.QueueDeclare(queueName, true, false, false, false, nil); err != nil {
		return nil, err
	}

	ctrl, err := startController(o)
	if err != nil {
		return nil, err
	}
	defer ctrl.stop()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	pods := &pods{conn: conn, queue: queueName, rate: o.PerPodRate, delay: o.StartupDelay}
	var wg sync.WaitGroup
	wg.Go(func() { pods.follow(runCtx, kc) })
	var published atomic.Int64
	wg.Go(func() { publishProfile(runCtx, pub, queueName, o.Duration, &published) })

	res := &Result{}
	start := time.Now()
	fmt.Fprintf(o.Out, "%6s %7s %9s %11s %8s %9s  %s\n", "TIME", "DEPTH", "ARRIVAL/s", "PROCESSED/s", "DESIRED", "REPLICAS", "REASON")
	lastPub, lastAck, lastAt := int64(0), int64(0), start
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(start) < o.Duration {
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			return res, ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		p, a := published.Load(), pods.acked.Load()
		s := Sample{At: now.Sub(start).Round(time.Second),
			Arrival:    float64(p-lastPub) / now.Sub(lastAt).Seconds(),
			Processing: float64(a-lastAck) / now.Sub(lastAt).Seconds()}
		lastPub, lastAck, lastAt = p, a, now
		s.Depth = depth(ctx, o.Broker, queueName)
		if d, err := kc.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			s.Replicas = ptr.Deref(d.Spec.Replicas, 1)
			// This tick's decision, from the controller; the annotation
			// only when the controller cannot be asked.
			dec, ok := ctrl.decision(ctx)
			if !ok && json.Unmarshal([]byte(d.Annotations[policy.DecisionAnnotation]), &dec) != nil {
				dec = policy.Decision{}
			}
			s.Desired, s.Reason = dec.Desired, dec.Reason
		}
		res.Samples = append(res.Samples, s)
		fmt.Fprintf(o.Out, "%6s %7d %9.1f %11.1f %8d %9d  %s\n", s.At, s.Depth, s.Arrival, s.Processing, s.Desired, s.Replicas, s.Reason)
	}
	cancel()
	wg.Wait()
	res.Published, res.Processed = published.Load(), pods.acked.Load()
	return res, nil
}

// createWorkload creates the demo namespace and the plain-depth example
// worker, with cooldowns short enough to see a whole cycle in the run.
func createWorkload(ctx context.Context, kc kubernetes.Interface, queueName string, d time.Duration) error {
	objs, err := deploy.ReadFile("examples/workers.yaml")
	if err != nil {
		return err
	}
	var w appsv1.Deployment
	for _, o := range objs {
		if o.GetName() == name {
			b, err := json.Marshal(o.Object)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &w); err != nil {
				return err
			}
		}
	}
	if w.Name == "" {
		return fmt.Errorf("deploy/examples/workers.yaml has no Deployment %q", name)
	}
	w.Namespace = namespace
	w.Annotations[policy.KeyQueue] = queueName
	w.Annotations[policy.KeyMaxReplicas] = "10"
	w.Annotations[policy.KeyScaleUpCooldown] = "5s"
	w.Annotations[policy.KeyScaleDownCooldown] = (d / 6).Round(time.Second).String()
	_, err = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !isAlreadyExists(err) {
		return err
	}
	_ = kc.AppsV1().Deployments(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	for range 50 { // wait for a previous run's Deployment to be gone
		if _, err := kc.AppsV1().Deployments(namespace).Create(ctx, &w, metav1.CreateOptions{}); err == nil {
			return nil
		} else if !isAlreadyExists(err) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("a previous demo's Deployment is still there")
}

func isAlreadyExists(err error) bool {
	return strings.Contains(err.Error(), "already exists")
}

type controller struct {
	cmd    *exec.Cmd
	done   chan struct{}
	health string // host:port of its health server, which serves /decisions
}

// decision is the controller's live decision for the demo worker: what it
// decided on its last tick, where the annotation may lag by up to 30 s.
func (c *controller) decision(ctx context.Context) (policy.Decision, bool) {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.health+autoscaler.DecisionsPath, nil)
	if err != nil {
		return policy.Decision{}, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return policy.Decision{}, false
	}
	defer func() { _ = resp.Body.Close() }()
	var live autoscaler.LiveDecisions
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&live) != nil {
		return policy.Decision{}, false
	}
	for _, d := range live.Decisions {
		if d.Namespace == namespace && d.Name == name {
			return d.Decision, true
		}
	}
	return policy.Decision{}, false
}

func (c *controller) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// startController runs `rabbitscale run` on the demo namespace with a 1 s
// tick, its log in Dir.
func startController(o Options) (*controller, error) {
	conf, err := o.Broker.WriteConfig(o.Dir)
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(o.Dir, "controller.log"))
	if err != nil {
		return nil, err
	}
	health, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Binary, "run", "--kubeconfig", o.Kubeconfig, "--config", conf, "--namespace", namespace,
		"--interval", "1s", "--leader-elect=false", "--health-addr", health)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the demo
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s: %w", o.Binary, err)
	}
	c := &controller{cmd: cmd, done: make(chan struct{}), health: health}
	go func() { _ = cmd.Wait(); _ = log.Close(); close(c.done) }()
	return c, nil
}

// publishProfile publishes: quiet for the first tenth, a burst of
// burstSize messages, 15 messages per second until 45%, then quiet.
func publishProfile(ctx context.Context, ch *amqp.Channel, queueName string, d time.Duration, n *atomic.Int64) {
	send := func() bool {
		err := ch.PublishWithContext(ctx, "", queueName, false, false, amqp.Publishing{Body: []byte("hello")})
		if err == nil {
			n.Add(1)
		}
		return err == nil
	}
	start := time.Now()
	if !sleep(ctx, d/10) {
		return
	}
	for range burstSize {
		if !send() {
			return
		}
	}
	t := time.NewTicker(time.Second / 15)
	defer t.Stop()
	for time.Since(start) < d*45/100 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			send()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// pods plays the worker pods: as many consumers as spec.replicas, each
// starting delay after it is asked for and processing rate messages per
// second, one at a time.
type pods struct {
	conn  *amqp.Connection
	queue string
	rate  float64
	delay time.Duration
	acked atomic.Int64

	running []context.CancelFunc
}

func (p *pods) follow(ctx context.Context, kc kubernetes.Interface) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for sleep(ctx, 500*time.Millisecond) {
		d, err := kc.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		want := int(ptr.Deref(d.Spec.Replicas, 1))
		for len(p.running) < want {
			podCtx, stop := context.WithCancel(ctx)
			p.running = append(p.running, stop)
			wg.Go(func() { p.consume(podCtx) })
		}
		for len(p.running) > want {
			p.running[len(p.running)-1]()
			p.running = p.running[:len(p.running)-1]
		}
	}
}

func (p *pods) consume(ctx context.Context) {
	if !sleep(ctx, p.delay) {
		return
	}
	ch, err := p.conn.Channel()
	if err != nil {
		return
	}
	if err := ch.Qos(1, 0, false); err != nil {
		_ = ch.Close()
		return
	}
	deliveries, err := ch.Consume(p.queue, "", false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return
	}
	defer func() {
		// Keep draining while closing: the client blocks delivering to a
		// consumer nobody reads. Unacked messages go back to the queue.
		go func() {
			for range deliveries {
			}
		}()
		_ = ch.Close()
	}()
	per := time.Duration(float64(time.Second) / p.rate)
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-deliveries:
			if !ok {
				return
			}
			if !sleep(ctx, per) {
				return
			}
			if m.Ack(false) == nil {
				p.acked.Add(1)
			}
		}
	}
}

// depth reads ready + unacked from the management API, or -1.
func depth(ctx context.Context, b *harness.Broker, queueName string) int64 {
	u := b.ManagementURL + "/api/queues/" + url.PathEscape("/") + "/" + url.PathEscape(queueName) + "?columns=messages"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return -1
	}
	req.SetBasicAuth(b.Username, b.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	var q struct {
		Messages int64 `json:"messages"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&q) != nil {
		return -1
	}
	return q.Messages
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}
