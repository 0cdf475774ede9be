package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/oidctest"
	"github.com/wharfhq/wharf/internal/store"
)

// oidcEnv is the API and the OIDC browser endpoints on a real database,
// with a real OIDC provider (oidctest) that knows the server as a client.
type oidcEnv struct {
	t     *testing.T
	db    *store.DB
	iss   *oidctest.Issuer
	srv   *httptest.Server
	authn *auth.Authenticator
}

func newOIDCEnv(t *testing.T, directLogin bool) *oidcEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, err := auth.NewBox("test-secret-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	iss := oidctest.New(t)
	login, err := auth.NewOIDCLogin(db, box, []auth.OIDCProviderConfig{{Name: "corp", DisplayName: "Corp SSO", Issuer: iss.URL(),
		ClientID: "wharf", ClientSecret: "s3cret", CAFile: iss.WriteCAFile(t)}}, auth.OIDCLoginOptions{UserCreation: true}, log, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(db, box, auth.Policy{DirectLogin: directLogin, AppTokens: true}, time.Now)
	h := New(db, authn, auth.NewAuthorizer(db, auth.AccessPolicy{}), box, log,
		Options{DirectLogin: directLogin, AppTokens: true, UserCreation: true, OIDC: login})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", h)
	mux.Handle("GET /oauth2/{provider}/authorize", h.OAuth2Handler())
	mux.Handle("GET /oauth2/{provider}/callback", h.OAuth2Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "page "+r.URL.RequestURI()) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.RegisterClient(oidctest.LoginClient{ID: "wharf", Secret: "s3cret", RedirectURIs: []string{srv.URL + "/oauth2/corp/callback"}})
	iss.SetLoginUser(oidctest.LoginUser{Subject: "sub-alice", PreferredUsername: "alice", Email: "alice@corp.example", EmailVerified: true})
	return &oidcEnv{t: t, db: db, iss: iss, srv: srv, authn: authn}
}

// browser is an HTTP client with a cookie jar that trusts the provider; it
// follows redirects unless follow is false.
func (e *oidcEnv) browser(follow bool) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.iss.Client()
	c.Jar = jar
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// get sends a GET and returns the response with its body read.
func get(t *testing.T, c *http.Client, rawURL string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusInternalServerError {
		t.Fatalf("GET %s: %s: %s", rawURL, resp.Status, b)
	}
	return resp, string(b)
}

// toCallback starts a login without following redirects and lets the
// provider approve it; it returns the browser and the callback URL.
func (e *oidcEnv) toCallback(redirect string) (*http.Client, string) {
	e.t.Helper()
	c := e.browser(false)
	resp, _ := get(e.t, c, e.srv.URL+"/oauth2/corp/authorize?redirect="+url.QueryEscape(redirect))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), e.iss.URL()+oidctest.AuthorizePath) {
		e.t.Fatalf("authorize: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, _ = get(e.t, c, resp.Header.Get("Location"))
	cb := resp.Header.Get("Location")
	if !strings.HasPrefix(cb, e.srv.URL+"/oauth2/corp/callback?") {
		e.t.Fatalf("provider redirected to %q", cb)
	}
	return c, cb
}

// apiCall sends an API request with the browser's cookies.
func apiCall(t *testing.T, c *http.Client, method, rawURL, csrf string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %v", method, rawURL, resp.StatusCode, m)
	}
	return resp.StatusCode, m
}

func TestOIDCLoginFlow(t *testing.T) {
	e := newOIDCEnv(t, true)
	b := e.browser(true)
	status, body := apiCall(t, b, "GET", e.srv.URL+"/api/v1/oidc/providers", "", nil)
	provs, _ := body["providers"].([]any)
	if status != 200 || len(provs) != 1 {
		t.Fatalf("providers: %d %v", status, body)
	}
	p := provs[0].(map[string]any)
	if p["name"] != "corp" || p["display_name"] != "Corp SSO" || p["login_url"] != e.srv.URL+"/oauth2/corp/authorize" {
		t.Fatalf("provider %v", p)
	}

	// The whole flow, following redirects, lands on the page asked for.
	resp, page := get(t, b, p["login_url"].(string)+"?redirect="+url.QueryEscape("/repository/acme/app?tab=tags"))
	if resp.StatusCode != 200 || page != "page /repository/acme/app?tab=tags" {
		t.Fatalf("after login: %s %q", resp.Status, page)
	}
	status, user := apiCall(t, b, "GET", e.srv.URL+"/api/v1/user/", "", nil)
	if status != 200 || user["username"] != "alice" || user["email"] != "alice@corp.example" || user["super_user"] != false {
		t.Fatalf("GET /user/: %d %v", status, user)
	}
	// The login cookie is gone; the session cookie stays.
	u, _ := url.Parse(e.srv.URL + "/oauth2/corp/callback")
	for _, c := range b.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, oidcCookiePrefix) {
			t.Fatalf("login cookie %s left after the callback", c.Name)
		}
	}

	// Logging in again reuses the account.
	if resp, _ := get(t, e.browser(true), e.srv.URL+"/oauth2/corp/authorize"); resp.Request.URL.Path != "/" {
		t.Fatalf("second login ended at %s", resp.Request.URL)
	}
	if n, _ := e.db.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d users after two logins", n)
	}

	// Quay's way to get the provider's URL from the API.
	c := e.browser(false)
	status, body = apiCall(t, c, "POST", e.srv.URL+"/api/v1/externallogin/corp", "", map[string]string{"kind": "login"})
	authURL, _ := body["auth_url"].(string)
	if status != 200 || !strings.HasPrefix(authURL, e.iss.URL()+oidctest.AuthorizePath+"?") {
		t.Fatalf("externallogin: %d %v", status, body)
	}
	resp, _ = get(t, c, authURL)
	resp, _ = get(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("callback after externallogin: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	// Signed in now, c would need the CSRF header; an anonymous page does not.
	c = e.browser(false)
	for kind, want := range map[string]int{"cli": 400, "attach": 400, "": 400} {
		if status, _ := apiCall(t, c, "POST", e.srv.URL+"/api/v1/externallogin/corp", "", map[string]string{"kind": kind}); status != want {
			t.Errorf("externallogin kind %q: %d, want %d", kind, status, want)
		}
	}
	if status, _ := apiCall(t, c, "POST", e.srv.URL+"/api/v1/externallogin/nope", "", map[string]string{"kind": "login"}); status != 404 {
		t.Errorf("externallogin of an unknown provider: %d", status)
	}
}

func TestOIDCCallbackRefusals(t *testing.T) {
	e := newOIDCEnv(t, true)
	noSession := func(t *testing.T, c *http.Client) {
		t.Helper()
		if status, _ := apiCall(t, c, "GET", e.srv.URL+"/api/v1/user/", "", nil); status != 401 {
			t.Fatalf("a refused login left a session: GET /user/ %d", status)
		}
	}
	t.Run("wrong state", func(t *testing.T) {
		c, cb := e.toCallback("/")
		u, _ := url.Parse(cb)
		q := u.Query()
		s := q.Get("state")
		q.Set("state", s[:len(s)-2]+"zz") // same cookie, other state
		u.RawQuery = q.Encode()
		resp, body := get(t, c, u.String())
		if resp.StatusCode != 400 || !strings.Contains(body, "login session") || !strings.Contains(body, `"error_type":"invalid_request"`) {
			t.Fatalf("%s %s", resp.Status, body)
		}
		noSession(t, c)
	})
	t.Run("missing state cookie", func(t *testing.T) {
		_, cb := e.toCallback("/")
		c := e.browser(false)
		resp, body := get(t, c, cb, "Accept", "text/html,*/*")
		if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "start the login again") {
			t.Fatalf("%s %s %s", resp.Status, resp.Header.Get("Content-Type"), body)
		}
		noSession(t, c)
	})
	t.Run("replayed code", func(t *testing.T) {
		c, cb := e.toCallback("/")
		u, _ := url.Parse(e.srv.URL + "/oauth2/corp/callback")
		saved := c.Jar.Cookies(u)
		if resp, _ := get(t, c, cb); resp.StatusCode != http.StatusFound {
			t.Fatalf("first callback: %s", resp.Status)
		}
		// An attacker replays the callback with the saved login cookie.
		c2 := e.browser(false)
		c2.Jar.SetCookies(u, saved)
		resp, body := get(t, c2, cb)
		if resp.StatusCode != 400 || !strings.Contains(body, "invalid_grant") {
			t.Fatalf("replay: %s %s", resp.Status, body)
		}
		noSession(t, c2)
	})
	t.Run("provider error", func(t *testing.T) {
		e.iss.DenyLogins("access_denied")
		defer e.iss.DenyLogins("")
		c, cb := e.toCallback("/")
		resp, body := get(t, c, cb, "Accept", "text/html")
		if resp.StatusCode != 400 || !strings.Contains(body, "refused the login (access_denied)") {
			t.Fatalf("%s %s", resp.Status, body)
		}
	})
	t.Run("error page escapes", func(t *testing.T) {
		resp, body := get(t, e.browser(false), e.srv.URL+"/oauth2/corp/callback?error=%3Cscript%3Ealert(1)%3C/script%3E", "Accept", "text/html")
		if resp.StatusCode != 400 || strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
			t.Fatalf("%s %s", resp.Status, body)
		}
	})
	t.Run("bad id token", func(t *testing.T) {
		e.iss.SetLoginHooks(oidctest.LoginHooks{IDToken: func(c oidctest.Claims) { c["aud"] = "someone-else" }})
		defer e.iss.SetLoginHooks(oidctest.LoginHooks{})
		c, cb := e.toCallback("/")
		if resp, body := get(t, c, cb); resp.StatusCode != 400 || !strings.Contains(body, "audience") {
			t.Fatalf("%s %s", resp.Status, body)
		}
		noSession(t, c)
	})
	t.Run("unknown provider", func(t *testing.T) {
		for _, p := range []string{"/oauth2/nope/authorize", "/oauth2/nope/callback?state=x&code=y"} {
			if resp, body := get(t, e.browser(false), e.srv.URL+p); resp.StatusCode != 404 {
				t.Errorf("%s: %s %s", p, resp.Status, body)
			}
		}
	})
	t.Run("provider down", func(t *testing.T) {
		down := newOIDCEnv(t, true)
		down.iss.SetDiscovery("issuer", "https://someone.else")
		if resp, body := get(t, down.browser(false), down.srv.URL+"/oauth2/corp/authorize"); resp.StatusCode != 502 || !strings.Contains(body, "configuration") {
			t.Fatalf("%s %s", resp.Status, body)
		}
	})
}

func TestOIDCNoOpenRedirect(t *testing.T) {
	e := newOIDCEnv(t, true)
	for _, target := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "evil.example", "javascript:alert(1)", "/ok\r\nSet-Cookie: x=y"} {
		c, cb := e.toCallback(target)
		resp, _ := get(t, c, cb)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
			t.Errorf("redirect=%q: %s to %q", target, resp.Status, resp.Header.Get("Location"))
		}
	}
	for in, want := range map[string]string{
		"/repository/a/b?tab=tags#x": "/repository/a/b?tab=tags#x",
		"/":                          "/",
		"":                           "/",
		"/%2F%2Fevil.example":        "/%2F%2Fevil.example",
		"///evil.example":            "/",
		"/a\tb":                      "/",
		"http:/evil":                 "/",
	} {
		if got := safeReturnPath(in); got != want {
			t.Errorf("safeReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// With FEATURE_DIRECT_LOGIN off, people cannot sign in with a password but
// can with OIDC; their session makes app tokens, which work as "$app"
// passwords for the CLI.
func TestOIDCWithoutDirectLogin(t *testing.T) {
	e := newOIDCEnv(t, false)
	ctx := context.Background()
	hash, _ := auth.HashPassword("local-password")
	if _, err := e.db.CreateUser(ctx, store.NewUser{Username: "local", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	b := e.browser(true)
	if status, _ := apiCall(t, b, "POST", e.srv.URL+"/api/v1/signin", "", map[string]string{"username": "local", "password": "local-password"}); status < 400 {
		t.Fatalf("password sign-in with direct login off: %d", status)
	}
	if _, err := e.authn.Basic(ctx, "local", "local-password"); err == nil {
		t.Fatal("a password works for the CLI with direct login off")
	}

	if resp, _ := get(t, b, e.srv.URL+"/oauth2/corp/authorize"); resp.StatusCode != 200 {
		t.Fatalf("OIDC login: %s", resp.Status)
	}
	status, body := apiCall(t, b, "GET", e.srv.URL+"/api/v1/csrf_token", "", nil)
	csrf, _ := body["csrf_token"].(string)
	if status != 200 || csrf == "" {
		t.Fatalf("csrf_token: %d %v", status, body)
	}
	if status, _ := apiCall(t, b, "POST", e.srv.URL+"/api/v1/user/apptoken", "", map[string]string{"title": "cli"}); status != 403 {
		t.Fatalf("app token without the CSRF header: %d", status)
	}
	status, body = apiCall(t, b, "POST", e.srv.URL+"/api/v1/user/apptoken", csrf, map[string]string{"title": "cli"})
	tok, _ := body["token"].(map[string]any)
	code, _ := tok["token_code"].(string)
	if status != 200 || code == "" {
		t.Fatalf("app token: %d %v", status, body)
	}
	id, err := e.authn.Basic(ctx, "$app", code)
	if err != nil || id.User.Username != "alice" || id.Method != auth.MethodAppToken {
		t.Fatalf("$app login: %+v, %v", id, err)
	}
}

func TestOIDCNotConfigured(t *testing.T) {
	e := newTestEnv(t)
	res := e.do("GET", "/api/v1/oidc/providers", "", nil).expect(200)
	if provs, _ := res.json()["providers"].([]any); len(provs) != 0 {
		t.Fatalf("providers %v", provs)
	}
	e.do("POST", "/api/v1/externallogin/corp", "", map[string]string{"kind": "login"}).expect(404)
	h := New(e.db, nil, nil, e.box, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	for _, p := range []string{"/oauth2/corp/authorize", "/oauth2/corp/callback?state=abc"} {
		w := httptest.NewRecorder()
		h.OAuth2Handler().ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		if w.Code != 404 {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
}
