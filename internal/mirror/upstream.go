package mirror

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/net/http/httpproxy"
)

// Upstream is an external repository and how to reach it.
type Upstream struct {
	Repository name.Repository
	Username   string
	Password   string
	Config     RegistryConfig
}

// NewUpstream parses an external reference with its settings.
func NewUpstream(ref, username, password string, cfg RegistryConfig) (Upstream, error) {
	var opts []name.Option
	if !cfg.VerifyTLS {
		// Quay's verify_tls=false also allows plain HTTP.
		opts = append(opts, name.Insecure)
	}
	if _, err := ParseExternalReference(ref); err != nil {
		return Upstream{}, err
	}
	repo, err := name.NewRepository(ref, append(opts, name.StrictValidation)...)
	if err != nil {
		return Upstream{}, invalid("external_reference: %s", shorten(err.Error()))
	}
	return Upstream{Repository: repo, Username: username, Password: password, Config: cfg}, nil
}

// transport builds the HTTP transport: TLS verification and extra CAs, and
// the proxies (the process's environment is not consulted).
func (u Upstream) transport() (http.RoundTripper, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if !u.Config.VerifyTLS {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // the mirror's verify_tls=false asks for it
	} else if u.Config.CACertificate != "" {
		certs, err := parseCertificates(u.Config.CACertificate)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		// Both the system's roots and the configured ones are trusted.
		for _, c := range certs {
			pool.AddCert(c)
		}
		tlsCfg.RootCAs = pool
	}
	t := &http.Transport{
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
	p := u.Config.Proxy
	if p.HTTPProxy != "" || p.HTTPSProxy != "" {
		// Requests to loopback addresses are never proxied.
		pc := &httpproxy.Config{HTTPProxy: p.HTTPProxy, HTTPSProxy: p.HTTPSProxy, NoProxy: p.NoProxy}
		fn := pc.ProxyFunc()
		t.Proxy = func(r *http.Request) (*url.URL, error) { return fn(r.URL) }
	}
	if u.Config.VerifyTLS {
		return httpsOnly{t}, nil
	}
	return t, nil
}

// httpsOnly refuses plain HTTP, except to loopback addresses: with
// verify_tls on, a registry on a private address must not silently be
// reached without TLS (go-containerregistry falls back to HTTP for them).
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !isLoopback(r.URL.Hostname()) {
		return nil, errorf("plain HTTP to %s refused: verify_tls is on", r.URL.Host)
	}
	return h.next.RoundTrip(r)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// options are go-containerregistry's remote options for ctx.
func (u Upstream) options(ctx context.Context) ([]remote.Option, error) {
	t, err := u.transport()
	if err != nil {
		return nil, err
	}
	var a authn.Authenticator = authn.Anonymous
	if u.Username != "" || u.Password != "" {
		a = &authn.Basic{Username: u.Username, Password: u.Password}
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(t), remote.WithAuth(a),
		remote.WithUserAgent("wharf-mirror"), remote.WithRetryBackoff(remote.Backoff{Steps: 1})}, nil
}
