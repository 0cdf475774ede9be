package auth

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oidctest"
	"github.com/wharfhq/wharf/internal/store"
)

// fedClock is a clock the test moves forward.
type fedClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

const (
	fedSubject  = "repo:acme/app:ref:refs/heads/main"
	fedAudience = "reg.example.com"
)

// fedEnv is a SQLite store with the organization acme, its robots ci
// (trusting iss for fedSubject), plain (no federation) and a person owner,
// and a TLS issuer whose CA the exchange trusts.
type fedEnv struct {
	t      *testing.T
	clock  *fedClock
	db     *store.DB
	box    *Box
	keys   *Keys
	iss    *oidctest.Issuer
	caFile string
	ci     core.User
	fed    *Federation

	mu     sync.Mutex
	events []FederationEvent
}

func newFedEnv(t *testing.T) *fedEnv {
	t.Helper()
	ctx := context.Background()
	e := &fedEnv{t: t, clock: &fedClock{}}
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wharf.db"), store.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	if e.box, err = NewBox("federation-test-secret"); err != nil {
		t.Fatal(err)
	}
	e.keys = NewKeys(db, e.box, e.clock.Now, 0)
	e.iss = oidctest.New(t, oidctest.WithClock(e.clock.Now))
	e.caFile = e.iss.WriteCAFile(t)
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "owner@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrganization(ctx, "acme", "acme@example.com", owner.ID); err != nil {
		t.Fatal(err)
	}
	e.ci = e.robot("ci", store.FederationEntry{Issuer: e.iss.URL(), Subject: fedSubject})
	e.robot("plain")
	e.fed = e.federation(FederationOptions{})
	return e
}

// robot creates acme+short with a static token and federation entries.
func (e *fedEnv) robot(short string, entries ...store.FederationEntry) core.User {
	e.t.Helper()
	ctx := context.Background()
	sealed, err := e.box.Seal("static-token-of-" + short)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.db.CreateRobot(ctx, "acme", short, sealed, "", "")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.SetRobotFederation(ctx, u.ID, entries); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// federation builds an exchange trusting the issuer's CA (unless opts names
// another CA file), recording events.
func (e *fedEnv) federation(opts FederationOptions) *Federation {
	e.t.Helper()
	if opts.CAFile == "" {
		opts.CAFile = e.caFile
	}
	opts.OnExchange = func(_ context.Context, ev FederationEvent) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.events = append(e.events, ev)
	}
	f, err := NewFederation(e.db, e.keys, opts, slog.New(slog.NewTextHandler(io.Discard, nil)), e.clock.Now)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// recorded returns the exchanges reported to OnExchange.
func (e *fedEnv) recorded() []FederationEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]FederationEvent(nil), e.events...)
}

func (e *fedEnv) authn(hostname string) *Authenticator {
	return NewAuthenticator(e.db, e.box, Policy{}, e.clock.Now, WithFederatedTokens(e.keys, hostname))
}

// exchange runs the exchange with the default federation.
func (e *fedEnv) exchange(robot, external string) (string, error) {
	tok, _, err := e.fed.Exchange(context.Background(), robot, external, fedAudience)
	return tok, err
}

// refused asserts a 401-class refusal whose client message contains want.
func refused(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("exchange succeeded, want a refusal containing %q", want)
	}
	var ce *core.Error
	if !core.IsCode(err, core.CodeUnauthorized) || !asCoreError(err, &ce) {
		t.Fatalf("refusal is not unauthorized: %v", err)
	}
	if !strings.Contains(ce.Msg, want) {
		t.Fatalf("refusal message %q, want it to contain %q (full: %v)", ce.Msg, want, err)
	}
}

func asCoreError(err error, target **core.Error) bool {
	for err != nil {
		if ce, ok := err.(*core.Error); ok {
			*target = ce
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestFederationExchangeAndLogin(t *testing.T) {
	e := newFedEnv(t)
	ctx := context.Background()
	ext := e.iss.Token(t, oidctest.Claims{"sub": fedSubject, "aud": "sts.example.com"})
	tok, exp, err := e.fed.Exchange(ctx, "acme+ci", ext, fedAudience)
	if err != nil {
		t.Fatal(err)
	}
	if d := exp.Sub(e.clock.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("exchanged token lifetime %v, want an hour", d)
	}
	if ev := e.recorded(); len(ev) != 1 || ev[0] != (FederationEvent{Robot: "acme+ci", Namespace: "acme", Issuer: e.iss.URL(), Subject: fedSubject}) {
		t.Fatalf("events: %+v", e.recorded())
	}
	// The token is ours: ES256, sub robot, aud the host, a federated claim.
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c federatedClaims
	if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != TokenIssuer || c.Subject != "acme+ci" || !c.Audience.Contains(fedAudience) || c.Federated == nil ||
		c.Federated.Issuer != e.iss.URL() || c.Federated.Subject != fedSubject || len(c.Access) != 0 {
		t.Fatalf("exchanged claims: %+v", c)
	}

	// It is the robot's password, with or without SERVER_HOSTNAME.
	for _, host := range []string{"", fedAudience} {
		id, err := e.authn(host).Basic(ctx, "acme+ci", tok)
		if err != nil {
			t.Fatalf("login with hostname %q: %v", host, err)
		}
		if id.User.Username != "acme+ci" || id.Method != MethodFederated || id.Kind() != "robot" {
			t.Fatalf("identity: %+v", id)
		}
	}
	authn := e.authn("")
	// ...but not for another host, another robot, or once expired.
	if _, err := e.authn("other.example.com").Basic(ctx, "acme+ci", tok); err == nil {
		t.Fatal("a token for another audience logged in")
	}
	if _, err := authn.Basic(ctx, "acme+plain", tok); err == nil {
		t.Fatal("the token logged in as another robot")
	}
	if _, err := NewAuthenticator(e.db, e.box, Policy{}, e.clock.Now).Basic(ctx, "acme+ci", tok); err == nil {
		t.Fatal("an authenticator without federation accepted the token")
	}
	// The static token still works; a registry token is not a password.
	if _, err := authn.Basic(ctx, "acme+ci", "static-token-of-ci"); err != nil {
		t.Fatalf("static token: %v", err)
	}
	reg, _, err := e.keys.Issue(ctx, "acme+ci", fedAudience, nil, TokenContext{Version: 2, EntityKind: "robot", EntityRef: "acme+ci"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.Basic(ctx, "acme+ci", reg); err == nil {
		t.Fatal("a registry token was accepted as a robot password")
	}
	// A tampered token fails.
	if _, err := authn.Basic(ctx, "acme+ci", tok[:len(tok)-4]+"AAAA"); err == nil {
		t.Fatal("a tampered token logged in")
	}
	e.clock.Advance(time.Hour + time.Minute)
	if _, err := authn.Basic(ctx, "acme+ci", tok); !core.IsCode(err, core.CodeUnauthorized) {
		t.Fatalf("expired exchanged token: %v", err)
	}
}

func TestFederationAlgorithmsAndRotation(t *testing.T) {
	e := newFedEnv(t)
	claims := oidctest.Claims{"sub": fedSubject}
	if _, err := e.exchange("acme+ci", e.iss.Token(t, claims)); err != nil {
		t.Fatal(err)
	}
	if n := e.iss.JWKSRequests(); n != 1 {
		t.Fatalf("key set fetched %d times, want 1", n)
	}
	// Cached: more exchanges do not fetch again.
	for range 3 {
		if _, err := e.exchange("acme+ci", e.iss.Token(t, claims)); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.iss.JWKSRequests(); n != 1 {
		t.Fatalf("key set fetched %d times, want 1 (cached)", n)
	}
	// The issuer rotates: a token with the new kid makes the exchange
	// refetch once, without a restart, for each algorithm.
	for i, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.ES256, jose.EdDSA, jose.RS256} {
		old := e.iss.SigningKey()
		e.iss.Rotate(t, alg)
		e.clock.Advance(6 * time.Second) // past the refetch interval
		if _, err := e.exchange("acme+ci", e.iss.Token(t, claims)); err != nil {
			t.Fatalf("%s after rotation: %v", alg, err)
		}
		if n := e.iss.JWKSRequests(); n != 2+i {
			t.Fatalf("%s: key set fetched %d times, want %d", alg, n, 2+i)
		}
		// Tokens of the previous key still verify while it is published.
		if _, err := e.exchange("acme+ci", e.iss.TokenWith(t, old, claims)); err != nil {
			t.Fatalf("previous key: %v", err)
		}
	}
	// Unknown kids within the refetch interval of the last fetch do not
	// fetch again: a flood of made-up kids cannot flood the issuer.
	before := e.iss.JWKSRequests()
	for range 3 {
		_, err := e.exchange("acme+ci", e.iss.TokenWith(t, oidctest.GenerateKey(t, jose.ES256), claims))
		refused(t, err, "does not publish")
	}
	if n := e.iss.JWKSRequests() - before; n != 0 {
		t.Fatalf("unknown kids caused %d fetches within the refetch interval", n)
	}
	// Retired keys stop verifying once the cache is refreshed.
	retired := e.iss.SigningKey()
	e.iss.Rotate(t, jose.RS256)
	e.iss.Retire(retired.ID)
	e.clock.Advance(time.Hour + time.Second) // past the cache TTL
	_, err := e.exchange("acme+ci", e.iss.TokenWith(t, retired, claims))
	refused(t, err, "does not publish")
	if _, err := e.exchange("acme+ci", e.iss.Token(t, claims)); err != nil {
		t.Fatalf("current key after TTL refresh: %v", err)
	}
}

func TestFederationConcurrentExchangesFetchOnce(t *testing.T) {
	e := newFedEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := e.fed.Exchange(context.Background(), "acme+ci", e.iss.Token(t, oidctest.Claims{"sub": fedSubject}), fedAudience)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.iss.JWKSRequests(); n != 1 {
		t.Fatalf("16 concurrent exchanges fetched the key set %d times", n)
	}
}

func TestFederationRefusals(t *testing.T) {
	e := newFedEnv(t)
	now := e.clock.Now()
	other := oidctest.New(t, oidctest.WithClock(e.clock.Now))
	noKID := *e.iss.SigningKey()
	noKID.ID = ""
	ok := func(c oidctest.Claims) oidctest.Claims {
		out := oidctest.Claims{"sub": fedSubject}
		for k, v := range c {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name  string
		robot string
		token string
		want  string
	}{
		{"expired", "acme+ci", e.iss.Token(t, ok(oidctest.Claims{"iat": now.Add(-10 * time.Minute), "exp": now.Add(-time.Minute)})), "expired"},
		{"not yet valid", "acme+ci", e.iss.Token(t, ok(oidctest.Claims{"nbf": now.Add(2 * time.Minute)})), "not valid yet"},
		{"issued in the future", "acme+ci", e.iss.Token(t, ok(oidctest.Claims{"iat": now.Add(2 * time.Minute)})), "future"},
		{"missing iat", "acme+ci", e.iss.Token(t, ok(oidctest.Claims{"iat": nil})), "no iat"},
		{"missing exp", "acme+ci", e.iss.Token(t, ok(oidctest.Claims{"exp": nil})), "no exp"},
		{"wrong subject", "acme+ci", e.iss.Token(t, oidctest.Claims{"sub": "repo:acme/app:ref:refs/heads/evil"}), "subject"},
		{"no subject", "acme+ci", e.iss.Token(t, oidctest.Claims{}), "subject"},
		{"unknown robot", "acme+ghost", e.iss.Token(t, ok(nil)), "does not exist or has no federation"},
		{"robot without federation", "acme+plain", e.iss.Token(t, ok(nil)), "does not exist or has no federation"},
		{"person", "owner", e.iss.Token(t, ok(nil)), "only supported for robot"},
		{"untrusted issuer", "acme+ci", other.Token(t, ok(nil)), "is not trusted"},
		{"no issuer", "acme+ci", e.iss.Token(t, ok(oidctest.Claims{"iss": nil})), "no issuer"},
		{"trusted issuer, foreign key", "acme+ci", e.iss.TokenWith(t, oidctest.GenerateKey(t, jose.RS256), ok(nil)), "does not publish"},
		{"trusted iss claim, other issuer's key", "acme+ci", other.Token(t, ok(oidctest.Claims{"iss": e.iss.URL()})), "does not publish"},
		{"no kid", "acme+ci", e.iss.TokenWith(t, &noKID, ok(nil)), "no key id"},
		{"alg none", "acme+ci", e.iss.UnsignedToken(t, ok(nil)), "unsupported signature algorithm"},
		{"HS256 with the public key as secret", "acme+ci", e.iss.HMACToken(t, jose.HS256, e.iss.SigningKey().PublicPEM(), ok(nil)), "unsupported signature algorithm"},
		{"garbage", "acme+ci", "not.a.jwt", "malformed"},
		{"empty", "acme+ci", "", "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.exchange(c.robot, c.token)
			refused(t, err, c.want)
		})
	}
	if n := other.DiscoveryRequests(); n != 0 {
		t.Fatalf("the exchange contacted an untrusted issuer %d times", n)
	}
	if ev := e.recorded(); len(ev) != 0 {
		t.Fatalf("refusals were reported as exchanges: %+v", ev)
	}
	// Within the leeway, the time checks pass.
	lenient := ok(oidctest.Claims{"iat": now.Add(20 * time.Second), "nbf": now.Add(20 * time.Second), "exp": now.Add(-20 * time.Second)})
	if _, err := e.exchange("acme+ci", e.iss.Token(t, lenient)); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
}

func TestFederationAudience(t *testing.T) {
	e := newFedEnv(t)
	e.robot("aud",
		store.FederationEntry{Issuer: e.iss.URL(), Subject: fedSubject, Audience: "wharf"},
		store.FederationEntry{Issuer: e.iss.URL(), Subject: "other-subject"})
	_, err := e.exchange("acme+aud", e.iss.Token(t, oidctest.Claims{"sub": fedSubject, "aud": "sts.example.com"}))
	refused(t, err, "audience")
	_, err = e.exchange("acme+aud", e.iss.Token(t, oidctest.Claims{"sub": fedSubject}))
	refused(t, err, "audience")
	if _, err := e.exchange("acme+aud", e.iss.Token(t, oidctest.Claims{"sub": fedSubject, "aud": []string{"x", "wharf"}})); err != nil {
		t.Fatalf("matching audience: %v", err)
	}
	// An entry without an audience does not check it.
	if _, err := e.exchange("acme+aud", e.iss.Token(t, oidctest.Claims{"sub": "other-subject", "aud": "anything"})); err != nil {
		t.Fatalf("entry without audience: %v", err)
	}
}

func TestFederationIssuerTransport(t *testing.T) {
	e := newFedEnv(t)
	plain := oidctest.New(t, oidctest.WithHTTP(), oidctest.WithClock(e.clock.Now))
	e.robot("plainhttp", store.FederationEntry{Issuer: plain.URL(), Subject: fedSubject})
	tok := plain.Token(t, oidctest.Claims{"sub": fedSubject})
	_, err := e.exchange("acme+plainhttp", tok)
	refused(t, err, "https")
	if plain.DiscoveryRequests() != 0 {
		t.Fatal("an http issuer was contacted although http is not allowed")
	}
	if _, _, err := e.federation(FederationOptions{AllowHTTPIssuers: true}).Exchange(context.Background(), "acme+plainhttp", tok, fedAudience); err != nil {
		t.Fatalf("http issuer with AllowHTTPIssuers: %v", err)
	}

	// Without the issuer's CA, its certificate is not trusted.
	other := oidctest.New(t, oidctest.WithClock(e.clock.Now))
	untrusted := e.federation(FederationOptions{CAFile: other.WriteCAFile(t)})
	_, _, err = untrusted.Exchange(context.Background(), "acme+ci", e.iss.Token(t, oidctest.Claims{"sub": fedSubject}), fedAudience)
	refused(t, err, "cannot fetch the signing keys")

	// A discovery document for another issuer is refused.
	liar := oidctest.New(t, oidctest.WithClock(e.clock.Now))
	liar.SetDiscovery("issuer", "https://accounts.example.com")
	e.robot("liar", store.FederationEntry{Issuer: liar.URL(), Subject: fedSubject})
	liarFed := e.federation(FederationOptions{CAFile: liar.WriteCAFile(t)})
	_, _, err = liarFed.Exchange(context.Background(), "acme+liar", liar.Token(t, oidctest.Claims{"sub": fedSubject}), fedAudience)
	refused(t, err, "cannot fetch the signing keys")

	// A bad CA file is a configuration error.
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if _, err := NewFederation(e.db, e.keys, FederationOptions{CAFile: bad}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for s, want := range map[string]bool{
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln":                        true,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789ab": false,
		"a.b":     false,
		"a..c":    false,
		"a.b.c.d": false,
		"a.b+.c":  false,
	} {
		if got := looksLikeJWT(s); got != want {
			t.Errorf("looksLikeJWT(%q) = %v", s, got)
		}
	}
}
