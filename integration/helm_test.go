//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/rabbitscale/rabbitscale/deploy"
)

// TestHelmInstall installs the chart with `helm install` onto the test API
// server, watching one namespace, then plays the kubelet for the
// controller's pod: it mounts the ConfigMap and Secret the pod names, sets
// its environment, and runs the real `rabbitscale run` with the container's
// args as the chart's ServiceAccount, so that the chart's RBAC, broker
// configuration, credentials mount and flags are what does the scaling.
// `helm uninstall` must then leave none of the chart's objects behind.
func TestHelmInstall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	release, watched, other := createNamespace(ctx, t, kc), createNamespace(ctx, t, kc), createNamespace(ctx, t, kc)
	home := t.TempDir()
	kubeconfig := filepath.Join(home, "kubeconfig")
	if err := cp.Kubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}

	// README "Install with Helm": the credentials Secret, then the chart.
	if _, err := kc.CoreV1().Secrets(release).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "rabbitscale-broker"},
		StringData: map[string]string{"username": broker.Username, "password": broker.Password},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	values, err := deploy.WriteValues(home, map[string]any{
		"watch":         map[string]any{"namespaces": []string{watched}},
		"networkPolicy": map[string]any{"enabled": true},
		"brokers": []any{map[string]any{
			"name":          "default",
			"managementURL": broker.ManagementURL,
			"credentials": map[string]any{
				"usernameFile": "/etc/rabbitscale/credentials/username",
				"passwordFile": "/etc/rabbitscale/credentials/password",
			},
			// Rates over a few of the test node's 1 s statistics intervals.
			"rateWindow": "10s", "minRateSpan": "3s",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	helm := func(args ...string) string {
		t.Helper()
		out, err := deploy.RunHelm(home, append(args, "--namespace", release, "--kubeconfig", kubeconfig)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return string(out)
	}
	start := time.Now()
	notes := helm("install", "rs", filepath.Join(deploy.Dir(), deploy.ChartDir), "--values", values)
	t.Logf("helm install took %s", time.Since(start).Round(time.Millisecond))
	if want := "of namespace " + watched; !strings.Contains(notes, want) {
		t.Errorf("helm install's notes do not say %q:\n%s", want, notes)
	}
	manifest, err := deploy.Decode([]byte(helm("get", "manifest", "rs")))
	if err != nil {
		t.Fatal(err)
	}

	d, err := kc.AppsV1().Deployments(release).Get(ctx, "rs-rabbitscale", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the chart's controller Deployment: %v", err)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	user := fmt.Sprintf("system:serviceaccount:%s:%s", release, sa)
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + release, "system:authenticated"}

	t.Run("RBACStaysInTheWatchedNamespace", func(t *testing.T) {
		checks := []struct {
			verb, resource, subresource, namespace string
			allowed                                bool
		}{
			{"list", "deployments", "", watched, true},
			{"update", "deployments", "scale", watched, true},
			{"list", "deployments", "", other, false},
			{"update", "deployments", "scale", other, false},
			{"list", "deployments", "", "", false}, // no cluster-wide list
		}
		for _, c := range checks {
			sar, err := kc.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: c.verb, Group: "apps", Resource: c.resource, Subresource: c.subresource, Namespace: c.namespace},
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != c.allowed {
				t.Errorf("%s %s/%s in %q as %s: allowed = %v, want %v", c.verb, c.resource, c.subresource, c.namespace, sa, sar.Status.Allowed, c.allowed)
			}
		}
	})

	t.Run("ScalesAsTheChartsServiceAccount", func(t *testing.T) {
		q := uniqueQueue("helm")
		ann := annotations(q, "target-depth-per-pod", "100", "max-replicas", "10")
		createDeployment(ctx, t, kc, watched, "worker", 1, ann)
		createDeployment(ctx, t, kc, other, "worker", 1, ann) // outside the watch: never scaled

		pod := runPod(ctx, t, kc, d, "rs-rabbitscale-pod-a", user, groups)
		publish(ctx, t, q, 400)
		waitReplicas(ctx, t, kc, watched, "worker", 4, 30*time.Second)
		// The Lease the chart's flags name, in the release namespace, held
		// under the pod's name.
		waitLeaseHolder(ctx, t, kc, release, "rs-rabbitscale-controller", "rs-rabbitscale-pod-a", 10*time.Second)
		if got := replicas(ctx, t, kc, other, "worker"); got != 1 {
			t.Errorf("the Deployment outside watch.namespaces has %d replicas, want 1 untouched", got)
		}
		if t.Failed() {
			t.Logf("controller log:\n%s", pod.Output())
		}
		_ = pod.Process.Kill()
		_ = pod.Wait()
	})

	helm("uninstall", "rs")
	dc := discovery.NewDiscoveryClientForConfigOrDie(cp.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	if len(manifest) < 8 {
		t.Errorf("helm get manifest listed %d objects, want the chart's 10", len(manifest))
	}
	for _, o := range manifest {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatal(err)
		}
		ns := o.GetNamespace()
		if ns == "" && m.Scope.Name() == "namespace" {
			ns = release
		}
		_, err = dyn.Resource(m.Resource).Namespace(ns).Get(ctx, o.GetName(), metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("after helm uninstall, %s %s/%s: %v, want NotFound", gvk.Kind, ns, o.GetName(), err)
		}
	}
	if out, err := deploy.RunHelm(home, "status", "rs", "--namespace", release, "--kubeconfig", kubeconfig); err == nil {
		t.Errorf("helm status after uninstall succeeded:\n%s", out)
	}
}

// runPod does what a kubelet would for the first container of d's pod: it
// writes the ConfigMap and Secret volumes it mounts under a private root
// (rewriting those mount paths in its args and mounted files to point
// there), expands $(POD_NAME) and $(POD_NAMESPACE), and runs the
// rabbitscale binary with the container's args, authenticated as user.
// Only the health address and the tick are overridden: port 8081 is not
// ours to take, and the tests' tick is 1 s.
func runPod(ctx context.Context, t *testing.T, kc kubernetes.Interface, d *appsv1.Deployment, podName, user string, groups []string) *process {
	t.Helper()
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	root := t.TempDir()
	chroot := func(s string) string {
		for _, vm := range c.VolumeMounts {
			s = strings.ReplaceAll(s, vm.MountPath, filepath.Join(root, vm.MountPath))
		}
		return s
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, vm := range c.VolumeMounts {
		v, ok := volumes[vm.Name]
		if !ok {
			t.Fatalf("volumeMount %s names no volume", vm.Name)
		}
		files := map[string][]byte{}
		switch {
		case v.ConfigMap != nil:
			cm, err := kc.CoreV1().ConfigMaps(d.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("volume %s: %v", v.Name, err)
			}
			for k, s := range cm.Data {
				files[k] = []byte(chroot(s))
			}
		case v.Secret != nil:
			s, err := kc.CoreV1().Secrets(d.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("volume %s: %v", v.Name, err)
			}
			files = s.Data
		default:
			t.Fatalf("volume %s: only ConfigMap and Secret volumes are played here", v.Name)
		}
		dest := filepath.Join(root, vm.MountPath)
		if vm.SubPath != "" {
			b, ok := files[vm.SubPath]
			if !ok {
				t.Fatalf("volume %s has no key %s", v.Name, vm.SubPath)
			}
			files = map[string][]byte{filepath.Base(dest): b}
			dest = filepath.Dir(dest)
		}
		if err := os.MkdirAll(dest, 0o700); err != nil {
			t.Fatal(err)
		}
		for k, b := range files {
			if err := os.WriteFile(filepath.Join(dest, k), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = podName
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = d.Namespace
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		default:
			t.Fatalf("env %s: not played here", e.Name)
		}
	}
	var args []string
	for _, a := range c.Args {
		for k, v := range env {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		args = append(args, chroot(a))
	}

	// The pod's in-cluster credentials: the API server, as its ServiceAccount.
	dir := t.TempDir()
	kubeconfig := impersonatingKubeconfig(t, dir, user, groups)
	args = append(args, "--kubeconfig="+kubeconfig, "--interval="+tickInterval.String(), "--health-addr=127.0.0.1:0")
	t.Logf("rabbitscale %s", strings.Join(args, " "))
	return startProcess(t, dir, podName, rabbitscaleBinary(t), args...)
}
