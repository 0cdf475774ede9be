package oidctest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharfhq/wharf/internal/oidctest"
)

const (
	testRedirect = "https://rp.example/callback"
	testVerifier = "verifier-0123456789-0123456789-0123456789-abcdef"
)

// authorize sends an authorization request and returns the redirect's query
// (or fails when there is no redirect).
func authorize(t *testing.T, iss *oidctest.Issuer, q url.Values) url.Values {
	t.Helper()
	c := iss.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(iss.URL() + oidctest.AuthorizePath + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %s, want a redirect", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %s", got)
	}
	return loc.Query()
}

func authorizeQuery() url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {"rp"}, "redirect_uri": {testRedirect},
		"scope": {"openid email"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {oidctest.PKCEChallenge(testVerifier)}, "code_challenge_method": {"S256"}}
}

// exchange posts a token request and returns the status and JSON body.
func exchange(t *testing.T, iss *oidctest.Issuer, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	if !basic {
		form.Set("client_id", "rp")
		form.Set("client_secret", "s3cret")
	}
	req, err := http.NewRequest(http.MethodPost, iss.URL()+oidctest.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth("rp", "s3cret")
	}
	resp, err := iss.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, m
}

func TestCodeFlow(t *testing.T) {
	iss := oidctest.New(t)
	iss.RegisterClient(oidctest.LoginClient{ID: "rp", Secret: "s3cret", RedirectURIs: []string{testRedirect}})
	iss.SetLoginUser(oidctest.LoginUser{Subject: "u-1", PreferredUsername: "alice", Email: "alice@example.com",
		EmailVerified: true, Groups: []string{"admins"}})
	var doc map[string]any
	getJSON(t, iss.Client(), iss.URL()+oidctest.DiscoveryPath, &doc)
	if doc["authorization_endpoint"] != iss.URL()+oidctest.AuthorizePath || doc["token_endpoint"] != iss.URL()+oidctest.TokenPath {
		t.Fatalf("discovery does not advertise the login endpoints: %v", doc)
	}

	for _, basic := range []bool{true, false} {
		q := authorize(t, iss, authorizeQuery())
		if q.Get("state") != "st-1" || q.Get("code") == "" {
			t.Fatalf("authorize redirect query %v", q)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {testVerifier}}
		status, body := exchange(t, iss, form, basic)
		if status != http.StatusOK {
			t.Fatalf("basic=%v: token endpoint %d %v", basic, status, body)
		}
		idToken, _ := body["id_token"].(string)
		c, err := verify(t, iss, idToken)
		if err != nil {
			t.Fatalf("id_token: %v", err)
		}
		if c.Subject != "u-1" || !c.Audience.Contains("rp") || c.Issuer != iss.URL() {
			t.Fatalf("id_token claims %+v", c)
		}
		var extra struct {
			Nonce    string   `json:"nonce"`
			Username string   `json:"preferred_username"`
			Email    string   `json:"email"`
			Verified bool     `json:"email_verified"`
			Groups   []string `json:"groups"`
		}
		parsed, _ := jwt.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.RS256})
		if err := parsed.UnsafeClaimsWithoutVerification(&extra); err != nil {
			t.Fatal(err)
		}
		if extra.Nonce != "n-1" || extra.Username != "alice" || extra.Email != "alice@example.com" || !extra.Verified ||
			len(extra.Groups) != 1 || extra.Groups[0] != "admins" {
			t.Fatalf("id_token user claims %+v", extra)
		}
		// A code is good for one exchange.
		if status, body := exchange(t, iss, form, basic); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("replayed code: %d %v", status, body)
		}
	}
	if n := iss.TokenRequests(); n != 4 {
		t.Fatalf("TokenRequests = %d, want 4", n)
	}
}

func TestCodeFlowRefusals(t *testing.T) {
	iss := oidctest.New(t)
	iss.RegisterClient(oidctest.LoginClient{ID: "rp", Secret: "s3cret", RedirectURIs: []string{testRedirect}})
	iss.SetLoginUser(oidctest.LoginUser{Subject: "u-1"})

	// Unknown clients and unregistered redirect URIs get an error page, not a
	// redirect.
	for name, edit := range map[string]func(url.Values){
		"unknown client": func(q url.Values) { q.Set("client_id", "nobody") },
		"other redirect": func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") },
	} {
		q := authorizeQuery()
		edit(q)
		c := iss.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(iss.URL() + oidctest.AuthorizePath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", name, resp.Status)
		}
	}
	// Other errors are redirected with the state.
	for name, tc := range map[string]struct {
		edit func(url.Values)
		want string
	}{
		"no challenge":   {func(q url.Values) { q.Del("code_challenge") }, "invalid_request"},
		"plain method":   {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		"no openid":      {func(q url.Values) { q.Set("scope", "email") }, "invalid_scope"},
		"implicit flow":  {func(q url.Values) { q.Set("response_type", "id_token") }, "unsupported_response_type"},
		"denied by user": {func(url.Values) { iss.DenyLogins("access_denied") }, "access_denied"},
	} {
		q := authorizeQuery()
		tc.edit(q)
		got := authorize(t, iss, q)
		iss.DenyLogins("")
		if got.Get("error") != tc.want || got.Get("state") != "st-1" || got.Get("code") != "" {
			t.Errorf("%s: redirect query %v, want error %s", name, got, tc.want)
		}
	}

	// Token requests: wrong verifier, redirect URI or secret.
	code := func() string { return authorize(t, iss, authorizeQuery()).Get("code") }
	form := func(c string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {testRedirect}, "code_verifier": {testVerifier}}
	}
	f := form(code())
	f.Set("code_verifier", strings.Repeat("x", 43))
	if status, body := exchange(t, iss, f, true); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v", status, body)
	}
	f = form(code())
	f.Del("code_verifier")
	if status, body := exchange(t, iss, f, true); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("no verifier: %d %v", status, body)
	}
	f = form(code())
	f.Set("redirect_uri", "https://rp.example/other")
	if status, body := exchange(t, iss, f, true); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("other redirect_uri: %d %v", status, body)
	}
	f = form(code())
	f.Set("client_id", "rp")
	f.Set("client_secret", "wrong")
	req, _ := http.NewRequest(http.MethodPost, iss.URL()+oidctest.TokenPath, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := iss.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %s", resp.Status)
	}
}

func TestCodeFlowHooks(t *testing.T) {
	iss := oidctest.New(t)
	iss.RegisterClient(oidctest.LoginClient{ID: "rp", Secret: "s3cret", RedirectURIs: []string{testRedirect}})
	iss.SetLoginUser(oidctest.LoginUser{Subject: "u-1"})
	iss.SetLoginHooks(oidctest.LoginHooks{
		IDToken: func(c oidctest.Claims) { c["aud"] = "someone-else" },
		Token:   func(tok string) string { return tok + "x" },
	})
	q := authorize(t, iss, authorizeQuery())
	status, body := exchange(t, iss, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {testVerifier}}, false)
	if status != 200 {
		t.Fatalf("token endpoint %d %v", status, body)
	}
	tok, _ := body["id_token"].(string)
	if !strings.HasSuffix(tok, "x") {
		t.Fatal("the Token hook did not run")
	}
	if _, err := verify(t, iss, tok); err == nil {
		t.Fatal("a tampered token verifies")
	}
	c, err := verify(t, iss, strings.TrimSuffix(tok, "x"))
	if err != nil || !c.Audience.Contains("someone-else") {
		t.Fatalf("IDToken hook: %+v, %v", c, err)
	}
}
