package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// FrontProxyClientName is the common name of the client certificate the
// aggregator presents to extension API servers, and the only name
// --requestheader-allowed-names accepts (kubeadm uses the same).
const FrontProxyClientName = "front-proxy-client"

// Request-header names the aggregator sets and extension API servers trust
// when the request comes with a client certificate signed by the
// front-proxy CA. kube-apiserver publishes them, with the CA, in the
// kube-system/extension-apiserver-authentication ConfigMap.
const (
	RequestHeaderUser        = "X-Remote-User"
	RequestHeaderGroup       = "X-Remote-Group"
	RequestHeaderExtraPrefix = "X-Remote-Extra-"
)

// FrontProxy is the aggregation layer's identity: a CA that extension API
// servers trust for request headers and a client certificate it signed.
type FrontProxy struct {
	CAFile, CertFile, KeyFile string
}

// writeFrontProxy creates the front-proxy CA and client certificate in dir.
func writeFrontProxy(dir string) (*FrontProxy, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca, err := cert.NewSelfSignedCACert(cert.Config{CommonName: "rabbitscale-it-front-proxy-ca"}, caKey)
	if err != nil {
		return nil, fmt.Errorf("front-proxy CA: %w", err)
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	client, err := signClientCert(ca, caKey, clientKey.Public(), FrontProxyClientName)
	if err != nil {
		return nil, fmt.Errorf("front-proxy client certificate: %w", err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(clientKey)
	if err != nil {
		return nil, err
	}
	fp := &FrontProxy{
		CAFile:   filepath.Join(dir, "front-proxy-ca.crt"),
		CertFile: filepath.Join(dir, "front-proxy-client.crt"),
		KeyFile:  filepath.Join(dir, "front-proxy-client.key"),
	}
	for path, data := range map[string][]byte{
		fp.CAFile:   pem.EncodeToMemory(&pem.Block{Type: cert.CertificateBlockType, Bytes: ca.Raw}),
		fp.CertFile: pem.EncodeToMemory(&pem.Block{Type: cert.CertificateBlockType, Bytes: client}),
		fp.KeyFile:  keyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return fp, nil
}

func signClientCert(ca *x509.Certificate, caKey crypto.Signer, pub crypto.PublicKey, commonName string) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
}

// apiServerFlags are the kube-apiserver flags that make it an aggregator
// which authenticates itself to extension API servers with fp.
func (fp *FrontProxy) apiServerFlags() map[string]string {
	return map[string]string{
		"requestheader-client-ca-file":       fp.CAFile,
		"requestheader-allowed-names":        FrontProxyClientName,
		"requestheader-username-headers":     RequestHeaderUser,
		"requestheader-group-headers":        RequestHeaderGroup,
		"requestheader-extra-headers-prefix": RequestHeaderExtraPrefix,
		"proxy-client-cert-file":             fp.CertFile,
		"proxy-client-key-file":              fp.KeyFile,
	}
}
