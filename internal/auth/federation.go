package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Keyless robot federation (Quay 3.13). A robot trusts external OIDC
// identities, each an (issuer, subject[, audience]) entry. A workload that
// holds an ID token from such an issuer (a CI job, a Kubernetes service
// account) exchanges it at /oauth2/federation/robot/token for a Wharf token
// of the robot, valid for TokenLifetime, and uses that token as the robot's
// password (docker login, /v2/auth). No static secret leaves Wharf.
//
// The exchanged token is an ES256 JWT signed with the registry keys (Keys):
// iss "wharf", sub the robot name, aud the server hostname, no registry
// access, and a "federated" claim naming the external issuer and subject.
// The claim is what makes it a password: registry tokens from /v2/auth, also
// signed with Keys, are never accepted as robot passwords.

// federationAlgs are the signature algorithms accepted from external
// issuers. "none" and the HMAC algorithms are refused: an issuer's public key
// must never be usable as a shared secret.
var federationAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.ES256, jose.EdDSA}

// FederatedIdentity is the "federated" claim of an exchanged token: the
// external identity the robot token was issued for.
type FederatedIdentity struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

// federatedClaims are the claims of an exchanged robot token.
type federatedClaims struct {
	jwt.Claims
	Access    []ResourceAccess   `json:"access"`
	Context   TokenContext       `json:"context"`
	Federated *FederatedIdentity `json:"federated,omitempty"`
}

// FederationStore is what the token exchange needs from the metadata store.
type FederationStore interface {
	User(ctx context.Context, name string) (core.User, error)
	RobotFederation(ctx context.Context, robotID int64) ([]store.FederationEntry, error)
}

// FederationEvent describes a successful exchange, for the audit log.
type FederationEvent struct {
	Robot     string // namespace+short
	Namespace string
	Issuer    string
	Subject   string
}

// FederationOptions tune the exchange.
type FederationOptions struct {
	// CAFile is a PEM bundle of CA certificates trusted for issuers in
	// addition to the system pool (FEDERATION_CA_FILE).
	CAFile string
	// AllowHTTPIssuers lets issuers (and their key URLs) use plain http
	// (FEDERATION_ALLOW_HTTP_ISSUERS; for tests only).
	AllowHTTPIssuers bool
	// Timeout bounds each request to an issuer (default 5 s).
	Timeout time.Duration
	// KeyCacheTTL is how long an issuer's keys are used before they are
	// fetched again (default 1 h).
	KeyCacheTTL time.Duration
	// RefetchInterval is the least time between two fetches of an issuer's
	// keys (default 5 s): a token with an unknown kid triggers one refetch,
	// so a rotated key is picked up without a restart, but a flood of
	// made-up kids cannot flood the issuer.
	RefetchInterval time.Duration
	// OnExchange, when set, is called after every successful exchange. It
	// is the hook for the audit log (Quay's kind
	// federated_robot_token_exchange).
	OnExchange func(ctx context.Context, e FederationEvent)
}

// Federation verifies external OIDC tokens against robots' federation
// entries and exchanges them for robot tokens.
type Federation struct {
	store  FederationStore
	keys   *Keys
	log    *slog.Logger
	now    func() time.Time
	opts   FederationOptions
	client *http.Client

	mu      sync.Mutex
	issuers map[string]*keySet
}

// NewFederation returns the exchange. It fails when the CA file cannot be
// read or holds no certificate.
func NewFederation(st FederationStore, keys *Keys, opts FederationOptions, log *slog.Logger, now func() time.Time) (*Federation, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.KeyCacheTTL <= 0 {
		opts.KeyCacheTTL = time.Hour
	}
	if opts.RefetchInterval <= 0 {
		opts.RefetchInterval = 5 * time.Second
	}
	pool, err := trustedRoots(opts.CAFile, "federation CA file")
	if err != nil {
		return nil, err
	}
	f := &Federation{store: st, keys: keys, log: log, now: now, opts: opts, issuers: map[string]*keySet{}}
	f.client = providerClient(pool, opts.Timeout, f.checkURL)
	return f, nil
}

// checkURL refuses URLs that are not https (unless http is allowed).
func (f *Federation) checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && u.Host != "" && f.opts.AllowHTTPIssuers:
		return nil
	case u.Scheme == "http" && u.Host != "":
		return fmt.Errorf("%s does not use https", u.Redacted())
	}
	return fmt.Errorf("%q is not an http(s) URL", u.Redacted())
}

// refuse is an exchange failure: msg is shown to the client, cause (if
// any) only logged.
func refuse(cause error, format string, args ...any) error {
	return core.Wrap(core.CodeUnauthorized, cause, fmt.Sprintf(format, args...))
}

// Exchange verifies an external ID token presented for robotName and
// returns a token of the robot for audience, with its expiry. Every refusal
// is core.CodeUnauthorized with a message for the client (and, wrapped, the
// detail for the log).
func (f *Federation) Exchange(ctx context.Context, robotName, external, audience string) (string, time.Time, error) {
	if !strings.Contains(robotName, "+") {
		return "", time.Time{}, refuse(nil, "federated authentication is only supported for robot accounts")
	}
	parsed, err := jwt.ParseSigned(external, federationAlgs)
	if err != nil {
		return "", time.Time{}, refuse(err, "malformed token or unsupported signature algorithm (want RS256, RS384, ES256 or EdDSA)")
	}
	var unverified jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return "", time.Time{}, refuse(err, "malformed token claims")
	}
	iss := unverified.Issuer
	if iss == "" {
		return "", time.Time{}, refuse(nil, "token has no issuer")
	}
	robot, entries, err := f.robotEntries(ctx, robotName)
	if err != nil {
		return "", time.Time{}, err
	}
	entries = slices.DeleteFunc(entries, func(e store.FederationEntry) bool { return e.Issuer != iss })
	if len(entries) == 0 {
		return "", time.Time{}, refuse(nil, "issuer %s is not trusted by robot %s", iss, robotName)
	}
	claims, err := f.verifyExternal(ctx, parsed, iss)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := matchEntry(entries, claims); err != nil {
		return "", time.Time{}, err
	}
	tok, exp, err := f.keys.issueFederated(ctx, robot.Username, audience, FederatedIdentity{Issuer: iss, Subject: claims.Subject})
	if err != nil {
		return "", time.Time{}, refuse(err, "cannot issue a robot token")
	}
	ev := FederationEvent{Robot: robot.Username, Namespace: robot.RobotNamespace, Issuer: iss, Subject: claims.Subject}
	f.log.InfoContext(ctx, "federated_robot_token_exchange", "robot", ev.Robot, "issuer", ev.Issuer, "subject", ev.Subject)
	if f.opts.OnExchange != nil {
		f.opts.OnExchange(ctx, ev)
	}
	return tok, exp, nil
}

// robotEntries loads an enabled robot and its federation entries. Unknown
// robots and robots without entries get the same answer.
func (f *Federation) robotEntries(ctx context.Context, name string) (core.User, []store.FederationEntry, error) {
	const msg = "robot %s does not exist or has no federation configured"
	u, err := f.store.User(ctx, name)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return u, nil, refuse(errors.New("no such robot"), msg, name)
		}
		return u, nil, refuse(err, "cannot load robot %s", name)
	}
	if !u.IsRobot() || !u.Enabled {
		return u, nil, refuse(errors.New("not an enabled robot"), msg, name)
	}
	entries, err := f.store.RobotFederation(ctx, u.ID)
	if err != nil {
		return u, nil, refuse(err, "cannot load the federation of robot %s", name)
	}
	if len(entries) == 0 {
		return u, nil, refuse(errors.New("no federation entries"), msg, name)
	}
	return u, entries, nil
}

// verifyExternal checks the signature with the issuer's published key and
// the time claims (iat and exp required, 30 s leeway).
func (f *Federation) verifyExternal(ctx context.Context, parsed *jwt.JSONWebToken, iss string) (*jwt.Claims, error) {
	issURL, err := url.Parse(iss)
	if err != nil {
		return nil, refuse(err, "issuer %s is not a URL", iss)
	}
	if err := f.checkURL(issURL); err != nil {
		return nil, refuse(err, "issuer %s is not allowed: it must be an https URL", iss)
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return nil, refuse(nil, "token has no key id (kid)")
	}
	hdr := parsed.Headers[0]
	key, err := f.issuerKey(ctx, iss, hdr.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != "" && key.Algorithm != hdr.Algorithm {
		return nil, refuse(nil, "token algorithm %s does not match its key (%s)", hdr.Algorithm, key.Algorithm)
	}
	var c jwt.Claims
	if err := parsed.Claims(key.Key, &c); err != nil {
		return nil, refuse(err, "invalid token signature")
	}
	if c.IssuedAt == nil {
		return nil, refuse(nil, "token has no iat claim")
	}
	if c.Expiry == nil {
		return nil, refuse(nil, "token has no exp claim")
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: iss, Time: f.now()}, clockSkew)
	switch {
	case err == nil:
		return &c, nil
	case errors.Is(err, jwt.ErrExpired):
		return nil, refuse(err, "token has expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, refuse(err, "token is not valid yet")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, refuse(err, "token is issued in the future")
	}
	return nil, refuse(err, "invalid token claims")
}

// matchEntry finds an entry (all with the token's issuer) for the token's
// subject whose audience, if it names one, the token names too.
func matchEntry(entries []store.FederationEntry, c *jwt.Claims) error {
	subjectSeen := false
	for _, e := range entries {
		if e.Subject != c.Subject {
			continue
		}
		subjectSeen = true
		if e.Audience == "" || c.Audience.Contains(e.Audience) {
			return nil
		}
	}
	if !subjectSeen {
		return refuse(nil, "token subject %q is not trusted by this robot", c.Subject)
	}
	return refuse(nil, "token audience %q does not name the configured audience", []string(c.Audience))
}

// issuerKey returns the issuer's key kid, fetching the key set when it is
// not cached or stale, and once more (rate-limited) when kid is unknown.
func (f *Federation) issuerKey(ctx context.Context, iss, kid string) (*jose.JSONWebKey, error) {
	f.mu.Lock()
	e := f.issuers[iss]
	if e == nil {
		e = &keySet{}
		f.issuers[iss] = e
	}
	f.mu.Unlock()

	e.Lock()
	defer e.Unlock()
	f.fetchIfDue(ctx, iss, e, false)
	if e.keys == nil {
		return nil, refuse(e.err, "cannot fetch the signing keys of issuer %s", iss)
	}
	if k := findKey(e.keys, kid); k != nil {
		return k, nil
	}
	f.fetchIfDue(ctx, iss, e, true)
	if k := findKey(e.keys, kid); k != nil {
		return k, nil
	}
	return nil, refuse(e.err, "token signed with key %q, which issuer %s does not publish", kid, iss)
}

func findKey(set []jose.JSONWebKey, kid string) *jose.JSONWebKey {
	for i := range set {
		if set[i].KeyID == kid {
			return &set[i]
		}
	}
	return nil
}

// fetchIfDue fetches the issuer's keys when they are missing, older than the
// cache TTL, or force is set; never twice within RefetchInterval. A failed
// fetch keeps the previous keys.
func (f *Federation) fetchIfDue(ctx context.Context, iss string, e *keySet, force bool) {
	pol := keyRefresh{ttl: f.opts.KeyCacheTTL, timeout: f.opts.Timeout}
	err := e.refresh(ctx, f.now(), pol, force, f.opts.RefetchInterval, func(ctx context.Context) ([]jose.JSONWebKey, error) {
		return f.fetchKeys(ctx, iss)
	})
	if err != nil {
		f.log.WarnContext(ctx, "federation: cannot fetch issuer keys", "issuer", iss, "err", err)
	}
}

// fetchKeys reads the issuer's discovery document and then its key set.
// Keys that cannot be parsed, have no key id or are for encryption are
// skipped.
func (f *Federation) fetchKeys(ctx context.Context, iss string) ([]jose.JSONWebKey, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, f.client, discoveryURL(iss), f.checkURL, &doc); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != iss {
		return nil, fmt.Errorf("discovery document names issuer %q", doc.Issuer)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || doc.JWKSURI == "" {
		return nil, fmt.Errorf("discovery document has no valid jwks_uri")
	}
	if err := f.checkURL(ju); err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	set, err := getKeySet(ctx, f.client, ju.String(), f.checkURL, true)
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	return set, nil
}

// issueFederated signs an exchanged robot token.
func (k *Keys) issueFederated(ctx context.Context, robot, audience string, fed FederatedIdentity) (string, time.Time, error) {
	if err := k.load(ctx, false); err != nil {
		return "", time.Time{}, err
	}
	k.mu.Lock()
	s := k.signer
	k.mu.Unlock()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.kid))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("federated token signer: %w", err)
	}
	now := k.now()
	exp := now.Add(TokenLifetime)
	claims := federatedClaims{
		Claims: jwt.Claims{
			Issuer:    TokenIssuer,
			Subject:   robot,
			Audience:  jwt.Audience{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(exp),
			ID:        RandomString(16, alnumMixed),
		},
		Access:    []ResourceAccess{},
		Context:   TokenContext{Version: 2, EntityKind: "robot", EntityRef: robot},
		Federated: &fed,
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign federated token: %w", err)
	}
	return tok, exp, nil
}

// verifyFederated checks an exchanged robot token: ES256 with a known kid,
// our issuer, exp/nbf/iat with leeway, a lifetime of at most TokenLifetime,
// and the federated claim. Audience and subject are the caller's to check.
func (k *Keys) verifyFederated(ctx context.Context, token string) (*federatedClaims, error) {
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return nil, errBadCredentials()
	}
	pub, err := k.publicKey(ctx, parsed.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, errBadCredentials()
	}
	var c federatedClaims
	if err := parsed.Claims(pub, &c); err != nil {
		return nil, errBadCredentials()
	}
	if c.ValidateWithLeeway(jwt.Expected{Issuer: TokenIssuer, Time: k.now()}, clockSkew) != nil ||
		c.IssuedAt == nil || c.Expiry == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) > TokenLifetime+clockSkew ||
		c.Federated == nil || c.Federated.Issuer == "" {
		return nil, errBadCredentials()
	}
	return &c, nil
}

// looksLikeJWT reports whether a password has the shape of a compact JWS
// (three base64url parts). Static robot tokens never do: they have no dots.
func looksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return false
	}
	for _, p := range parts {
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// WithFederatedTokens lets robots log in with tokens from the federation
// exchange, verified with keys. hostname is SERVER_HOSTNAME: when set, the
// token's audience must name it; when empty, the Authenticator cannot know
// the request's host, so any audience is accepted (see federatedRobot).
func WithFederatedTokens(keys *Keys, hostname string) Option {
	return func(a *Authenticator) { a.fedKeys, a.fedHost = keys, hostname }
}

// federatedRobot verifies an exchanged token presented as robot u's
// password. The token must name u as its subject, and its audience must be
// SERVER_HOSTNAME when that is configured. Without it any audience is
// accepted: the token is still bound to this instance (our keys), to this
// robot (sub) and to the exchange (the federated claim, which registry
// tokens lack).
func (a *Authenticator) federatedRobot(ctx context.Context, u core.User, token string) (Identity, error) {
	c, err := a.fedKeys.verifyFederated(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	if c.Subject != u.Username {
		return Identity{}, errBadCredentials()
	}
	if a.fedHost != "" && !c.Audience.Contains(a.fedHost) {
		return Identity{}, errBadCredentials()
	}
	return a.identityFor(u, MethodFederated, nil), nil
}
