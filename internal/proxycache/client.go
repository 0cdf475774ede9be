package proxycache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// manifestAccept is what the cache asks the upstream for: every manifest
// kind the registry stores.
var manifestAccept = strings.Join([]string{
	oci.MediaTypeOCIIndex, oci.MediaTypeOCIManifest,
	oci.MediaTypeDockerManifestList, oci.MediaTypeDockerManifest,
}, ", ")

// remote is an upstream registry as seen by one proxy configuration.
type remote struct {
	up       Upstream
	insecure bool
	auth     authn.Authenticator
	base     http.RoundTripper

	mu   sync.Mutex
	repo map[string]repoClient // upstream repository → authenticated client

	schemeMu sync.Mutex
	scheme   string // of an insecure upstream, once probed

	downMu    sync.Mutex
	downUntil time.Time // revalidations are skipped until then
}

// downFor is how long an upstream that failed a revalidation is not asked
// again: meanwhile cached tags are served at once.
const downFor = 30 * time.Second

// revalidateTimeout bounds the check of a cached tag, so a pull does not
// wait long for an upstream that does not answer.
const revalidateTimeout = 10 * time.Second

func (r *remote) markDown(now time.Time) {
	r.downMu.Lock()
	r.downUntil = now.Add(downFor)
	r.downMu.Unlock()
}

func (r *remote) isDown(now time.Time) bool {
	r.downMu.Lock()
	defer r.downMu.Unlock()
	return now.Before(r.downUntil)
}

type repoClient struct {
	c   *http.Client
	exp time.Time
}

// clientTTL bounds how long an authenticated transport (and the token it
// holds) is reused; the bearer transport renews expired tokens itself.
const clientTTL = 10 * time.Minute

func newRemote(up Upstream, insecure bool, username, password string, base http.RoundTripper) *remote {
	var a authn.Authenticator = authn.Anonymous
	if username != "" || password != "" {
		a = authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	}
	if base == nil {
		base = http.DefaultTransport
	}
	if insecure {
		if t, ok := base.(*http.Transport); ok {
			t = t.Clone()
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the organization asked for it (insecure)
			base = t
		}
	}
	return &remote{up: up, insecure: insecure, auth: a, base: base, repo: make(map[string]repoClient)}
}

func (r *remote) registry() (name.Registry, error) {
	var opts []name.Option
	if r.insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(r.up.RegistryHost(), opts...)
	if err != nil {
		return name.Registry{}, core.Wrap(core.CodeInvalid, err, "upstream registry")
	}
	return reg, nil
}

// client returns an HTTP client authenticated for pulls of an upstream
// repository (basic auth or the bearer token flow, as the registry asks).
func (r *remote) client(ctx context.Context, upRepo string) (*http.Client, name.Registry, error) {
	reg, err := r.registry()
	if err != nil {
		return nil, reg, err
	}
	now := time.Now()
	r.mu.Lock()
	if rc, ok := r.repo[upRepo]; ok && now.Before(rc.exp) {
		r.mu.Unlock()
		return rc.c, reg, nil
	}
	r.mu.Unlock()
	scope := "repository:" + upRepo + ":pull"
	tr, err := transport.NewWithContext(ctx, reg, r.auth, r.base, []string{scope})
	if err != nil {
		return nil, reg, upstreamError(err)
	}
	c := &http.Client{Transport: tr}
	r.mu.Lock()
	if len(r.repo) > 1000 {
		r.repo = make(map[string]repoClient)
	}
	r.repo[upRepo] = repoClient{c: c, exp: now.Add(clientTTL)}
	r.mu.Unlock()
	return c, reg, nil
}

func (r *remote) url(reg name.Registry, upRepo, kind, ref string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", r.schemeOf(reg), reg.RegistryStr(), upRepo, kind, ref)
}

// schemeOf is https, or http for loopback and private addresses (as
// go-containerregistry decides); an insecure upstream is https (without
// certificate verification) when it answers TLS, else http.
func (r *remote) schemeOf(reg name.Registry) string {
	if !r.insecure {
		return reg.Scheme()
	}
	r.schemeMu.Lock()
	defer r.schemeMu.Unlock()
	if r.scheme == "" {
		r.scheme = "http"
		c := &http.Client{Transport: r.base, Timeout: 10 * time.Second}
		if resp, err := c.Get("https://" + reg.RegistryStr() + "/v2/"); err == nil {
			resp.Body.Close()
			r.scheme = "https"
		}
	}
	return r.scheme
}

// ping checks that the upstream answers and accepts the credentials
// (validateproxycache).
func (r *remote) ping(ctx context.Context, upRepo string) error {
	c, reg, err := r.client(ctx, upRepo)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.schemeOf(reg)+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return upstreamError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return statusError(resp.StatusCode, "/v2/")
	}
	return nil
}

// headManifest returns the digest the upstream has for a tag.
func (r *remote) headManifest(ctx context.Context, upRepo, tag string) (digest.Digest, error) {
	c, reg, err := r.client(ctx, upRepo)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, r.url(reg, upRepo, "manifests", tag), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.Do(req)
	if err != nil {
		return "", upstreamError(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", statusError(resp.StatusCode, upRepo+":"+tag)
	}
	d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		return "", nil // no usable digest: the caller fetches the manifest
	}
	return d, nil
}

// fetched is a manifest read from the upstream, its digest verified.
type fetched struct {
	digest    digest.Digest
	mediaType string
	content   []byte
}

// getManifest fetches a manifest by tag or digest and verifies its digest
// (against the reference, or the upstream's Docker-Content-Digest).
func (r *remote) getManifest(ctx context.Context, upRepo string, ref oci.Reference, accept string) (fetched, error) {
	c, reg, err := r.client(ctx, upRepo)
	if err != nil {
		return fetched{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url(reg, upRepo, "manifests", ref.String()), nil)
	if err != nil {
		return fetched{}, err
	}
	req.Header.Set("Accept", accept)
	resp, err := c.Do(req)
	if err != nil {
		return fetched{}, upstreamError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fetched{}, statusError(resp.StatusCode, upRepo+":"+ref.String())
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return fetched{}, core.Wrap(core.CodeUnavailable, err, "reading the upstream manifest")
	}
	if len(body) > oci.MaxManifestSize {
		return fetched{}, core.Errorf(core.CodeTooLarge, "upstream manifest larger than %d bytes", oci.MaxManifestSize)
	}
	want := ref.Digest
	if want == "" {
		if d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil {
			want = d
		}
	}
	alg := digest.Canonical
	if want != "" && want.Algorithm().Available() {
		alg = want.Algorithm()
	}
	got := alg.FromBytes(body)
	if want != "" && got != want {
		return fetched{}, core.Errorf(core.CodeDigestInvalid, "upstream manifest digest %s does not match %s", got, want)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	return fetched{digest: got, mediaType: mt, content: body}, nil
}

// getBlob starts a blob download.
func (r *remote) getBlob(ctx context.Context, upRepo string, d digest.Digest) (*http.Response, error) {
	c, reg, err := r.client(ctx, upRepo)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url(reg, upRepo, "blobs", string(d)), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, upstreamError(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, statusError(resp.StatusCode, upRepo+"@"+string(d))
	}
	return resp, nil
}

// statusError maps an upstream status: 404 is "not found" (as the client's
// request would be), 401/403 a refusal of the configured credentials, the
// rest an unavailable upstream.
func statusError(status int, what string) error {
	switch status {
	case http.StatusNotFound:
		return core.Errorf(core.CodeManifestUnknown, "%s not found upstream", what)
	case http.StatusUnauthorized, http.StatusForbidden:
		return &core.Error{Code: core.CodeUnavailable, Msg: "the upstream registry refused the proxy cache's credentials",
			Err: errUpstreamAuth}
	case http.StatusTooManyRequests:
		return core.Errorf(core.CodeTooManyRequests, "the upstream registry is rate limiting pulls")
	}
	return core.Errorf(core.CodeUnavailable, "the upstream registry answered %d", status)
}

var errUpstreamAuth = errors.New("upstream authentication failed")

// upstreamError wraps a transport failure as an unavailable upstream.
func upstreamError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		if te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden {
			return &core.Error{Code: core.CodeUnavailable, Msg: "the upstream registry refused the proxy cache's credentials", Err: errUpstreamAuth}
		}
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return core.Wrap(core.CodeUnavailable, err, "the upstream registry is unreachable")
}
