package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharfhq/wharf/internal/core"
)

// TokenIssuer is the "iss" of registry tokens.
const TokenIssuer = "wharf"

// TokenLifetime is how long a registry token is valid.
const TokenLifetime = time.Hour

// clockSkew is the leeway for exp/nbf/iat checks.
const clockSkew = 30 * time.Second

// ResourceAccess is one entry of a token's "access" claim.
type ResourceAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// TokenContext tells who the token was issued to.
type TokenContext struct {
	Version    int    `json:"version"`
	EntityKind string `json:"entity_kind"`
	EntityRef  string `json:"entity_reference,omitempty"`
}

// Claims are a registry token's claims.
type Claims struct {
	jwt.Claims
	Access  []ResourceAccess `json:"access"`
	Context TokenContext     `json:"context"`
}

// Allows reports whether the claims grant action on a resource.
func (c *Claims) Allows(typ, name, action string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// Mentions reports whether the claims have any entry for the resource.
func (c *Claims) Mentions(typ, name string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name {
			return true
		}
	}
	return false
}

// KeyStore keeps signing keys.
type KeyStore interface {
	ServiceKeys(ctx context.Context) ([]core.ServiceKey, error)
	AddServiceKey(ctx context.Context, k core.ServiceKey) error
	ExpireServiceKey(ctx context.Context, kid string, at time.Time) error
}

// Keys signs and verifies registry tokens with ES256 keys kept in the
// database (private halves encrypted with the Box). Keys rotate: a key signs
// for RotateAfter, then a new one takes over while the old one stays valid
// for verification until every token it signed has expired.
type Keys struct {
	store       KeyStore
	box         *Box
	now         func() time.Time
	rotateAfter time.Duration

	mu       sync.Mutex
	loadedAt time.Time
	signer   *signingKey
	public   map[string]*ecdsa.PublicKey
}

type signingKey struct {
	kid     string
	key     *ecdsa.PrivateKey
	created time.Time
}

// NewKeys returns the key manager. rotateAfter <= 0 means 30 days.
func NewKeys(store KeyStore, box *Box, now func() time.Time, rotateAfter time.Duration) *Keys {
	if rotateAfter <= 0 {
		rotateAfter = 30 * 24 * time.Hour
	}
	return &Keys{store: store, box: box, now: now, rotateAfter: rotateAfter}
}

// Rotate creates a new signing key now; the previous keys stay valid for
// verification for one token lifetime.
func (k *Keys) Rotate(ctx context.Context) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	sealed, err := k.box.Seal(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	if err != nil {
		return "", err
	}
	kid := RandomString(24, alnumMixed)
	jwk := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
	pub, err := jwk.MarshalJSON()
	if err != nil {
		return "", err
	}
	now := k.now()
	old, err := k.store.ServiceKeys(ctx)
	if err != nil {
		return "", err
	}
	if err := k.store.AddServiceKey(ctx, core.ServiceKey{KID: kid, Alg: string(jose.ES256), PrivateKeyEnc: sealed,
		PublicJWK: string(pub), ExpiresAt: now.Add(10 * 365 * 24 * time.Hour)}); err != nil {
		return "", err
	}
	for _, o := range old {
		if err := k.store.ExpireServiceKey(ctx, o.KID, now.Add(TokenLifetime+clockSkew)); err != nil {
			return "", err
		}
	}
	k.mu.Lock()
	k.loadedAt = time.Time{}
	k.mu.Unlock()
	return kid, nil
}

// load refreshes the key cache from the database when it is older than a
// minute or when force is set; it creates the first key and rotates an old one.
func (k *Keys) load(ctx context.Context, force bool) error {
	k.mu.Lock()
	fresh := !k.loadedAt.IsZero() && k.now().Sub(k.loadedAt) < time.Minute
	k.mu.Unlock()
	if fresh && !force {
		return nil
	}
	keys, err := k.store.ServiceKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if len(keys) == 0 || k.now().Sub(keys[0].CreatedAt) > k.rotateAfter {
		if _, err := k.Rotate(ctx); err != nil {
			return fmt.Errorf("create signing key: %w", err)
		}
		if keys, err = k.store.ServiceKeys(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
	}
	public := make(map[string]*ecdsa.PublicKey, len(keys))
	var signer *signingKey
	for _, sk := range keys {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal([]byte(sk.PublicJWK), &jwk); err != nil {
			return fmt.Errorf("signing key %s: %w", sk.KID, err)
		}
		pk, ok := jwk.Key.(*ecdsa.PublicKey)
		if !ok {
			continue
		}
		public[sk.KID] = pk
		if signer == nil {
			pemText, err := k.box.Open(sk.PrivateKeyEnc)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", sk.KID, err)
			}
			block, _ := pem.Decode([]byte(pemText))
			if block == nil {
				return fmt.Errorf("signing key %s: bad PEM", sk.KID)
			}
			parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", sk.KID, err)
			}
			ec, ok := parsed.(*ecdsa.PrivateKey)
			if !ok {
				return fmt.Errorf("signing key %s: not an EC key", sk.KID)
			}
			signer = &signingKey{kid: sk.KID, key: ec, created: sk.CreatedAt}
		}
	}
	if signer == nil {
		return errors.New("no usable signing key")
	}
	k.mu.Lock()
	k.signer, k.public, k.loadedAt = signer, public, k.now()
	k.mu.Unlock()
	return nil
}

// Issue signs a registry token for subject with the given access, valid for
// TokenLifetime.
func (k *Keys) Issue(ctx context.Context, subject, audience string, access []ResourceAccess, tctx TokenContext) (string, time.Time, error) {
	if err := k.load(ctx, false); err != nil {
		return "", time.Time{}, err
	}
	k.mu.Lock()
	s := k.signer
	k.mu.Unlock()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.kid))
	if err != nil {
		return "", time.Time{}, err
	}
	now := k.now()
	exp := now.Add(TokenLifetime)
	if access == nil {
		access = []ResourceAccess{}
	}
	claims := Claims{
		Claims: jwt.Claims{
			Issuer:    TokenIssuer,
			Subject:   subject,
			Audience:  jwt.Audience{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(exp),
			ID:        RandomString(16, alnumMixed),
		},
		Access:  access,
		Context: tctx,
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, exp, nil
}

// Verify checks a registry token: ES256 only (so "none", HS256 with a public
// key as secret and every other algorithm fail), a known kid, the issuer, the
// audience, and exp/nbf/iat with 30 s leeway; lifetime at most
// TokenLifetime plus leeway.
func (k *Keys) Verify(ctx context.Context, token, audience string) (*Claims, error) {
	bad := func(msg string) error { return core.Errorf(core.CodeUnauthorized, "invalid token: %s", msg) }
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, bad("malformed or unsupported algorithm")
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return nil, bad("no key id")
	}
	kid := parsed.Headers[0].KeyID
	pub, err := k.publicKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, bad("unknown signing key")
	}
	var c Claims
	if err := parsed.Claims(pub, &c); err != nil {
		return nil, bad("bad signature")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: TokenIssuer, AnyAudience: jwt.Audience{audience}, Time: k.now()}, clockSkew); err != nil {
		return nil, bad(err.Error())
	}
	if c.IssuedAt == nil || c.Expiry == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) > TokenLifetime+clockSkew {
		return nil, bad("lifetime too long")
	}
	return &c, nil
}

func (k *Keys) publicKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	if err := k.load(ctx, false); err != nil {
		return nil, err
	}
	k.mu.Lock()
	pub := k.public[kid]
	k.mu.Unlock()
	if pub != nil {
		return pub, nil
	}
	// Another replica may have rotated: reload once.
	if err := k.load(ctx, true); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.public[kid], nil
}

// JWKS returns the public keys that verify current tokens.
func (k *Keys) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	if err := k.load(ctx, false); err != nil {
		return jose.JSONWebKeySet{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	set := jose.JSONWebKeySet{}
	for kid, pk := range k.public {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pk, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
	}
	slices.SortFunc(set.Keys, func(a, b jose.JSONWebKey) int {
		if a.KeyID < b.KeyID {
			return -1
		}
		return 1
	})
	return set, nil
}
