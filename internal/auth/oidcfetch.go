package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// What robot federation (federation.go) and OIDC login (oidclogin.go) share
// to talk to an OpenID provider: the trusted roots, the HTTP client, bounded
// JSON GETs, the discovery URL, reading a key set and the cache of a
// provider's keys. Each caller keeps its own URL policy (federation may allow
// http issuers for tests; login requires https) and its own error messages.

// maxProviderResponse bounds a discovery document or key set.
const maxProviderResponse = 1 << 20

// trustedRoots is the system pool plus the certificates of caFile; what
// names the file in errors.
func trustedRoots(caFile, what string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s %s: no PEM certificate found", what, caFile)
	}
	return pool, nil
}

// providerClient is an HTTP client for an OpenID provider: TLS 1.2 or later
// with pool, timeout per request, at most five redirects, each to a URL that
// allow accepts.
func providerClient(pool *x509.CertPool, timeout time.Duration, allow func(*url.URL) error) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return allow(req.URL)
	}}
}

// discoveryURL is where an issuer publishes its discovery document.
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// getJSON GETs rawURL, which allow must accept, and decodes its JSON answer
// (at most 1 MiB) into v. Anything but 200 is an error.
func getJSON(ctx context.Context, client *http.Client, rawURL string, allow func(*url.URL) error, v any) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if err := allow(u); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProviderResponse+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if len(b) > maxProviderResponse {
		return fmt.Errorf("GET %s: response larger than 1 MiB", u.Redacted())
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	return nil
}

// getKeySet reads a JSON Web Key Set. Keys that cannot be parsed, are not
// public or are for encryption are skipped, and so are keys without a key id
// when requireKID is set.
func getKeySet(ctx context.Context, client *http.Client, rawURL string, allow func(*url.URL) error, requireKID bool) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, client, rawURL, allow, &raw); err != nil {
		return nil, err
	}
	set := []jose.JSONWebKey{}
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil || !k.IsPublic() || k.Use == "enc" || (requireKID && k.KeyID == "") {
			continue
		}
		set = append(set, k)
	}
	return set, nil
}

// keySet caches the signing keys of one provider. Its mutex serializes
// fetches, so concurrent verifications against one provider cause one
// request; hold it while using keys.
type keySet struct {
	sync.Mutex
	keys    []jose.JSONWebKey // nil until the first successful fetch
	fetched time.Time         // last successful fetch
	tried   time.Time         // last attempt
	err     error             // error of the last attempt
}

// keyRefresh says how long a keySet's keys are used and how long one fetch
// may take.
type keyRefresh struct {
	ttl     time.Duration
	timeout time.Duration
}

// refresh (lock held) fetches the keys when force is set, none are cached or
// they are older than the TTL, but not within gap of the previous attempt
// (zero: no such limit). A failed fetch keeps the previous keys. It returns
// the error of this attempt, nil when none was made. The fetch fills a shared
// cache: a caller that goes away does not cut it short, the timeout does.
func (s *keySet) refresh(ctx context.Context, now time.Time, pol keyRefresh, force bool, gap time.Duration, fetch func(context.Context) ([]jose.JSONWebKey, error)) error {
	due := force || s.keys == nil || now.Sub(s.fetched) >= pol.ttl
	if !due || (gap > 0 && !s.tried.IsZero() && now.Sub(s.tried) < gap) {
		return nil
	}
	s.tried = now
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pol.timeout)
	defer cancel()
	set, err := fetch(fctx)
	s.err = err
	if err != nil {
		return err
	}
	s.keys, s.fetched = set, now
	return nil
}
