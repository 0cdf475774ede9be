package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/ldaptest"
)

// ldapApp runs Wharf with AUTHENTICATION_TYPE LDAP against a real slapd.
// Requests come from 127.0.0.1, a trusted proxy, so X-Forwarded-For picks
// the client address the rate limiter sees.
func ldapApp(t *testing.T) (*App, *httptest.Server) {
	t.Helper()
	srv, err := ldaptest.Start(context.Background(), ldaptest.Options{})
	if errors.Is(err, ldaptest.ErrNotInstalled) {
		if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.AuthenticationType = "LDAP"
	cfg.LDAPURI = srv.TLSURL
	cfg.LDAPBaseDN = config.DNPieces{"dc=example", "dc=org"}
	cfg.LDAPAdminDN = ldaptest.ServiceDN
	cfg.LDAPAdminPassword = ldaptest.ServicePassword
	cfg.LDAPUserRDN = config.DNPieces{"ou=people"}
	cfg.LDAPCAFile = srv.CAFile
	cfg.LDAPSuperuserFilter = "(memberOf=" + ldaptest.AdminsGroup + ")"
	cfg.LoginRateLimitAccount = 10
	cfg.LoginRateLimitAddress = 20
	cfg.TrustedProxies = []string{"127.0.0.1", "::1"}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	return a, hs
}

// signin posts to /api/v1/signin from a client address and returns the
// status, the session cookie and the body.
func signin(t *testing.T, base, clientAddr, user, pass string) (int, *http.Cookie, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	req, _ := http.NewRequest("POST", base+"/api/v1/signin", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", clientAddr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookieName {
			cookie = c
		}
	}
	return resp.StatusCode, cookie, body
}

const sessionCookieName = "wharf_session"

// dockerLogin asks /v2/auth for a token with Basic credentials, as docker
// login does, and returns the status and body.
func dockerLogin(t *testing.T, base, clientAddr, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v2/auth?service=wharf&scope=repository:alice/app:pull", nil)
	req.SetBasicAuth(user, pass)
	req.Header.Set("X-Forwarded-For", clientAddr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLDAPLogin(t *testing.T) {
	a, hs := ldapApp(t)
	ctx := context.Background()

	// API sign-in creates the account on first login, with the
	// directory's email and no local password.
	st, cookie, body := signin(t, hs.URL, "198.51.100.1", "alice", "alice-password-1")
	if st != 200 || cookie == nil || body["success"] != true {
		t.Fatalf("signin: %d %v", st, body)
	}
	u, err := a.db.User(ctx, "alice")
	if err != nil || u.Email != "alice@example.org" || u.PasswordHash != "" {
		t.Fatalf("alice's account: %+v, %v", u, err)
	}
	req, _ := http.NewRequest("GET", hs.URL+"/api/v1/user/", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if me["username"] != "alice" || me["email"] != "alice@example.org" || me["super_user"] != false {
		t.Fatalf("GET /api/v1/user/: %v", me)
	}

	// docker login (Basic on /v2/auth) works the same way; carol matches
	// the superuser filter.
	if st, b := dockerLogin(t, hs.URL, "198.51.100.1", "carol", "carol-password-1"); st != 200 || !strings.Contains(b, `"token"`) {
		t.Fatalf("/v2/auth as carol: %d %s", st, b)
	}
	if u, err := a.db.User(ctx, "carol"); err != nil || !u.Superuser {
		t.Fatalf("carol's account: %+v, %v", u, err)
	}

	// Refusals: wrong password, unknown user, empty password.
	for _, c := range [][2]string{{"alice", "wrong-password"}, {"mallory", "whatever-1"}, {"alice", ""}} {
		if st, _, body := signin(t, hs.URL, "198.51.100.1", c[0], c[1]); st != 403 || body["invalidCredentials"] != true {
			t.Errorf("signin %s/%q: %d %v", c[0], c[1], st, body)
		}
		if st, _ := dockerLogin(t, hs.URL, "198.51.100.1", c[0], c[1]); st != 401 {
			t.Errorf("/v2/auth %s/%q: %d", c[0], c[1], st)
		}
	}

	// Accounts come from the directory: no sign-up.
	b, _ := json.Marshal(map[string]string{"username": "newbie", "password": "newbie-password", "email": "n@example.org"})
	resp, err = http.Post(hs.URL+"/api/v1/user/", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("sign-up with LDAP: %d, want 404", resp.StatusCode)
	}
}

func TestLoginRateLimitHTTP(t *testing.T) {
	_, hs := ldapApp(t)

	// Ten wrong passwords for bob, through both doors and from several
	// addresses; the 11th attempt gets 429 even with the right password.
	for i := 0; i < 10; i++ {
		addr := fmt.Sprintf("203.0.113.%d", i)
		if i%2 == 0 {
			if st, _ := dockerLogin(t, hs.URL, addr, "bob", "guess"); st != 401 {
				t.Fatalf("guess %d: %d", i+1, st)
			}
		} else if st, _, _ := signin(t, hs.URL, addr, "bob", "guess"); st != 403 {
			t.Fatalf("guess %d: %d", i+1, st)
		}
	}
	st, body := dockerLogin(t, hs.URL, "203.0.113.100", "bob", "bob-password-1")
	if st != 429 || !strings.Contains(body, "TOOMANYREQUESTS") {
		t.Fatalf("/v2/auth after 10 failures: %d %s", st, body)
	}
	st, _, apiBody := signin(t, hs.URL, "203.0.113.100", "bob", "bob-password-1")
	if st != 429 || apiBody["error_type"] != "exceeds_rate_limit" {
		t.Fatalf("signin after 10 failures: %d %v", st, apiBody)
	}
	// Another account is unaffected.
	if st, _, _ := signin(t, hs.URL, "203.0.113.1", "alice", "alice-password-1"); st != 200 {
		t.Fatalf("alice: %d", st)
	}

	// Per address: 20 failures from one address, spread over accounts,
	// block that address only.
	for i := 0; i < 20; i++ {
		if st, _ := dockerLogin(t, hs.URL, "192.0.2.50", fmt.Sprintf("user%d", i), "guess"); st != 401 {
			t.Fatalf("spray %d: %d", i+1, st)
		}
	}
	if st, _ := dockerLogin(t, hs.URL, "192.0.2.50", "carol", "carol-password-1"); st != 429 {
		t.Fatalf("carol from the spraying address: %d, want 429", st)
	}
	if st, _ := dockerLogin(t, hs.URL, "192.0.2.51", "carol", "carol-password-1"); st != 200 {
		t.Fatalf("carol from another address: %d", st)
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := config.ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		remote, xff string
		trusted     bool
		want        string
	}{
		{"192.0.2.1:5000", "", true, "192.0.2.1:5000"},
		{"192.0.2.1:5000", "203.0.113.9", true, "192.0.2.1:5000"}, // an untrusted peer cannot claim an address
		{"127.0.0.1:5000", "203.0.113.9", true, "203.0.113.9"},
		{"127.0.0.1:5000", "198.51.100.7, 203.0.113.9, 10.1.2.3", true, "203.0.113.9"}, // the client's own claim is ignored
		{"10.0.0.5:5000", "10.1.1.1", true, "10.1.1.1"},                                // only proxies: the farthest one
		{"127.0.0.1:5000", "203.0.113.9", false, "127.0.0.1:5000"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		tr := trusted
		if !c.trusted {
			tr = nil
		}
		if got := clientAddr(r, tr); got != c.want {
			t.Errorf("clientAddr(%s, %q) = %q, want %q", c.remote, c.xff, got, c.want)
		}
	}
}
