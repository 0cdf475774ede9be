package config

import (
	"strings"
	"testing"
	"time"
)

// LDAP and login rate-limit keys: Quay's list form and a plain string for
// DNs, the environment form, defaults and validation.
func TestLDAPConfig(t *testing.T) {
	c, err := Load(writeFile(t, `
AUTHENTICATION_TYPE: LDAP
LDAP_URI: ldaps://ldap.example.org
LDAP_BASE_DN: [dc=example, dc=org]
LDAP_USER_RDN: ou=people
LDAP_ADMIN_DN: cn=wharf,ou=services,dc=example,dc=org
LDAP_ADMIN_PASSWD: secret
LDAP_TIMEOUT: 5
LOGIN_RATE_LIMIT_WINDOW: 10m
TRUSTED_PROXIES: [10.0.0.0/8, "::1"]
`), env())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.LDAPBaseDN.String() != "dc=example,dc=org" || c.LDAPUserRDN.String() != "ou=people" {
		t.Fatalf("DNs: %q %q", c.LDAPBaseDN.String(), c.LDAPUserRDN.String())
	}
	if c.LDAPUIDAttr != "uid" || c.LDAPEmailAttr != "mail" || c.LDAPTimeout.Std() != 5*time.Second {
		t.Fatalf("LDAP defaults: %+v", c)
	}
	if c.LoginRateLimitAccount != 10 || c.LoginRateLimitAddress != 50 || c.LoginRateLimitWindow.Std() != 10*time.Minute {
		t.Fatalf("rate limits: %d %d %v", c.LoginRateLimitAccount, c.LoginRateLimitAddress, c.LoginRateLimitWindow.Std())
	}
	if err := c.ApplyEnv(env("WHARF_LDAP_BASE_DN", "dc=corp,dc=example", "WHARF_LOGIN_RATE_LIMIT_ACCOUNT", "0")); err != nil {
		t.Fatal(err)
	}
	if c.LDAPBaseDN.String() != "dc=corp,dc=example" || c.LoginRateLimitAccount != 0 {
		t.Fatalf("environment: %q %d", c.LDAPBaseDN.String(), c.LoginRateLimitAccount)
	}

	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"unknown type", func(c *Config) { c.AuthenticationType = "Keystone" }, "AUTHENTICATION_TYPE"},
		{"no URI", func(c *Config) { c.LDAPURI = "" }, "LDAP_URI"},
		{"no base DN", func(c *Config) { c.LDAPBaseDN = nil }, "LDAP_BASE_DN"},
		{"no service password", func(c *Config) { c.LDAPAdminPassword = "" }, "LDAP_ADMIN_PASSWD"},
		{"StartTLS on ldaps", func(c *Config) { c.LDAPStartTLS = true }, "LDAP_STARTTLS"},
		{"negative limit", func(c *Config) { c.LoginRateLimitAddress = -1 }, "LOGIN_RATE_LIMIT"},
		{"no window", func(c *Config) { c.LoginRateLimitWindow = 0 }, "LOGIN_RATE_LIMIT_WINDOW"},
		{"bad proxy", func(c *Config) { c.TrustedProxies = []string{"proxy.example.org"} }, "TRUSTED_PROXIES"},
	} {
		cc := c
		tc.change(&cc)
		if err := cc.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
}
