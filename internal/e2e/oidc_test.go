package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/oidctest"
)

const (
	oidcClientID     = "wharf-e2e"
	oidcClientSecret = "e2e-client-secret-5f1d"
)

// startOIDCServer writes config (a YAML document; {{ISSUER}} and {{CA}} are
// replaced by the provider's URL and CA file), starts wharf with it and
// registers wharf's callback for the provider as the client's.
func startOIDCServer(t *testing.T, iss *oidctest.Issuer, provider, config string) *server {
	t.Helper()
	config = strings.NewReplacer("{{ISSUER}}", iss.URL(), "{{CA}}", iss.WriteCAFile(t)).Replace(config)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "--config", path)
	iss.RegisterClient(oidctest.LoginClient{ID: oidcClientID, Secret: oidcClientSecret,
		RedirectURIs: []string{srv.URL + "/oauth2/" + provider + "/callback"}})
	return srv
}

// oidcBrowser is an HTTP client with a cookie jar that trusts the provider
// and follows redirects until it is sent back to a wharf page that is not
// part of the login (whose response it returns).
func oidcBrowser(t *testing.T, iss *oidctest.Issuer, srv *server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Client()
	c.Jar = jar
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 10 {
			t.Fatalf("login redirect loop: %v", req.URL)
		}
		if req.URL.Host == srv.Host && !strings.HasPrefix(req.URL.Path, "/oauth2/") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return c
}

// browserLogin runs the code flow from the login URL the API lists and
// returns the redirect wharf ends it with.
func browserLogin(t *testing.T, c *http.Client, srv *server, redirect string) string {
	t.Helper()
	var provs struct {
		Providers []struct {
			Name        string `json:"name"`
			DisplayName string `json:"display_name"`
			LoginURL    string `json:"login_url"`
		} `json:"providers"`
	}
	status, body := browserCall(t, c, srv, "GET", "/api/v1/oidc/providers", "", nil)
	if err := json.Unmarshal(body, &provs); status != 200 || err != nil || len(provs.Providers) != 1 {
		t.Fatalf("providers: %d %s", status, body)
	}
	loginURL := provs.Providers[0].LoginURL
	if !strings.HasPrefix(loginURL, srv.URL+"/oauth2/") {
		t.Fatalf("login URL %q", loginURL)
	}
	resp, err := c.Get(loginURL + "?redirect=" + url.QueryEscape(redirect))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Request.URL.Path, "/oauth2/") {
		t.Fatalf("login ended with %s at %s: %s", resp.Status, resp.Request.URL, b)
	}
	return resp.Header.Get("Location")
}

// browserCall sends an API request with the browser's cookies.
func browserCall(t *testing.T, c *http.Client, srv *server, method, path, csrf string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
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
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func jsonObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %s", b)
	}
	return m
}

// TestOIDCLogin drives the authorization code flow against the real binary
// (AUTHENTICATION_TYPE OIDC, an OIDC_PROVIDERS entry, the provider's CA from
// CA_FILE): a browser follows wharf's redirect to the provider, back to the
// callback, and is signed in as a new account named after the provider's
// preferred_username, a superuser through its group claim.
func TestOIDCLogin(t *testing.T) {
	iss := oidctest.New(t)
	iss.SetLoginUser(oidctest.LoginUser{Subject: "3f0c9a7e-e2e", PreferredUsername: "Dana.Scully", Email: "dana@corp.example",
		EmailVerified: true, Groups: []string{"staff", "registry-admins"}})
	srv := startOIDCServer(t, iss, "corp", `AUTHENTICATION_TYPE: OIDC
OIDC_PROVIDERS:
  corp:
    OIDC_SERVER: {{ISSUER}}
    CLIENT_ID: `+oidcClientID+`
    CLIENT_SECRET: `+oidcClientSecret+`
    DISPLAY_NAME: Corp SSO
    SCOPES: [groups]
    PREFERRED_GROUP_CLAIM_NAME: groups
    SUPERUSER_GROUP: registry-admins
    CA_FILE: {{CA}}
`)
	b := oidcBrowser(t, iss, srv)
	if status, body := browserCall(t, b, srv, "POST", "/api/v1/signin", "", map[string]string{"username": "x", "password": "y"}); status != 404 {
		t.Fatalf("password sign-in with AUTHENTICATION_TYPE OIDC: %d %s", status, body)
	}
	if status, body := browserCall(t, b, srv, "GET", "/api/v1/user/", "", nil); status != 401 {
		t.Fatalf("GET /user/ before login: %d %s", status, body)
	}
	if to := browserLogin(t, b, srv, "/organization/acme?tab=teams"); to != "/organization/acme?tab=teams" {
		t.Fatalf("login redirected to %q", to)
	}
	status, body := browserCall(t, b, srv, "GET", "/api/v1/user/", "", nil)
	user := jsonObject(t, body)
	if status != 200 || user["username"] != "dana.scully" || user["email"] != "dana@corp.example" || user["super_user"] != true {
		t.Fatalf("GET /user/ after login: %d %s", status, body)
	}
	// A second login reuses the account; an open redirect is refused.
	if to := browserLogin(t, oidcBrowser(t, iss, srv), srv, "https://evil.example/"); to != "/" {
		t.Fatalf("login redirected to %q", to)
	}
	if n := strings.Count(srv.Log(), `"created":true`); n != 1 {
		t.Errorf("%d accounts created by two logins of one person", n)
	}
	// A callback with another login's state is refused, without a session.
	c := oidcBrowser(t, iss, srv)
	resp, err := c.Get(srv.URL + "/oauth2/corp/callback?state=AAAAAAAAAAAAAAAAAAAA&code=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("forged callback: %s", resp.Status)
	}
	if status, _ := browserCall(t, c, srv, "GET", "/api/v1/user/", "", nil); status != 401 {
		t.Fatalf("forged callback signed in: %d", status)
	}
	// The client secret is not logged.
	if strings.Contains(srv.Log(), oidcClientSecret) {
		t.Error("the server log contains the client secret")
	}
}

// TestOIDCOnlyLogin is Quay's "external login only" setup: FEATURE_DIRECT_LOGIN
// off and the provider given as a Quay <NAME>_LOGIN_CONFIG key. Passwords are
// refused for people (API sign-in and docker login); OIDC login works, and
// its session makes an app token, which logs the CLI in as "$app".
func TestOIDCOnlyLogin(t *testing.T) {
	iss := oidctest.New(t)
	iss.SetLoginUser(oidctest.LoginUser{Subject: "u-7781", PreferredUsername: "fox", Email: "fox@corp.example", EmailVerified: true})
	srv := startOIDCServer(t, iss, "corp", `FEATURE_DIRECT_LOGIN: false
CORP_SSO_LOGIN_CONFIG:
  SERVICE_NAME: Corp SSO
  OIDC_SERVER: {{ISSUER}}
  CLIENT_ID: `+oidcClientID+`
  CLIENT_SECRET: `+oidcClientSecret+`
  CA_FILE: {{CA}}
`)
	const adminPass = "admin-password-oidc-77a1"
	apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": adminPass, "email": "admin@example.com"}, 200)
	b := oidcBrowser(t, iss, srv)
	if status, body := browserCall(t, b, srv, "POST", "/api/v1/signin", "", map[string]string{"username": "admin", "password": adminPass}); status < 400 {
		t.Fatalf("password sign-in with direct login off: %d %s", status, body)
	}
	ref, err := name.ParseReference(srv.Host+"/fox/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPass}), remote.WithContext(t.Context())); err == nil {
		t.Fatal("a password push succeeded with direct login off")
	}

	if to := browserLogin(t, b, srv, "/"); to != "/" {
		t.Fatalf("login redirected to %q", to)
	}
	status, body := browserCall(t, b, srv, "GET", "/api/v1/csrf_token", "", nil)
	csrf, _ := jsonObject(t, body)["csrf_token"].(string)
	if status != 200 || csrf == "" {
		t.Fatalf("csrf_token: %d %s", status, body)
	}
	if status, _ := browserCall(t, b, srv, "POST", "/api/v1/user/apptoken", "", map[string]string{"title": "laptop"}); status != 403 {
		t.Fatalf("app token without the CSRF header: %d", status)
	}
	status, body = browserCall(t, b, srv, "POST", "/api/v1/user/apptoken", csrf, map[string]string{"title": "laptop"})
	tok, _ := jsonObject(t, body)["token"].(map[string]any)
	code, _ := tok["token_code"].(string)
	if status != 200 || code == "" {
		t.Fatalf("create app token: %d %s", status, body)
	}

	// The token service accepts "$app" with the token and grants push to
	// the person's namespace.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v2/auth?service="+srv.Host+"&scope=repository:fox/app:push,pull", nil)
	req.SetBasicAuth("$app", code)
	status, body = fedCall(t, req)
	if status != 200 || !strings.Contains(string(body), `"token"`) {
		t.Fatalf("/v2/auth with $app: %d %s", status, body)
	}
	req, _ = http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v2/auth?service="+srv.Host, nil)
	req.SetBasicAuth("fox", "anything")
	if status, _ := fedCall(t, req); status != 401 {
		t.Fatalf("/v2/auth with a person's name and a password: %d", status)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "$app", Password: code})
	if err := remote.Write(ref, img, auth, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push with the app token: %v", err)
	}
	got, err := remote.Head(ref, auth, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); got.Digest != want {
		t.Fatalf("pulled %s, want %s", got.Digest, want)
	}
}
