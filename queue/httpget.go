package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultMaxBody bounds one HTTP response body. A Prometheus page for 10,000
// queues with their channels is a few megabytes.
const defaultMaxBody = 256 << 20

// httpEndpoint does the GETs of the HTTP sources: one request at a time per
// call, a deadline per request, the body bounded and always drained so that
// the connection is reused, and every failure mapped to a sentinel.
type httpEndpoint struct {
	broker  string
	client  *http.Client
	timeout time.Duration
	maxBody int64
}

// get fetches u and hands the body to decode. op names the request in
// errors; it never holds userinfo, because u never does.
func (e *httpEndpoint) get(ctx context.Context, u *url.URL, op string, auth *userPass, accept string, decode func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return &BrokerError{Broker: e.broker, Op: op, Kind: ErrInvalidConfig, Err: redactErr(err)}
	}
	req.Header.Set("Accept", accept)
	if auth != nil {
		req.SetBasicAuth(auth.user, auth.pass)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return &BrokerError{Broker: e.broker, Op: op, Kind: transportKind(err), Err: e.cause(ctx, err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return &BrokerError{Broker: e.broker, Op: op, Status: resp.StatusCode, Kind: statusKind(resp.StatusCode), Err: errorReason(resp.Body)}
	}
	limited := &io.LimitedReader{R: resp.Body, N: e.maxBody + 1}
	if err := decode(limited); err != nil {
		if ctx.Err() != nil {
			return &BrokerError{Broker: e.broker, Op: op, Kind: ErrBrokerUnavailable, Err: e.cause(ctx, err)}
		}
		if limited.N <= 0 {
			err = fmt.Errorf("response larger than %d bytes", e.maxBody)
		}
		return &BrokerError{Broker: e.broker, Op: op, Kind: ErrInvalidResponse, Err: err}
	}
	return nil
}

// cause keeps the useful part of a transport error: "timeout after 10s"
// rather than a bare "context deadline exceeded", and never a URL with
// userinfo.
//
// Op already names the request, so the *url.Error around the cause, whose
// text repeats the whole URL with its query, is dropped: the same failure
// then reads the same on every page and every tick.
func (e *httpEndpoint) cause(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within the read's deadline (timeout %s): %w", e.timeout, context.DeadlineExceeded)
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return redactErr(err)
}

// transportKind tells TLS trouble, which retrying will not fix, from an
// unreachable broker: a server certificate that does not verify is a
// configuration problem (tls.caFile, tls.serverName); a TLS alert from the
// server (client certificate missing or refused) is an authentication
// failure.
func transportKind(err error) error {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		op      *net.OpError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return ErrInvalidConfig
	case errors.As(err, &op) && op.Op == "remote error":
		return ErrUnauthorized
	}
	return ErrBrokerUnavailable
}

func statusKind(code int) error {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ErrUnauthorized
	case code == http.StatusTooManyRequests || code >= 500:
		return ErrBrokerUnavailable
	default:
		return ErrInvalidResponse
	}
}

// errorReason reads the management API's {"error": ..., "reason": ...}
// body, shortened; it returns nil for anything else.
func errorReason(body io.Reader) error {
	var e struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	if json.NewDecoder(io.LimitReader(body, 4<<10)).Decode(&e) != nil || (e.Error == "" && e.Reason == "") {
		return nil
	}
	s := strings.TrimSpace(e.Error + ": " + e.Reason)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return errors.New(s)
}

// displayURL is what errors show for a request: scheme, host and path, with
// the query parameters named in keep.
func displayURL(u *url.URL, keep ...string) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	q := url.Values{}
	for _, k := range keep {
		if v, ok := u.Query()[k]; ok {
			q[k] = v
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}
