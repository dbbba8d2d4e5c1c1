package queue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// testPKI is a throw-away CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type testPKI struct {
	pool                          *x509.CertPool
	server                        tls.Certificate
	caFile, clientCert, clientKey string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rabbitscale test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliDER, cliKey := issue(3, "rabbitscale", x509.ExtKeyUsageClientAuth, nil)
	cliKeyDER, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{pool: x509.NewCertPool(),
		server:     tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey},
		caFile:     writePEM("ca.pem", "CERTIFICATE", caDER),
		clientCert: writePEM("client.pem", "CERTIFICATE", cliDER),
		clientKey:  writePEM("client-key.pem", "EC PRIVATE KEY", cliKeyDER),
	}
	p.pool.AddCert(ca)
	return p
}

// TestManagementTLS serves the management API over TLS with a private CA
// and a required client certificate.
func TestManagementTLS(t *testing.T) {
	pki := newTestPKI(t)
	page := readTestdata(t, "mgmt-page1.json")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "scaler" || p != testPassword {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tests := []struct {
		name string
		tls  TLSConfig
		want error
	}{
		{name: "verification is on by default: the private CA is not trusted", tls: TLSConfig{}, want: ErrInvalidConfig},
		{name: "trusted CA, no client certificate: the server refuses us", tls: TLSConfig{CAFile: pki.caFile}, want: ErrUnauthorized},
		{name: "trusted CA and client certificate", tls: TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}},
		{name: "wrong server name", tls: TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "rabbit.example"}, want: ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManagement(t, testBroker(srv.URL, func(b *BrokerConfig) { b.TLS = tt.tls; b.PageSize = 500 }), testingclock.NewFakeClock(t0))
			snap, err := m.Snapshot(context.Background(), Scope{})
			if tt.want == nil {
				if err != nil || snap.Len() != 2 {
					t.Fatalf("Snapshot = %v, %v; want the page's 2 queues", snap, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || errors.Is(err, ErrBrokerUnavailable) {
				t.Errorf("err = %v; want %v (and not ErrBrokerUnavailable)", err, tt.want)
			}
		})
	}
}

func TestTLSConfigFiles(t *testing.T) {
	pki := newTestPKI(t)
	if _, err := (TLSConfig{CAFile: pki.clientKey}).tlsConfig(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("a key as CA file: err = %v, want ErrInvalidConfig", err)
	}
	if _, err := (TLSConfig{CAFile: filepath.Join(t.TempDir(), "missing.pem")}).tlsConfig(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("missing CA file: err = %v, want ErrInvalidConfig", err)
	}
	cfg, err := (TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}).tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InsecureSkipVerify || cfg.MinVersion < tls.VersionTLS12 || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Errorf("tls.Config = %+v; want verification on, TLS 1.2+, the client certificate and the CA", cfg)
	}
}
