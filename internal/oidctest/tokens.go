package oidctest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Claims are a token's claims. Token fills in "iss" (the issuer URL), "iat"
// (now) and "exp" (now + 5 minutes) unless they are given; a claim given as
// nil is left out, so Claims{"iat": nil} mints a token without "iat". Times
// may be given as time.Time.
type Claims map[string]any

// DefaultLifetime is the lifetime of tokens that do not set "exp".
const DefaultLifetime = 5 * time.Minute

// claims applies the defaults and converts times to NumericDate seconds.
func (i *Issuer) claims(c Claims) map[string]any {
	now := i.now()
	out := map[string]any{
		"iss": i.URL(),
		"iat": now.Unix(),
		"exp": now.Add(DefaultLifetime).Unix(),
	}
	maps.Copy(out, c)
	for k, v := range out {
		switch v := v.(type) {
		case nil:
			delete(out, k)
		case time.Time:
			out[k] = v.Unix()
		}
	}
	return out
}

// Token mints a token signed by the current signing key, with its kid.
func (i *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	return i.TokenWith(t, i.SigningKey(), c)
}

// TokenWith mints a token signed by k (published or not), with k's kid.
func (i *Issuer) TokenWith(t testing.TB, k *Key, c Claims) string {
	t.Helper()
	return i.sign(t, jose.SigningKey{Algorithm: k.Alg, Key: k.priv}, k.ID, c)
}

// HMACToken mints a token MACed with secret (alg HS256, HS384 or HS512)
// under the current signing key's kid: with the key's PublicPEM as the
// secret, this is the classic algorithm-confusion attack.
func (i *Issuer) HMACToken(t testing.TB, alg jose.SignatureAlgorithm, secret []byte, c Claims) string {
	t.Helper()
	return i.sign(t, jose.SigningKey{Algorithm: alg, Key: secret}, i.SigningKey().ID, c)
}

// UnsignedToken mints an alg "none" token (empty signature) under the
// current signing key's kid.
func (i *Issuer) UnsignedToken(t testing.TB, c Claims) string {
	t.Helper()
	hdr, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": i.SigningKey().ID})
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	payload, err := json.Marshal(i.claims(c))
	if err != nil {
		t.Fatalf("oidctest: claims: %v", err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(hdr) + "." + enc(payload) + "."
}

func (i *Issuer) sign(t testing.TB, key jose.SigningKey, kid string, c Claims) string {
	t.Helper()
	tok, err := i.signClaims(key, kid, c)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return tok
}

// signClaims signs claims (with the defaults applied) as a compact JWS.
func (i *Issuer) signClaims(key jose.SigningKey, kid string, c Claims) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	payload, err := json.Marshal(i.claims(c))
	if err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("serialize: %w", err)
	}
	return tok, nil
}
