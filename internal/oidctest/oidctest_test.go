package oidctest_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharfhq/wharf/internal/oidctest"
)

func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// verify checks a token against the issuer's published key set, as a relying
// party would.
func verify(t *testing.T, iss *oidctest.Issuer, tok string) (jwt.Claims, error) {
	t.Helper()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, iss.Client(), iss.URL()+oidctest.DiscoveryPath, &doc)
	if doc.Issuer != iss.URL() || !strings.HasPrefix(doc.JWKSURI, iss.URL()) {
		t.Fatalf("discovery document: %+v", doc)
	}
	var set jose.JSONWebKeySet
	getJSON(t, iss.Client(), doc.JWKSURI, &set)
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.ES256, jose.EdDSA})
	if err != nil {
		return jwt.Claims{}, err
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		return jwt.Claims{}, jose.ErrJWKSKidNotFound
	}
	var c jwt.Claims
	err = parsed.Claims(keys[0].Key, &c)
	return c, err
}

func TestIssuerAlgorithms(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.ES256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			iss := oidctest.New(t, oidctest.WithAlg(alg))
			if !strings.HasPrefix(iss.URL(), "https://127.0.0.1:") {
				t.Fatalf("issuer URL %s", iss.URL())
			}
			tok := iss.Token(t, oidctest.Claims{"sub": "repo:acme/app", "aud": "wharf"})
			c, err := verify(t, iss, tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != iss.URL() || c.Subject != "repo:acme/app" || !c.Audience.Contains("wharf") ||
				c.IssuedAt == nil || c.Expiry == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) != oidctest.DefaultLifetime {
				t.Fatalf("claims: %+v", c)
			}
		})
	}
}

func TestIssuerTLS(t *testing.T) {
	iss := oidctest.New(t)
	// Without the CA the server is not trusted.
	if _, err := http.Get(iss.URL() + oidctest.DiscoveryPath); err == nil {
		t.Fatal("the issuer is trusted without its CA")
	}
	// The PEM and the pool both trust it.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(iss.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var doc map[string]any
	getJSON(t, c, iss.URL()+oidctest.DiscoveryPath, &doc)
	if iss.CertPool() == nil || iss.WriteCAFile(t) == "" {
		t.Fatal("no CA pool or file")
	}
	plain := oidctest.New(t, oidctest.WithHTTP())
	if !strings.HasPrefix(plain.URL(), "http://") || plain.CertPool() != nil {
		t.Fatalf("plain issuer: %s", plain.URL())
	}
	if _, err := verify(t, plain, plain.Token(t, oidctest.Claims{"sub": "x"})); err != nil {
		t.Fatal(err)
	}
}

func TestIssuerRotation(t *testing.T) {
	iss := oidctest.New(t)
	old := iss.SigningKey()
	oldTok := iss.Token(t, oidctest.Claims{"sub": "x"})
	k := iss.Rotate(t, jose.ES256)
	if iss.SigningKey() != k || len(iss.Keys()) != 2 {
		t.Fatal("rotation did not publish and use the new key")
	}
	newTok := iss.Token(t, oidctest.Claims{"sub": "x"})
	for _, tok := range []string{oldTok, newTok} {
		if _, err := verify(t, iss, tok); err != nil {
			t.Fatalf("before retiring: %v", err)
		}
	}
	iss.Retire(old.ID)
	if _, err := verify(t, iss, oldTok); err == nil {
		t.Fatal("a token of a retired key verifies")
	}
	if _, err := verify(t, iss, newTok); err != nil {
		t.Fatal(err)
	}
	if iss.DiscoveryRequests() == 0 || iss.JWKSRequests() == 0 {
		t.Fatal("requests not counted")
	}
	foreign := oidctest.GenerateKey(t, jose.RS256)
	if _, err := verify(t, iss, iss.TokenWith(t, foreign, oidctest.Claims{"sub": "x"})); err == nil {
		t.Fatal("a token of a foreign key verifies")
	}
}

func TestIssuerClaimsAndBrokenTokens(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	iss := oidctest.New(t, oidctest.WithClock(func() time.Time { return now }))
	tok := iss.Token(t, oidctest.Claims{"sub": "x", "iat": nil, "nbf": now.Add(time.Minute)})
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["iat"]; ok || m["nbf"] != float64(now.Add(time.Minute).Unix()) || m["exp"] != float64(now.Add(oidctest.DefaultLifetime).Unix()) {
		t.Fatalf("claims: %v", m)
	}
	none := iss.UnsignedToken(t, oidctest.Claims{"sub": "x"})
	if !strings.HasSuffix(none, ".") || strings.Count(none, ".") != 2 {
		t.Fatalf("unsigned token %q", none)
	}
	if _, err := jwt.ParseSigned(none, []jose.SignatureAlgorithm{jose.RS256}); err == nil {
		t.Fatal("alg none parses")
	}
	hs := iss.HMACToken(t, jose.HS256, iss.SigningKey().PublicPEM(), oidctest.Claims{"sub": "x"})
	p, err := jwt.ParseSigned(hs, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil || p.Headers[0].KeyID != iss.SigningKey().ID {
		t.Fatalf("HMAC token: %v", err)
	}
	iss.SetDiscovery("authorization_endpoint", iss.URL()+"/authorize")
	iss.Handle("GET /authorize", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	var doc map[string]any
	getJSON(t, iss.Client(), iss.URL()+oidctest.DiscoveryPath, &doc)
	if doc["authorization_endpoint"] != iss.URL()+"/authorize" {
		t.Fatalf("discovery extra field: %v", doc)
	}
	resp, err := iss.Client().Get(iss.URL() + "/authorize")
	if err != nil || resp.StatusCode != http.StatusTeapot {
		t.Fatalf("mounted handler: %v", err)
	}
	resp.Body.Close()
}
