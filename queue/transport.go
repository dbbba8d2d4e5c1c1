package queue

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// userPass is a resolved pair of credentials. Its String hides the password.
type userPass struct {
	user, pass string
}

func (u userPass) String() string { return fmt.Sprintf("user %q", u.user) }

// credentialFunc resolves credentials at the time of use, so that rotated
// Secrets mounted as files take effect without a restart.
type credentialFunc func() (userPass, bool, error)

// resolver returns a credentialFunc for c. Its errors name the variable or
// file, never its content. The bool is false when no credentials are
// configured.
func (c Credentials) resolver() credentialFunc {
	return func() (userPass, bool, error) {
		var up userPass
		var err error
		switch {
		case c.Username != "":
			up.user = c.Username
		case c.UsernameEnv != "":
			if up.user, err = fromEnv("credentials.usernameEnv", c.UsernameEnv); err != nil {
				return userPass{}, false, err
			}
		case c.UsernameFile != "":
			if up.user, err = fromFile("credentials.usernameFile", c.UsernameFile); err != nil {
				return userPass{}, false, err
			}
		default:
			return userPass{}, false, nil
		}
		switch {
		case c.PasswordEnv != "":
			up.pass, err = fromEnv("credentials.passwordEnv", c.PasswordEnv)
		case c.PasswordFile != "":
			up.pass, err = fromFile("credentials.passwordFile", c.PasswordFile)
		}
		if err != nil {
			return userPass{}, false, err
		}
		return up, true, nil
	}
}

func fromEnv(field, name string) (string, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("%w: %s: environment variable %q is not set", ErrInvalidConfig, field, name)
	}
	return v, nil
}

func fromFile(field, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The *PathError names the file and the OS error only.
		return "", fmt.Errorf("%w: %s: %w", ErrInvalidConfig, field, err)
	}
	// Secrets written by hand often end with a newline.
	return strings.TrimRight(string(b), "\r\n"), nil
}

// tlsConfig builds the client TLS configuration: verification on, TLS 1.2
// at least, the system roots plus CAFile, and the client certificate.
func (t TLSConfig) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // off only when configured so, for tests
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.caFile: %w", ErrInvalidConfig, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.caFile: %q holds no PEM certificate", ErrInvalidConfig, t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.certFile/keyFile: %w", ErrInvalidConfig, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// newHTTPClient returns a client whose connections are reused across reads
// and bounded in number: at most conns per host, idle ones closed after 90 s.
// No overall client timeout is set; each request carries its own deadline.
func newHTTPClient(tlsCfg *tls.Config, conns int) *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conns * 4,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr}
}
