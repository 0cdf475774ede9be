package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/oidctest"
	"github.com/wharfhq/wharf/internal/store"
)

const (
	oidcRedirect = "https://wharf.example/oauth2/corp/callback"
	oidcClient   = "wharf-client"
	oidcSecret   = "client-secret-&-symbols"
)

// oidcClock is a clock the test moves.
type oidcClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *oidcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *oidcClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type oidcEnv struct {
	t     *testing.T
	iss   *oidctest.Issuer
	db    *store.DB
	clock *oidcClock
	login *OIDCLogin
}

func newOIDCEnv(t *testing.T, edit ...func(*OIDCProviderConfig, *OIDCLoginOptions)) *oidcEnv {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, err := NewBox("oidc-login-test-secret-key")
	if err != nil {
		t.Fatal(err)
	}
	iss := oidctest.New(t)
	iss.RegisterClient(oidctest.LoginClient{ID: oidcClient, Secret: oidcSecret, RedirectURIs: []string{oidcRedirect}})
	iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-alice", PreferredUsername: "Alice", Email: "alice@corp.example", EmailVerified: true})
	cfg := OIDCProviderConfig{Name: "corp", DisplayName: "Corp SSO", Issuer: iss.URL(), ClientID: oidcClient, ClientSecret: oidcSecret,
		GroupClaim: "groups", SuperuserGroup: "registry-admins", CAFile: iss.WriteCAFile(t)}
	opts := OIDCLoginOptions{UserCreation: true}
	for _, f := range edit {
		f(&cfg, &opts)
	}
	clock := &oidcClock{}
	l, err := NewOIDCLogin(db, box, []OIDCProviderConfig{cfg}, opts, slog.New(slog.NewTextHandler(io.Discard, nil)), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &oidcEnv{t: t, iss: iss, db: db, clock: clock, login: l}
}

// authorize starts a login and lets the provider approve it; it returns the
// start and the callback's query.
func (e *oidcEnv) authorize(edit func(url.Values)) (OIDCStart, url.Values) {
	e.t.Helper()
	st, err := e.login.Start(context.Background(), "corp", oidcRedirect, "/repository/x")
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	u, err := url.Parse(st.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	if edit != nil {
		q := u.Query()
		edit(q)
		u.RawQuery = q.Encode()
	}
	c := e.iss.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(u.String())
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), oidcRedirect+"?") {
		e.t.Fatalf("provider answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	return st, loc.Query()
}

// run does a whole login.
func (e *oidcEnv) run() (OIDCResult, error) {
	e.t.Helper()
	st, q := e.authorize(nil)
	return e.login.Finish(context.Background(), "corp", q.Get("state"), q.Get("code"), st.Cookie)
}

// refusedWith checks an error's code and that its message mentions want.
func refusedWith(t *testing.T, err error, code core.Code, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("login succeeded, want %v (%q)", code, want)
	}
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Msg, want) {
		t.Fatalf("error %v (%T), want code %v with %q", err, err, code, want)
	}
}

func TestOIDCLoginHappyPath(t *testing.T) {
	e := newOIDCEnv(t)
	st, q := e.authorize(nil)
	u, _ := url.Parse(st.URL)
	aq := u.Query()
	if !strings.HasPrefix(st.URL, e.iss.URL()+oidctest.AuthorizePath+"?") || aq.Get("response_type") != "code" ||
		aq.Get("client_id") != oidcClient || aq.Get("redirect_uri") != oidcRedirect || aq.Get("scope") != "openid email profile" ||
		aq.Get("code_challenge_method") != "S256" || len(aq.Get("code_challenge")) != 43 || aq.Get("nonce") == "" ||
		aq.Get("state") != st.State || len(st.State) < 32 {
		t.Fatalf("authorization URL %s", st.URL)
	}
	if strings.Contains(st.Cookie, st.State) || strings.Contains(st.Cookie, aq.Get("nonce")) {
		t.Fatal("the login cookie shows its contents")
	}
	res, err := e.login.Finish(context.Background(), "corp", q.Get("state"), q.Get("code"), st.Cookie)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if !res.Created || res.ReturnTo != "/repository/x" || res.User.Username != "alice" || res.User.Email != "alice@corp.example" ||
		res.User.Superuser || res.User.PasswordHash != "" {
		t.Fatalf("result %+v", res)
	}
	links, err := e.db.ExternalLogins(context.Background(), res.User.ID)
	if err != nil || len(links) != 1 || links[0].Provider != "corp" || links[0].Subject != "sub-alice" || links[0].Issuer != e.iss.URL() {
		t.Fatalf("links %+v, %v", links, err)
	}
	if got := e.login.Providers(); len(got) != 1 || got[0].Name != "corp" || got[0].DisplayName != "Corp SSO" {
		t.Fatalf("Providers = %+v", got)
	}

	// The same identity logs in to the same account, even with a new
	// username and email at the provider.
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-alice", PreferredUsername: "alice.renamed", Email: "new@corp.example", EmailVerified: true})
	again, err := e.run()
	if err != nil || again.Created || again.User.ID != res.User.ID || again.User.Username != "alice" {
		t.Fatalf("second login %+v, %v", again, err)
	}
	// Discovery and keys are cached.
	if e.iss.DiscoveryRequests() != 1 || e.iss.JWKSRequests() != 1 {
		t.Fatalf("discovery fetched %d times, keys %d times", e.iss.DiscoveryRequests(), e.iss.JWKSRequests())
	}
}

func TestOIDCLoginCallbackChecks(t *testing.T) {
	e := newOIDCEnv(t)
	ctx := context.Background()
	st, q := e.authorize(nil)
	state, code := q.Get("state"), q.Get("code")

	refusedWith(t, errOf(e.login.Finish(ctx, "corp", state[:len(state)-1]+"x", code, st.Cookie)), core.CodeInvalid, "login session")
	refusedWith(t, errOf(e.login.Finish(ctx, "corp", "", code, st.Cookie)), core.CodeInvalid, "login session")
	refusedWith(t, errOf(e.login.Finish(ctx, "corp", state, code, "")), core.CodeInvalid, "login session")
	refusedWith(t, errOf(e.login.Finish(ctx, "corp", state, code, st.Cookie[:len(st.Cookie)-4]+"AAAA")), core.CodeInvalid, "login session")
	refusedWith(t, errOf(e.login.Finish(ctx, "nope", state, code, st.Cookie)), core.CodeNotFound, "no login provider")
	refusedWith(t, errOf(e.login.Finish(ctx, "corp", state, "", st.Cookie)), core.CodeInvalid, "no authorization code")
	// A cookie sealed for something else is not a login cookie.
	other, _ := e.login.box.Seal(`{"p":"corp","s":"` + state + `","e":9999999999}`)
	refusedWith(t, errOf(e.login.Finish(ctx, "corp", state, code, other)), core.CodeInvalid, "login session")
	if n := e.iss.TokenRequests(); n != 0 {
		t.Fatalf("bad callbacks reached the token endpoint %d times", n)
	}

	// The code is good once: a replayed callback is refused by the provider.
	if _, err := e.login.Finish(ctx, "corp", state, code, st.Cookie); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	refusedWith(t, errOf(e.login.Finish(ctx, "corp", state, code, st.Cookie)), core.CodeUnauthorized, "refused the authorization code (invalid_grant)")

	// A login left for longer than the login timeout is refused.
	st, q = e.authorize(nil)
	e.clock.Advance(11 * time.Minute)
	refusedWith(t, errOf(e.login.Finish(ctx, "corp", q.Get("state"), q.Get("code"), st.Cookie)), core.CodeInvalid, "login session")
}

func errOf[T any](_ T, err error) error { return err }

func TestOIDCLoginIDTokenChecks(t *testing.T) {
	e := newOIDCEnv(t)
	for _, tc := range []struct {
		name  string
		hooks oidctest.LoginHooks
		want  string
	}{
		{"wrong nonce", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["nonce"] = "another-login" }}, "nonce"},
		{"no nonce", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["nonce"] = nil }}, "nonce"},
		{"expired", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) {
			c["iat"], c["exp"] = time.Now().Add(-time.Hour), time.Now().Add(-2*time.Minute)
		}}, "expired"},
		{"no exp", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["exp"] = nil }}, "iat or exp"},
		{"wrong audience", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["aud"], c["azp"] = "other-client", "other-client" }}, "audience"},
		{"other azp", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["aud"], c["azp"] = []string{oidcClient, "x"}, "x" }}, "azp"},
		{"other issuer", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["iss"] = "https://evil.example" }}, "another issuer"},
		{"no subject", oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["sub"] = "" }}, "subject"},
		{"tampered signature", oidctest.LoginHooks{Token: func(tok string) string {
			i := strings.LastIndexByte(tok, '.') + 10
			b := []byte(tok)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}}, "signature"},
		{"tampered claims", oidctest.LoginHooks{Token: func(tok string) string {
			parts := strings.Split(tok, ".")
			other := strings.Split(e.iss.Token(t, oidctest.Claims{"sub": "sub-alice", "aud": oidcClient}), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}}, "signature"},
		{"unknown key", oidctest.LoginHooks{Token: func(string) string {
			return e.iss.TokenWith(t, oidctest.GenerateKey(t, "RS256"), oidctest.Claims{"sub": "sub-alice", "aud": oidcClient})
		}}, "does not publish"},
		{"alg none", oidctest.LoginHooks{Token: func(string) string {
			return e.iss.UnsignedToken(t, oidctest.Claims{"sub": "sub-alice", "aud": oidcClient})
		}}, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.iss.SetLoginHooks(tc.hooks)
			refusedWith(t, errOf(e.run()), core.CodeUnauthorized, tc.want)
		})
	}
	e.iss.SetLoginHooks(oidctest.LoginHooks{})
	if _, err := e.run(); err != nil {
		t.Fatalf("login after the refusals: %v", err)
	}
	if n, _ := e.db.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
}

func TestOIDCLoginPKCEMismatch(t *testing.T) {
	e := newOIDCEnv(t)
	// The authorization request reaching the provider carries another
	// challenge (as if an attacker had started it): the provider refuses
	// Wharf's verifier.
	st, q := e.authorize(func(q url.Values) { q.Set("code_challenge", oidctest.PKCEChallenge(strings.Repeat("a", 50))) })
	_, err := e.login.Finish(context.Background(), "corp", q.Get("state"), q.Get("code"), st.Cookie)
	refusedWith(t, err, core.CodeUnauthorized, "invalid_grant")
}

func TestOIDCLoginProviderErrors(t *testing.T) {
	e := newOIDCEnv(t)
	// The client secret is wrong.
	e.iss.RegisterClient(oidctest.LoginClient{ID: oidcClient, Secret: "rotated", RedirectURIs: []string{oidcRedirect}})
	refusedWith(t, errOf(e.run()), core.CodeUnauthorized, "invalid_client")

	// The provider is down: discovery fails before the browser is sent there.
	down := newOIDCEnv(t, func(c *OIDCProviderConfig, _ *OIDCLoginOptions) { c.Issuer = "https://127.0.0.1:1" })
	_, err := down.login.Start(context.Background(), "corp", oidcRedirect, "")
	refusedWith(t, err, core.CodeUnavailable, "configuration")
	_, err = down.login.Start(context.Background(), "nope", oidcRedirect, "")
	refusedWith(t, err, core.CodeNotFound, "no login provider")

	// Without the provider's CA, TLS fails.
	noCA := newOIDCEnv(t, func(c *OIDCProviderConfig, _ *OIDCLoginOptions) { c.CAFile = "" })
	_, err = noCA.login.Start(context.Background(), "corp", oidcRedirect, "")
	refusedWith(t, err, core.CodeUnavailable, "configuration")
}

func TestOIDCLoginAccounts(t *testing.T) {
	e := newOIDCEnv(t)
	ctx := context.Background()
	// "alice" is taken by a local account: the new person becomes alice0,
	// then alice1.
	if _, err := e.db.CreateUser(ctx, store.NewUser{Username: "alice", Email: "local@example.com"}); err != nil {
		t.Fatal(err)
	}
	first, err := e.run()
	if err != nil || first.User.Username != "alice0" {
		t.Fatalf("first login %+v, %v", first.User, err)
	}
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-alice-2", PreferredUsername: "alice"})
	second, err := e.run()
	if err != nil || second.User.Username != "alice1" || second.User.Email != "" {
		t.Fatalf("second login %+v, %v", second.User, err)
	}
	// The first identity still finds its account.
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-alice", PreferredUsername: "alice"})
	if again, err := e.run(); err != nil || again.User.ID != first.User.ID {
		t.Fatalf("relogin %+v, %v", again.User, err)
	}

	// Unverified emails are not stored; an email in use refuses creation.
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-bob", Email: "bob@corp.example", EmailVerified: false})
	bob, err := e.run()
	if err != nil || bob.User.Username != "bob" || bob.User.Email != "" {
		t.Fatalf("unverified email login %+v, %v", bob.User, err)
	}
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-carol", PreferredUsername: "carol", Email: "local@example.com", EmailVerified: true})
	refusedWith(t, errOf(e.run()), core.CodeConflict, "already in use")

	// A disabled account cannot log in.
	disabled := false
	if _, err := e.db.UpdateUser(ctx, "bob", store.UserUpdate{Enabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-bob"})
	refusedWith(t, errOf(e.run()), core.CodeDenied, "disabled")

	// Without user creation, unknown identities are refused.
	closed := newOIDCEnv(t, func(_ *OIDCProviderConfig, o *OIDCLoginOptions) { o.UserCreation = false })
	refusedWith(t, errOf(closed.run()), core.CodeDenied, "user creation is disabled")
}

func TestOIDCLoginSuperuserGroup(t *testing.T) {
	e := newOIDCEnv(t)
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-root", PreferredUsername: "root", Groups: []string{"dev", "registry-admins"}})
	res, err := e.run()
	if err != nil || !res.User.Superuser {
		t.Fatalf("member of the superuser group: %+v, %v", res.User, err)
	}
	// Without the group claim, nothing changes.
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-root"})
	if res, err = e.run(); err != nil || !res.User.Superuser {
		t.Fatalf("no group claim: %+v, %v", res.User, err)
	}
	// Leaving the group revokes the flag.
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-root", Groups: []string{"dev"}})
	if res, err = e.run(); err != nil || res.User.Superuser {
		t.Fatalf("left the group: %+v, %v", res.User, err)
	}
	u, _ := e.db.User(context.Background(), "root")
	if u.Superuser {
		t.Fatal("the flag is still stored")
	}
	// A group claim given as one string counts too.
	e.iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-root", Claims: oidctest.Claims{"groups": "registry-admins"}})
	if res, err = e.run(); err != nil || !res.User.Superuser {
		t.Fatalf("string group claim: %+v, %v", res.User, err)
	}
}

func TestOIDCLoginConfig(t *testing.T) {
	box, _ := NewBox("oidc-login-test-secret-key")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ok := OIDCProviderConfig{Name: "corp", Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s"}
	for name, edit := range map[string]func(*OIDCProviderConfig){
		"bad name":    func(c *OIDCProviderConfig) { c.Name = "Corp SSO" },
		"http issuer": func(c *OIDCProviderConfig) { c.Issuer = "http://idp.example" },
		"no secret":   func(c *OIDCProviderConfig) { c.ClientSecret = "" },
		"no CA file":  func(c *OIDCProviderConfig) { c.CAFile = "/nonexistent/ca.pem" },
	} {
		c := ok
		edit(&c)
		if _, err := NewOIDCLogin(nil, box, []OIDCProviderConfig{c}, OIDCLoginOptions{}, log, time.Now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewOIDCLogin(nil, box, []OIDCProviderConfig{ok, ok}, OIDCLoginOptions{}, log, time.Now); err == nil {
		t.Error("a provider configured twice is accepted")
	}
}

func TestUsernameCandidates(t *testing.T) {
	for in, want := range map[string]string{
		"Alice":             "alice",
		"john.doe":          "john.doe",
		"John Doe":          "john_doe",
		"--x__y..z--":       "x_y.z",
		"ünïcode":           "n_code",
		"a":                 "a0",
		"":                  "user",
		"!!!":               "user",
		"dev-ops_team.lead": "dev-ops_team.lead",
	} {
		got := UsernameCandidates(in)
		if got[0] != want {
			t.Errorf("UsernameCandidates(%q)[0] = %q, want %q", in, got[0], want)
		}
		for _, c := range got {
			if err := oci.ValidateNamespace(c); err != nil {
				t.Errorf("candidate %q of %q: %v", c, in, err)
			}
		}
	}
	got := UsernameCandidates("bob")
	if got[1] != "bob0" || got[10] != "bob9" || got[11] != "boba" || len(got) != 1+36+4 {
		t.Errorf("candidates %v", got)
	}
	if long := UsernameCandidates(strings.Repeat("x", 400)); len(long[len(long)-1]) > 255 {
		t.Errorf("candidate of %d characters", len(long[len(long)-1]))
	}
}
