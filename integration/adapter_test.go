//go:build integration

package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	externalclient "k8s.io/metrics/pkg/client/external_metrics"
	"k8s.io/utils/ptr"
	cmoptions "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd/options"

	"github.com/rabbitscale/rabbitscale/adapter"
	"github.com/rabbitscale/rabbitscale/integration/harness"
	"github.com/rabbitscale/rabbitscale/internal/nslabels"
	"github.com/rabbitscale/rabbitscale/queue"
)

// adapterIP is the ClusterIP of the adapter's Service. It is on loopback
// (harness.ServiceClusterIPRange), so the aggregator, which dials
// ClusterIP:port without --enable-aggregator-routing, reaches the adapter
// this test serves on the same address.
const adapterIP = "127.0.100.10"

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// TestAdapter serves the external metrics API in-process, registers it with
// the real API server as a user would (Service, EndpointSlice, APIService)
// and checks what the HPA would read: first through the external metrics
// client, then through a stock HPA in kube-controller-manager scaling a
// Deployment as messages arrive and leave.
func TestAdapter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	ns := createNamespace(ctx, t, kc)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.Kubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}

	// The broker allows ns by name, and the namespaces labelled with this
	// test's tenant: another team's namespace gets nothing.
	other := createNamespace(ctx, t, kc)
	tenant := map[string]string{"rabbitscale-test-tenant": ns}
	labelled := createLabelledNamespace(ctx, t, kc, tenant)
	port := serveAdapter(ctx, t, kubeconfig, queue.Access{Namespaces: []string{ns}, NamespaceSelector: &queue.LabelSelector{MatchLabels: tenant}})
	registerAdapter(ctx, t, kc, ns, port)

	t.Run("external metric is the queue depth", func(t *testing.T) {
		q := uniqueQueue("adapter-depth")
		publish(ctx, t, q, 37)
		t.Cleanup(func() { purge(t, q) })
		em := externalclient.NewForConfigOrDie(cp.Config)
		sel := labels.SelectorFromSet(labels.Set{adapter.LabelQueue: q})
		var got, ready int64
		var lastErr error
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			list, err := em.NamespacedMetrics(ns).List(adapter.MetricMessages, sel)
			if lastErr = err; err == nil && len(list.Items) == 1 {
				if got = list.Items[0].Value.Value(); got == 37 {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got != 37 {
			t.Fatalf("%s{queue=%s} = %d after 30s, want 37 (last error: %v)", adapter.MetricMessages, q, got, lastErr)
		}
		list, err := em.NamespacedMetrics(ns).List(adapter.MetricMessagesReady, sel)
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("%s: %v", adapter.MetricMessagesReady, err)
		}
		if ready = list.Items[0].Value.Value(); ready != 37 {
			t.Errorf("%s = %d, want 37 (no consumer, so every message is ready)", adapter.MetricMessagesReady, ready)
		}
		_, err = em.NamespacedMetrics(ns).List(adapter.MetricMessages, labels.SelectorFromSet(labels.Set{adapter.LabelQueue: "no-such-queue"}))
		if !apierrors.IsNotFound(err) {
			t.Errorf("unknown queue: error %v, want NotFound so that the HPA reports FailedGetExternalMetric", err)
		}
		// The same query from a namespace the broker's allow list leaves
		// out: Forbidden, through the API server, and no figure.
		denied, err := em.NamespacedMetrics(other).List(adapter.MetricMessages, sel)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "not allowed by the broker configuration") ||
			!strings.Contains(err.Error(), "allow.namespaceSelector") {
			t.Errorf("namespace %s outside the allow list: %v, %v; want Forbidden naming the broker configuration's selector", other, denied, err)
		}
		// From the namespace whose labels match the selector: the figure.
		list, err = em.NamespacedMetrics(labelled).List(adapter.MetricMessages, sel)
		if err != nil || len(list.Items) != 1 || list.Items[0].Value.Value() != 37 {
			t.Errorf("namespace %s, allowed by its labels: %v, %v; want 37", labelled, list, err)
		}
	})

	t.Run("adapter answers only callers kube-apiserver authorizes", func(t *testing.T) {
		q := uniqueQueue("adapter-authz")
		publish(ctx, t, q, 3)
		t.Cleanup(func() { purge(t, q) })
		proxy, err := tls.LoadX509KeyPair(cp.FrontProxy.CertFile, cp.FrontProxy.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		hpaSA := map[string][]string{
			harness.RequestHeaderUser:  {"system:serviceaccount:kube-system:horizontal-pod-autoscaler"},
			harness.RequestHeaderGroup: {"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
		}
		// The HPA's identity is allowed: wait for the queue's statistics to
		// reach the snapshot (404, then 503 until then), so every refusal
		// below is a refusal of the caller and not of the metric.
		deadline := time.Now().Add(30 * time.Second)
		status, body := adapterStatus(ctx, t, port, ns, q, &proxy, hpaSA)
		for (status == http.StatusNotFound || status == http.StatusServiceUnavailable) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			status, body = adapterStatus(ctx, t, port, ns, q, &proxy, hpaSA)
		}
		if status != http.StatusOK {
			t.Fatalf("front-proxy certificate for the HPA controller's service account: adapter answered %d, want 200: %s", status, body)
		}
		for _, tc := range []struct {
			name    string
			cert    *tls.Certificate
			headers map[string][]string
			want    int
		}{
			{"no credentials", nil, nil, http.StatusForbidden},
			{"identity headers without the front-proxy certificate", nil, hpaSA, http.StatusForbidden},
			{"front-proxy certificate for a user without RBAC", &proxy,
				map[string][]string{harness.RequestHeaderUser: {"rabbitscale-it-nobody"}, harness.RequestHeaderGroup: {"system:authenticated"}}, http.StatusForbidden},
		} {
			if got, body := adapterStatus(ctx, t, port, ns, q, tc.cert, tc.headers); got != tc.want {
				t.Errorf("%s: adapter answered %d, want %d: %s", tc.name, got, tc.want, body)
			}
		}
	})

	t.Run("stock HPA scales a Deployment from the external metric", func(t *testing.T) {
		startControllerManager(t, kubeconfig)
		q := uniqueQueue("adapter-hpa")
		publish(ctx, t, q, 1) // the queue exists before the HPA first asks
		purge(t, q)
		name := "hpa-worker"
		if _, err := kc.AppsV1().Deployments(ns).Create(ctx, workerDeployment(ns, name, 1, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				MinReplicas:    ptr.To[int32](1),
				MaxReplicas:    10,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ExternalMetricSourceType,
					External: &autoscalingv2.ExternalMetricSource{
						Metric: autoscalingv2.MetricIdentifier{Name: adapter.MetricMessages,
							Selector: &metav1.LabelSelector{MatchLabels: map[string]string{adapter.LabelQueue: q}}},
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))},
					},
				}},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)},
				},
			},
		}
		if _, err := kc.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// 45 messages at 10 per pod: ceil(4.5) = 5 replicas, within the
		// HPA's default first scale-up step (1 -> max(4 pods, 100%) + 1).
		publish(ctx, t, q, 45)
		up := waitReplicasHPA(ctx, t, kc, ns, name, 5, 60*time.Second)
		purge(t, q)
		down := waitReplicasHPA(ctx, t, kc, ns, name, 1, 60*time.Second)
		t.Logf("HPA scaled 1 -> 5 and back to 1 (%s after the purge)", down.Sub(up).Round(100*time.Millisecond))
	})
}

// serveAdapter serves rabbitscale's external metrics provider over the
// harness broker on adapterIP at a free port, as rabbitscale-adapter does
// (adapter.Serve), and returns the port.
func serveAdapter(ctx context.Context, t *testing.T, kubeconfig string, access queue.Access) int {
	t.Helper()
	brokers := openBrokers(t)
	readers := map[string]adapter.SnapshotReader{}
	for name, r := range brokers.Readers() {
		readers[name] = r
	}
	p := adapter.NewProvider(adapter.Brokers{Readers: readers, Allowed: access.Check}, time.Minute, nil, nil)
	// The namespaces' labels, as rabbitscale-adapter reads them (package
	// nslabels), synced before the first HPA asks.
	nsLabels := nslabels.New(metadata.NewForConfigOrDie(cp.Config), "test")
	nsLabels.Start(ctx, func() bool { return access.NamespaceSelector != nil })
	t.Cleanup(nsLabels.Shutdown)
	if access.NamespaceSelector != nil {
		deadline := time.Now().Add(30 * time.Second)
		for nslabels.Namespace(nsLabels, metav1.NamespaceDefault).Labels == nil {
			if time.Now().After(deadline) {
				t.Fatal("the namespace labels did not sync within 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	p.LabelsFrom(nsLabels)

	ln, err := net.Listen("tcp", net.JoinHostPort(adapterIP, "0"))
	if err != nil {
		t.Fatalf("listening on %s (loopback 127.0.0.0/8 on Linux): %v", adapterIP, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	opts := cmoptions.NewCustomMetricsAdapterServerOptions()
	opts.SecureServing.Listener = ln
	opts.SecureServing.BindAddress = net.ParseIP(adapterIP)
	opts.SecureServing.BindPort = port
	opts.SecureServing.ServerCert.CertDirectory = ""
	opts.Authentication.RemoteKubeConfigFile = kubeconfig
	opts.Authorization.RemoteKubeConfigFile = kubeconfig

	actx, stop := context.WithCancel(klog.NewContext(ctx, klog.Background()))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := adapter.Serve(actx, p, 500*time.Millisecond, opts, kubeconfig); err != nil && actx.Err() == nil {
			t.Errorf("adapter: %v", err)
		}
	})
	t.Cleanup(func() {
		stop()
		wg.Wait()
		_ = brokers.Close()
	})
	return port
}

// registerAdapter makes the API server proxy external.metrics.k8s.io to
// the adapter: a selector-less Service on adapterIP, an EndpointSlice that
// names the Service by DNS (an FQDN endpoint keeps the APIService
// Available; loopback IPs are not allowed in endpoints, and the aggregator
// dials the ClusterIP anyway), and the APIService. The aggregator presents
// the harness's front-proxy client certificate with the caller's identity in
// request headers; the adapter trusts those headers through the CA that
// kube-apiserver publishes in kube-system/extension-apiserver-authentication,
// and asks kube-apiserver whether that caller may read external metrics.
func registerAdapter(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns string, port int) {
	t.Helper()
	svcName := "rabbitscale-adapter"
	_, err := kc.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svcName},
		Spec: corev1.ServiceSpec{ClusterIP: adapterIP, Ports: []corev1.ServicePort{{
			Name: "https", Port: int32(port), TargetPort: intstr.FromInt32(int32(port)), Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the adapter Service: %v", err)
	}
	_, err = kc.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svcName + "-fqdn",
			Labels: map[string]string{discoveryv1.LabelServiceName: svcName, discoveryv1.LabelManagedBy: "rabbitscale-integration"}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("%s.%s.svc", svcName, ns)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the adapter EndpointSlice: %v", err)
	}

	dc := dynamic.NewForConfigOrDie(cp.Config)
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": "v1beta1.external.metrics.k8s.io"},
		"spec": map[string]any{
			"group": "external.metrics.k8s.io", "version": "v1beta1",
			"service":               map[string]any{"namespace": ns, "name": svcName, "port": int64(port)},
			"insecureSkipTLSVerify": true,
			"groupPriorityMinimum":  int64(100),
			"versionPriority":       int64(100),
		},
	}}
	if _, err := dc.Resource(apiServiceGVR).Create(ctx, apiService, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the APIService: %v", err)
	}
	t.Cleanup(func() {
		bg := context.Background()
		_ = dc.Resource(apiServiceGVR).Delete(bg, "v1beta1.external.metrics.k8s.io", metav1.DeleteOptions{})
	})

	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		u, err := dc.Resource(apiServiceGVR).Get(ctx, "v1beta1.external.metrics.k8s.io", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" {
				last = fmt.Sprintf("%v: %v", m["reason"], m["message"])
				if m["status"] == "True" {
					return
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("APIService v1beta1.external.metrics.k8s.io not Available after 60s: %s", last)
}

// adapterStatus asks the adapter directly (not through the aggregator) for
// queue q's depth as a client with cert and headers, and returns the HTTP
// status code and the start of the body.
func adapterStatus(ctx context.Context, t *testing.T, port int, ns, q string, cert *tls.Certificate, headers map[string][]string) (int, string) {
	t.Helper()
	tlsConf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the adapter's self-signed serving certificate
	if cert != nil {
		tlsConf.Certificates = []tls.Certificate{*cert}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	u := fmt.Sprintf("https://%s/apis/external.metrics.k8s.io/v1beta1/namespaces/%s/%s?labelSelector=%s",
		net.JoinHostPort(adapterIP, strconv.Itoa(port)), ns, adapter.MetricMessages, url.QueryEscape(adapter.LabelQueue+"="+q))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	return resp.StatusCode, string(body)
}

// startControllerManager runs kube-controller-manager with only the HPA
// controller, syncing every second. As on kubeadm clusters, each controller
// runs as its own service account, so the aggregator forwards the identity
// system:serviceaccount:kube-system:horizontal-pod-autoscaler to the
// adapter, which must find it authorized by kube-apiserver's bootstrap RBAC.
func startControllerManager(t *testing.T, kubeconfig string) {
	t.Helper()
	bin := filepath.Join(cp.Assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kube-controller-manager: %v (hack/tools.sh builds it)", err)
	}
	startProcess(t, t.TempDir(), "kube-controller-manager", bin,
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
		"--controllers=horizontalpodautoscaling",
		"--horizontal-pod-autoscaler-sync-period=1s",
		"--use-service-account-credentials",
		"--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(freePort(t)),
	)
}

// waitReplicasHPA waits for spec.replicas to reach want and reports the
// HPA's conditions when it does not.
func waitReplicasHPA(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name string, want int32, timeout time.Duration) time.Time {
	t.Helper()
	at, got := pollReplicas(ctx, t, kc, ns, name, want, timeout)
	if got == want {
		return at
	}
	h, err := kc.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Deployment %s has %d replicas, want %d; HPA: %v", name, got, want, err)
	}
	var conds string
	for _, c := range h.Status.Conditions {
		conds += fmt.Sprintf("\n  %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	t.Fatalf("Deployment %s has %d replicas after %s, want %d; HPA desired %d, conditions:%s", name, got, timeout, want, h.Status.DesiredReplicas, conds)
	return time.Time{}
}

// TestAdapterCommand runs rabbitscale-adapter as a user would, with only
// --kubeconfig for its client, delegated authentication and authorization,
// and asks it directly for a queue's depth with the admin's client
// certificate.
func TestAdapterCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.Kubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	conf, err := broker.WriteConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)

	q := uniqueQueue("adapter-cmd")
	publish(ctx, t, q, 12)
	t.Cleanup(func() { purge(t, q) })

	proc := startProcess(t, dir, "adapter", adapterBinary(t),
		"--kubeconfig", kubeconfig, "--config", conf, "--interval", "500ms", "--max-age", "10s",
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port))
	t.Cleanup(func() {
		if strings.Contains(proc.Output(), broker.Password) {
			t.Error("the adapter logged the broker password")
		}
	})

	cfg := rest.CopyConfig(cp.Config)
	cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", port)
	cfg.CAData, cfg.CAFile, cfg.Insecure = nil, "", true // self-signed serving certificate
	em := externalclient.NewForConfigOrDie(cfg)
	sel := labels.SelectorFromSet(labels.Set{adapter.LabelQueue: q})
	var got int64
	var lastErr error
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		list, err := em.NamespacedMetrics("default").List(adapter.MetricMessages, sel)
		if lastErr = err; err == nil && len(list.Items) == 1 {
			if got = list.Items[0].Value.Value(); got == 12 {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("rabbitscale-adapter served %s{queue=%s} = %d, want 12 (last error: %v)", adapter.MetricMessages, q, got, lastErr)
}

var (
	adapterBuildOnce  sync.Once
	adapterBinaryPath string
	adapterBuildErr   error
)

// adapterBinary builds cmd/rabbitscale-adapter once per run.
func adapterBinary(t testing.TB) string {
	t.Helper()
	adapterBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rabbitscale-adapter-bin-")
		if err != nil {
			adapterBuildErr = err
			return
		}
		adapterBinaryPath = filepath.Join(dir, "rabbitscale-adapter")
		out, err := exec.Command("go", "build", "-o", adapterBinaryPath, "github.com/rabbitscale/rabbitscale/cmd/rabbitscale-adapter").CombinedOutput()
		if err != nil {
			adapterBuildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if adapterBuildErr != nil {
		t.Fatal(adapterBuildErr)
	}
	return adapterBinaryPath
}
