// Package oidctest runs a real OpenID Connect issuer for tests: an HTTPS
// server (its own throw-away CA) that serves /.well-known/openid-configuration
// and a JWKS, and mints ID tokens signed with RS256, RS384, ES256 or EdDSA
// keys. Keys can be rotated and retired while the server runs, and broken
// tokens (alg "none", HMAC with a public key as the secret, foreign keys) can
// be minted to test verifiers. RegisterClient adds a working authorization
// code flow (authorization and token endpoints with PKCE, login.go); other
// endpoints can be mounted with Handle.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Paths the issuer serves.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/keys"
)

// Key is a signing key of the issuer (or a foreign one made by GenerateKey).
type Key struct {
	ID   string
	Alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// Public returns the public half.
func (k *Key) Public() crypto.PublicKey { return k.priv.Public() }

// PublicPEM returns the public key as a PKIX "PUBLIC KEY" PEM block, the
// bytes an algorithm-confusion attack uses as an HMAC secret.
func (k *Key) PublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		panic(err) // every key type made here is marshalable
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWK returns the public JSON Web Key as the issuer publishes it.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}
}

// GenerateKey makes a key for alg: RS256 or RS384 (RSA 2048), ES256 (P-256)
// or EdDSA (Ed25519).
func GenerateKey(t testing.TB, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.RS384:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("oidctest: unsupported key algorithm %q", alg)
	}
	if err != nil {
		t.Fatalf("oidctest: generate %s key: %v", alg, err)
	}
	return &Key{ID: randomID(t), Alg: alg, priv: priv}
}

// Option configures New.
type Option func(*options)

type options struct {
	plainHTTP bool
	alg       jose.SignatureAlgorithm
	now       func() time.Time
}

// WithHTTP serves plain HTTP instead of HTTPS.
func WithHTTP() Option { return func(o *options) { o.plainHTTP = true } }

// WithAlg sets the algorithm of the first signing key (default RS256).
func WithAlg(alg jose.SignatureAlgorithm) Option { return func(o *options) { o.alg = alg } }

// WithClock sets the clock for default iat/exp claims (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Issuer is a running OIDC issuer. Its methods are safe for concurrent use.
type Issuer struct {
	srv   *httptest.Server
	mux   *http.ServeMux
	now   func() time.Time
	caPEM []byte
	pool  *x509.CertPool

	mu             sync.Mutex
	keys           []*Key // published, newest first
	signer         *Key
	extra          map[string]any
	discoveryCount int
	jwksCount      int

	login login // the code flow endpoints (login.go), once RegisterClient mounts them
}

// New starts an issuer; it stops when the test ends. Its issuer identifier
// is its base URL (https://127.0.0.1:PORT).
func New(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	o := options{alg: jose.RS256, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	i := &Issuer{mux: http.NewServeMux(), now: o.now, extra: map[string]any{}}
	i.mux.HandleFunc("GET "+DiscoveryPath, i.serveDiscovery)
	i.mux.HandleFunc("GET "+JWKSPath, i.serveJWKS)
	i.srv = httptest.NewUnstartedServer(i.mux)
	if o.plainHTTP {
		i.srv.Start()
	} else {
		cert, caPEM, pool := newServerCert(t)
		i.caPEM, i.pool = caPEM, pool
		i.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		i.srv.StartTLS()
	}
	t.Cleanup(i.srv.Close)
	k := GenerateKey(t, o.alg)
	i.keys, i.signer = []*Key{k}, k
	return i
}

// URL is the issuer identifier (the "iss" of its tokens).
func (i *Issuer) URL() string { return i.srv.URL }

// CertPool trusts the issuer's CA; nil for a plain HTTP issuer.
func (i *Issuer) CertPool() *x509.CertPool { return i.pool }

// CAPEM is the issuer's CA certificate in PEM; nil for a plain HTTP issuer.
func (i *Issuer) CAPEM() []byte { return slices.Clone(i.caPEM) }

// WriteCAFile writes CAPEM to a file in a temporary directory of the test
// and returns its path (for servers configured with a CA bundle file).
func (i *Issuer) WriteCAFile(t testing.TB) string {
	t.Helper()
	if i.caPEM == nil {
		t.Fatal("oidctest: a plain HTTP issuer has no CA")
	}
	p := filepath.Join(t.TempDir(), "oidctest-ca.pem")
	if err := os.WriteFile(p, i.caPEM, 0o600); err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return p
}

// Client is an HTTP client that trusts the issuer.
func (i *Issuer) Client() *http.Client {
	if i.pool == nil {
		return &http.Client{Timeout: 10 * time.Second}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: i.pool, MinVersion: tls.VersionTLS12},
	}}
}

// Handle mounts an extra endpoint, such as an authorization or token
// endpoint for a login flow (pattern as for http.ServeMux).
func (i *Issuer) Handle(pattern string, h http.Handler) { i.mux.Handle(pattern, h) }

// SetDiscovery adds or replaces a field of the discovery document (for
// example "authorization_endpoint"); a nil value removes it. "issuer" and
// "jwks_uri" may be overridden too, to test verifiers against lying
// documents.
func (i *Issuer) SetDiscovery(field string, value any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.extra[field] = value
}

// SigningKey is the key tokens are currently signed with.
func (i *Issuer) SigningKey() *Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.signer
}

// Keys returns the published keys, newest first.
func (i *Issuer) Keys() []*Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.keys)
}

// Rotate publishes a new key for alg and signs with it from now on; the
// previous keys stay published until retired.
func (i *Issuer) Rotate(t testing.TB, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	k := GenerateKey(t, alg)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append([]*Key{k}, i.keys...)
	i.signer = k
	return k
}

// Retire stops publishing a key. Retiring the signing key leaves the issuer
// signing with a key nobody can verify.
func (i *Issuer) Retire(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = slices.DeleteFunc(i.keys, func(k *Key) bool { return k.ID == kid })
}

// DiscoveryRequests counts the requests for the discovery document.
func (i *Issuer) DiscoveryRequests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.discoveryCount
}

// JWKSRequests counts the requests for the key set.
func (i *Issuer) JWKSRequests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksCount
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.discoveryCount++
	algs := []string{}
	for _, k := range i.keys {
		if !slices.Contains(algs, string(k.Alg)) {
			algs = append(algs, string(k.Alg))
		}
	}
	doc := map[string]any{
		"issuer":                                i.srv.URL,
		"jwks_uri":                              i.srv.URL + JWKSPath,
		"response_types_supported":              []string{"code", "id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": algs,
	}
	for k, v := range i.extra {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	i.mu.Unlock()
	writeJSON(w, doc)
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.jwksCount++
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range i.keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	i.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// newServerCert makes a CA and a certificate for 127.0.0.1, ::1 and
// localhost signed by it.
func newServerCert(t testing.TB) (tls.Certificate, []byte, *x509.CertPool) {
	t.Helper()
	fail := func(err error) { t.Fatalf("oidctest: server certificate: %v", err) }
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "oidctest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		fail(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		fail(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cert := tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return n
}

func randomID(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
