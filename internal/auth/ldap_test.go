package auth_test

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/ldaptest"
	"github.com/wharfhq/wharf/internal/store"
)

// startLDAP starts a real slapd for the test, or skips (fails under
// WHARF_E2E_REQUIRE=1) when it is not installed.
func startLDAP(t *testing.T) *ldaptest.Server {
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
	return srv
}

// ldapConfig is the configuration for the seeded test directory over ldaps://.
func ldapConfig(srv *ldaptest.Server) auth.LDAPConfig {
	return auth.LDAPConfig{
		URI: srv.TLSURL, BaseDN: ldaptest.BaseDN, AdminDN: ldaptest.ServiceDN, AdminPassword: ldaptest.ServicePassword,
		UserRDNs: []string{"ou=people"}, CAFile: srv.CAFile, Timeout: 5 * time.Second,
		SuperuserFilter: "(memberOf=" + ldaptest.AdminsGroup + ")",
	}
}

func ldapAuthenticator(t *testing.T, db *store.DB, cfg auth.LDAPConfig) *auth.Authenticator {
	t.Helper()
	l, err := auth.NewLDAP(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewAuthenticator(db, newBox(t), auth.Policy{DirectLogin: true, AppTokens: true}, time.Now, auth.WithLDAP(l, db))
}

func TestLDAP(t *testing.T) {
	srv := startLDAP(t)
	ctx := context.Background()

	t.Run("FirstLoginCreatesUser", func(t *testing.T) {
		db := openSQLite(t)
		a := ldapAuthenticator(t, db, ldapConfig(srv))
		id, err := a.Basic(ctx, "alice", "alice-password-1")
		if err != nil {
			t.Fatal(err)
		}
		if id.Method != auth.MethodPassword || id.User.Username != "alice" || id.Superuser {
			t.Fatalf("identity = %+v", id)
		}
		u, err := db.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "alice@example.org" || u.PasswordHash != "" || u.Superuser || !u.Enabled {
			t.Fatalf("created user = %+v", u)
		}
		// Later logins find the same account, by username or email.
		for _, name := range []string{"alice", "alice@example.org", "Alice"} {
			id2, err := a.Basic(ctx, name, "alice-password-1")
			if err != nil || id2.User.ID != u.ID {
				t.Fatalf("login as %q: %+v, %v", name, id2.User, err)
			}
		}
		// A user without an email address gets an account without one.
		if id, err := a.Basic(ctx, "dave", "dave-password-1"); err != nil || id.User.Email != "" {
			t.Fatalf("dave: %+v, %v", id.User, err)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		db := openSQLite(t)
		a := ldapAuthenticator(t, db, ldapConfig(srv))
		for _, c := range []struct{ name, user, pass string }{
			{"wrong password", "alice", "alice-password-2"},
			{"unknown user", "mallory", "whatever-1"},
			{"empty password", "alice", ""},
			{"wildcard", "*", "alice-password-1"},
			{"filter injection", "alice)(uid=*", "alice-password-1"},
			{"another user's password", "bob", "alice-password-1"},
		} {
			if _, err := a.Basic(ctx, c.user, c.pass); !core.IsCode(err, core.CodeUnauthorized) {
				t.Errorf("%s: %v, want unauthorized", c.name, err)
			}
		}
		// The directory itself refuses empty passwords rather than
		// treating them as an anonymous bind.
		l, err := auth.NewLDAP(ldapConfig(srv), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Verify(ctx, "alice", ""); !core.IsCode(err, core.CodeUnauthorized) {
			t.Errorf("Verify with an empty password: %v", err)
		}
		if n, _ := db.CountUsers(ctx); n != 0 {
			t.Errorf("refused logins created %d users", n)
		}
	})

	t.Run("LocalPasswordsAreNotUsed", func(t *testing.T) {
		db := openSQLite(t)
		a := ldapAuthenticator(t, db, ldapConfig(srv))
		newPerson(t, db, "localonly", "local-password")
		if _, err := a.Basic(ctx, "localonly", "local-password"); !core.IsCode(err, core.CodeUnauthorized) {
			t.Fatalf("local password with LDAP: %v", err)
		}
		// A local account with a directory user's name is that user's:
		// the directory's password works, the local one does not.
		newPerson(t, db, "bob", "local-bob-password")
		if _, err := a.Basic(ctx, "bob", "local-bob-password"); !core.IsCode(err, core.CodeUnauthorized) {
			t.Fatalf("bob's local password: %v", err)
		}
		if id, err := a.Basic(ctx, "bob", "bob-password-1"); err != nil || id.User.Email != "bob@example.org" {
			t.Fatalf("bob's LDAP password: %+v, %v", id.User, err)
		}
	})

	t.Run("RobotsAndTokensStayLocal", func(t *testing.T) {
		db := openSQLite(t)
		box := newBox(t)
		l, err := auth.NewLDAP(ldapConfig(srv), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		a := auth.NewAuthenticator(db, box, auth.Policy{DirectLogin: true, AppTokens: true}, time.Now, auth.WithLDAP(l, db))
		id, err := a.Basic(ctx, "alice", "alice-password-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateOrganization(ctx, "acme", "acme@example.com", id.User.ID); err != nil {
			t.Fatal(err)
		}
		enc, err := box.Seal("robot-token-abcdefghij")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateRobot(ctx, "acme", "ci", enc, "", ""); err != nil {
			t.Fatal(err)
		}
		if id, err := a.Basic(ctx, "acme+ci", "robot-token-abcdefghij"); err != nil || id.Method != auth.MethodRobot {
			t.Fatalf("robot: %+v, %v", id, err)
		}
		tok, prefix, secret := auth.NewSplitToken()
		if _, err := db.CreateAppToken(ctx, id.User.ID, "cli", prefix, auth.HashSecret(secret), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got, err := a.Basic(ctx, "$app", tok); err != nil || got.User.Username != "alice" || got.Method != auth.MethodAppToken {
			t.Fatalf("$app: %+v, %v", got, err)
		}
	})

	t.Run("Superusers", func(t *testing.T) {
		db := openSQLite(t)
		a := ldapAuthenticator(t, db, ldapConfig(srv))
		id, err := a.Basic(ctx, "carol", "carol-password-1")
		if err != nil || !id.Superuser || !id.User.Superuser {
			t.Fatalf("carol (in admins): %+v, %v", id, err)
		}
		if id, err := a.Basic(ctx, "alice", "alice-password-1"); err != nil || id.Superuser {
			t.Fatalf("alice: %+v, %v", id, err)
		}
		// Leaving the group takes superuser rights away at the next login.
		if err := srv.SetGroupMembers("admins", "alice"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.SetGroupMembers("admins", "carol") })
		if id, err := a.Basic(ctx, "carol", "carol-password-1"); err != nil || id.Superuser || id.User.Superuser {
			t.Fatalf("carol after leaving admins: %+v, %v", id, err)
		}
		if id, err := a.Basic(ctx, "alice", "alice-password-1"); err != nil || !id.Superuser {
			t.Fatalf("alice after joining admins: %+v, %v", id, err)
		}
	})

	t.Run("UserFilter", func(t *testing.T) {
		db := openSQLite(t)
		cfg := ldapConfig(srv)
		cfg.UserFilter = "memberOf=" + ldaptest.DevelopersGroup // parentheses are optional, as in Quay
		a := ldapAuthenticator(t, db, cfg)
		if _, err := a.Basic(ctx, "bob", "bob-password-1"); err != nil {
			t.Fatalf("bob (a developer): %v", err)
		}
		if _, err := a.Basic(ctx, "carol", "carol-password-1"); !core.IsCode(err, core.CodeUnauthorized) {
			t.Fatalf("carol (not a developer): %v", err)
		}
	})

	t.Run("StartTLS", func(t *testing.T) {
		db := openSQLite(t)
		cfg := ldapConfig(srv)
		cfg.URI, cfg.StartTLS = srv.URL, true
		a := ldapAuthenticator(t, db, cfg)
		if _, err := a.Basic(ctx, "alice", "alice-password-1"); err != nil {
			t.Fatalf("StartTLS: %v", err)
		}
		// Plain ldap:// works too (the server allows it).
		cfg.StartTLS, cfg.CAFile = false, ""
		if _, err := ldapAuthenticator(t, db, cfg).Basic(ctx, "alice", "alice-password-1"); err != nil {
			t.Fatalf("plain: %v", err)
		}
	})

	t.Run("CertificateVerified", func(t *testing.T) {
		db := openSQLite(t)
		// Without the test CA, the server's certificate is not trusted:
		// the login fails as unavailable, not as a wrong password.
		for _, c := range []struct {
			name string
			mod  func(*auth.LDAPConfig)
		}{
			{"ldaps", func(c *auth.LDAPConfig) { c.CAFile = "" }},
			{"StartTLS", func(c *auth.LDAPConfig) { c.URI, c.StartTLS, c.CAFile = srv.URL, true, "" }},
		} {
			cfg := ldapConfig(srv)
			c.mod(&cfg)
			if _, err := ldapAuthenticator(t, db, cfg).Basic(ctx, "alice", "alice-password-1"); !core.IsCode(err, core.CodeUnavailable) {
				t.Errorf("%s with an untrusted certificate: %v, want unavailable", c.name, err)
			}
		}
	})

	t.Run("ServiceAccountRefused", func(t *testing.T) {
		cfg := ldapConfig(srv)
		cfg.AdminPassword = "wrong"
		a := ldapAuthenticator(t, openSQLite(t), cfg)
		if _, err := a.Basic(ctx, "alice", "alice-password-1"); !core.IsCode(err, core.CodeUnavailable) {
			t.Fatalf("wrong service password: %v, want unavailable", err)
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		db := openSQLite(t)
		l, err := auth.NewLDAP(ldapConfig(srv), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		lim := auth.NewLimiter(db, auth.RateLimit{AccountFailures: 10, AddressFailures: 50, Window: 5 * time.Minute}, time.Now, quietLog())
		a := auth.NewAuthenticator(db, newBox(t), auth.Policy{DirectLogin: true}, time.Now, auth.WithLDAP(l, db), auth.WithLimiter(lim))
		for i := 0; i < 10; i++ {
			if _, err := a.Basic(from("10.1.1.1"), "bob", "bad-guess"); !core.IsCode(err, core.CodeUnauthorized) {
				t.Fatalf("guess %d: %v", i+1, err)
			}
		}
		if _, err := a.Basic(from("10.1.1.1"), "bob", "bob-password-1"); !core.IsCode(err, core.CodeTooManyRequests) {
			t.Fatalf("11th attempt: %v, want too many requests", err)
		}
		if _, err := a.Basic(from("10.1.1.1"), "alice", "alice-password-1"); err != nil {
			t.Fatalf("alice: %v", err)
		}
	})

	t.Run("TeamSync", func(t *testing.T) {
		db := openSQLite(t)
		box := newBox(t)
		l, err := auth.NewLDAP(ldapConfig(srv), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		a := auth.NewAuthenticator(db, box, auth.Policy{DirectLogin: true}, time.Now, auth.WithLDAP(l, db))
		owner, err := a.Basic(ctx, "carol", "carol-password-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateOrganization(ctx, "acme", "acme@example.com", owner.User.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutTeam(ctx, "acme", "devs", core.TeamMember, ""); err != nil {
			t.Fatal(err)
		}
		enc, _ := box.Seal("robot-token-abcdefghij")
		if _, err := db.CreateRobot(ctx, "acme", "ci", enc, "", ""); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"acme+ci", "carol"} {
			if err := db.AddTeamMember(ctx, "acme", "devs", m); err != nil {
				t.Fatal(err)
			}
		}
		// alice and bob have never logged in: sync creates their accounts.
		added, removed, err := a.SyncLDAPTeam(ctx, db, "acme", "devs", ldaptest.DevelopersGroup)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(added), []string{"alice", "bob"}) || !slices.Equal(removed, []string{"carol"}) {
			t.Fatalf("sync: added %v, removed %v", added, removed)
		}
		if u, err := db.User(ctx, "bob"); err != nil || u.Email != "bob@example.org" {
			t.Fatalf("bob's account: %+v, %v", u, err)
		}
		if err := srv.SetGroupMembers("developers", "alice"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.SetGroupMembers("developers", "alice", "bob") })
		if _, removed, err = a.SyncLDAPTeam(ctx, db, "acme", "devs", ldaptest.DevelopersGroup); err != nil || !slices.Equal(removed, []string{"bob"}) {
			t.Fatalf("second sync removed %v, %v", removed, err)
		}
		members, err := db.TeamMembers(ctx, "acme", "devs")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range members {
			names = append(names, m.Username)
		}
		if !slices.Equal(names, []string{"acme+ci", "alice"}) {
			t.Fatalf("members = %v, want the robot and alice", names)
		}
	})
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// A server that accepts connections and never answers costs a login the
// configured timeout, not forever.
func TestLDAPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, uri := range []string{"ldap://" + ln.Addr().String(), "ldaps://" + ln.Addr().String()} {
		l, err := auth.NewLDAP(auth.LDAPConfig{URI: uri, BaseDN: "dc=example,dc=org", AdminDN: "cn=x", AdminPassword: "y",
			Timeout: 300 * time.Millisecond}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = l.Verify(context.Background(), "alice", "pw")
		if !core.IsCode(err, core.CodeUnavailable) {
			t.Fatalf("%s: %v, want unavailable", uri, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("%s: Verify took %v with a 300ms timeout", uri, d)
		}
	}
	// Cancelling the caller's context ends it at once, too.
	l, _ := auth.NewLDAP(auth.LDAPConfig{URI: "ldap://" + ln.Addr().String(), BaseDN: "dc=example,dc=org", AdminDN: "cn=x",
		AdminPassword: "y", Timeout: time.Minute}, quietLog())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := l.Verify(ctx, "alice", "pw"); err == nil {
		t.Fatal("Verify succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Verify took %v after the context ended", d)
	}
}

func TestNewLDAPConfig(t *testing.T) {
	base := auth.LDAPConfig{URI: "ldap://ldap.example.org", BaseDN: "dc=example,dc=org", AdminDN: "cn=admin", AdminPassword: "pw"}
	for _, c := range []struct {
		name string
		mod  func(*auth.LDAPConfig)
	}{
		{"bad scheme", func(c *auth.LDAPConfig) { c.URI = "http://ldap.example.org" }},
		{"no host", func(c *auth.LDAPConfig) { c.URI = "ldap://" }},
		{"StartTLS on ldaps", func(c *auth.LDAPConfig) { c.URI, c.StartTLS = "ldaps://ldap.example.org", true }},
		{"no base DN", func(c *auth.LDAPConfig) { c.BaseDN = "" }},
		{"no service account", func(c *auth.LDAPConfig) { c.AdminPassword = "" }},
		{"bad filter", func(c *auth.LDAPConfig) { c.UserFilter = "(&(a=b)" }},
		{"missing CA file", func(c *auth.LDAPConfig) { c.URI, c.CAFile = "ldaps://ldap.example.org", "/nonexistent/ca.pem" }},
	} {
		cfg := base
		c.mod(&cfg)
		if _, err := auth.NewLDAP(cfg, nil); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := auth.NewLDAP(base, nil); err != nil {
		t.Fatal(err)
	}
}
