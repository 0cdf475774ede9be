package ldaptest_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wharfhq/wharf/internal/ldaptest"
)

// The server starts, answers on ldap:// (with StartTLS) and ldaps:// with a
// certificate of its test CA, checks seeded passwords and maintains memberOf.
func TestServer(t *testing.T) {
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
	tc, err := srv.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}

	ldaps, err := ldap.DialURL(srv.TLSURL, ldap.DialWithTLSConfig(tc))
	if err != nil {
		t.Fatal(err)
	}
	defer ldaps.Close()
	if err := ldaps.Bind(ldaptest.UserDN("alice"), "alice-password-1"); err != nil {
		t.Fatalf("alice over ldaps: %v", err)
	}
	if err := ldaps.Bind(ldaptest.UserDN("alice"), "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}

	plain, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.StartTLS(tc); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := plain.Bind(ldaptest.ServiceDN, ldaptest.ServicePassword); err != nil {
		t.Fatalf("service account: %v", err)
	}
	res, err := plain.Search(ldap.NewSearchRequest(ldaptest.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(memberOf="+ldaptest.AdminsGroup+")", []string{"uid", "mail"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("uid") != "carol" {
		t.Fatalf("admins = %+v, want carol", res.Entries)
	}

	// Anonymous users may not read the directory.
	anon, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	res, err = anon.Search(ldap.NewSearchRequest(ldaptest.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=alice)", []string{"uid"}, nil))
	if err == nil && len(res.Entries) > 0 {
		t.Fatal("anonymous search found alice")
	}
}
