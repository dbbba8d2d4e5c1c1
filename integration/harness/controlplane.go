package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ServiceClusterIPRange is the API server's service range. It is on loopback
// so that the aggregator can reach an adapter the tests serve on a loopback
// ClusterIP (127.0.100.10, say) without any network of its own.
const ServiceClusterIPRange = "127.0.100.0/24"

// ErrNoControlPlane says that the kube-apiserver and etcd binaries were not found.
var ErrNoControlPlane = errors.New("no kube-apiserver/etcd: set KUBEBUILDER_ASSETS to the directory `make tools` prints (`make test` does this)")

// ControlPlane is a private kube-apiserver with its etcd.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
	// Assets is the directory holding kube-apiserver, etcd and kube-controller-manager.
	Assets string
	// FrontProxy is the identity the aggregator presents to extension API
	// servers such as rabbitscale-adapter.
	FrontProxy *FrontProxy

	certDir string
}

// StartControlPlane starts kube-apiserver and etcd from KUBEBUILDER_ASSETS.
func StartControlPlane() (*ControlPlane, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, ErrNoControlPlane
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoControlPlane, err)
		}
	}
	certDir, err := os.MkdirTemp("", "rabbitscale-front-proxy-")
	if err != nil {
		return nil, err
	}
	fp, err := writeFrontProxy(certDir)
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("service-cluster-ip-range", ServiceClusterIPRange)
	for flag, value := range fp.apiServerFlags() {
		args.Set(flag, value)
	}
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	return &ControlPlane{Env: env, Config: cfg, Assets: assets, FrontProxy: fp, certDir: certDir}, nil
}

// Stop stops the API server and etcd.
func (c *ControlPlane) Stop() error {
	err := c.Env.Stop()
	return errors.Join(err, os.RemoveAll(c.certDir))
}

// Kubeconfig writes a kubeconfig for an admin user of this control plane to
// path, for kubectl and for `rabbitscale run --kubeconfig`.
func (c *ControlPlane) Kubeconfig(path string) error {
	user, err := c.Env.ControlPlane.AddUser(envtest.User{Name: "rabbitscale-admin", Groups: []string{"system:masters"}}, c.Config)
	if err != nil {
		return fmt.Errorf("adding an admin user: %w", err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
