package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestOIDCProviders(t *testing.T) {
	c, err := Load(writeFile(t, `LISTEN_ADDRESS: ":5000"
OIDC_PROVIDERS:
  corp:
    OIDC_SERVER: https://sso.corp.example/realms/main
    CLIENT_ID: wharf
    CLIENT_SECRET: ${SECRET}
    SCOPES: [groups]
    DISPLAY_NAME: Corp SSO
    PREFERRED_GROUP_CLAIM_NAME: groups
    SUPERUSER_GROUP: registry-admins
    CA_FILE: /etc/wharf/corp-ca.pem
# Quay's form: the provider is named by the first word, lower case.
AZURE_AD_LOGIN_CONFIG:
  SERVICE_NAME: Azure AD
  OIDC_SERVER: https://login.microsoftonline.com/tenant/v2.0
  CLIENT_ID: abc
  CLIENT_SECRET: def
  LOGIN_SCOPES: [openid, email]
  USE_PKCE: true
AUTHENTICATION_TYPE: OIDC
`), env("SECRET", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	corp := c.OIDCProviders["corp"]
	want := OIDCProvider{OIDCServer: "https://sso.corp.example/realms/main", ClientID: "wharf", ClientSecret: "s3cret",
		Scopes: []string{"groups"}, DisplayName: "Corp SSO", PreferredGroupClaimName: "groups", SuperuserGroup: "registry-admins",
		CAFile: "/etc/wharf/corp-ca.pem"}
	if !reflect.DeepEqual(corp, want) {
		t.Fatalf("corp = %+v", corp)
	}
	az, ok := c.OIDCProviders["azure"]
	if !ok || az.Title("azure") != "Azure AD" || az.ClientID != "abc" || !reflect.DeepEqual(az.AllScopes(), []string{"openid", "email"}) {
		t.Fatalf("providers = %+v", c.OIDCProviders)
	}
	if corp.Title("corp") != "Corp SSO" || (OIDCProvider{}).Title("x") != "x" {
		t.Fatal("Title")
	}
	if c.ListenAddress != ":5000" || c.AuthenticationType != "OIDC" {
		t.Fatalf("other keys: %+v", c)
	}
}

func TestOIDCProvidersFromEnv(t *testing.T) {
	c := Default()
	err := c.ApplyEnv(env("WHARF_OIDC_PROVIDERS", `{"corp": {"OIDC_SERVER": "https://idp.example", "CLIENT_ID": "a", "CLIENT_SECRET": "b"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCProviders["corp"].ClientSecret != "b" {
		t.Fatalf("providers = %+v", c.OIDCProviders)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCProviderErrors(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"unknown top-level key", "LISTEN_ADDRESS: :5000\n\nNO_SUCH_KEY:\n  A: 1\n", "line 3: field NO_SUCH_KEY not found"},
		{"unknown provider key", "CORP_LOGIN_CONFIG:\n  OIDC_SERVER: https://x\n  CLIENT_SECRTE: s\n", "line 3: CORP_LOGIN_CONFIG: field CLIENT_SECRTE not found"},
		{"unknown OIDC_PROVIDERS key", "OIDC_PROVIDERS:\n  corp:\n    CLIENT_SECRTE: s\n", "CLIENT_SECRTE"},
		{"provider not a mapping", "CORP_LOGIN_CONFIG: yes\n", "CORP_LOGIN_CONFIG must be a mapping"},
		{"bad provider value", "CORP_LOGIN_CONFIG:\n  SCOPES: {a: b}\n", "CORP_LOGIN_CONFIG"},
		{"reserved prefix", "LDAP_LOGIN_CONFIG:\n  CLIENT_ID: a\n", "reserved"},
		{"github", "GITHUB_LOGIN_CONFIG:\n  CLIENT_ID: a\n", "not supported"},
		{"duplicate", "OIDC_PROVIDERS:\n  corp: {CLIENT_ID: a}\nCORP_LOGIN_CONFIG:\n  CLIENT_ID: b\n", `named "corp" is already configured`},
		{"bare suffix", "_LOGIN_CONFIG:\n  CLIENT_ID: b\n", "field _LOGIN_CONFIG not found"},
	} {
		_, err := Load(writeFile(t, tc.content), env())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestOIDCProviderValidation(t *testing.T) {
	good := OIDCProvider{OIDCServer: "https://idp.example", ClientID: "a", ClientSecret: "b"}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		wants string
	}{
		{"http server", func(c *Config) { p := good; p.OIDCServer = "http://idp.example"; c.OIDCProviders["corp"] = p }, "https URL"},
		{"no secret", func(c *Config) { p := good; p.ClientSecret = ""; c.OIDCProviders["corp"] = p }, "CLIENT_SECRET"},
		{"group without claim", func(c *Config) { p := good; p.SuperuserGroup = "admins"; c.OIDCProviders["corp"] = p }, "PREFERRED_GROUP_CLAIM_NAME"},
		{"bad name", func(c *Config) { c.OIDCProviders["Corp SSO"] = good }, "the name must be"},
		{"reserved name", func(c *Config) { c.OIDCProviders["federation"] = good }, "the name must be"},
		{"OIDC without providers", func(c *Config) { c.OIDCProviders = nil; c.AuthenticationType = "OIDC" }, "needs at least one provider"},
	} {
		c := Default()
		c.OIDCProviders = map[string]OIDCProvider{"corp": good}
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.wants) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wants)
		}
	}
}
