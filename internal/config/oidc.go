package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// OIDCProvider is an OpenID Connect provider people log in with (the
// authorization code flow): an OIDC_PROVIDERS entry, or one of Quay's
// top-level <NAME>_LOGIN_CONFIG keys.
type OIDCProvider struct {
	// OIDCServer is the issuer URL (https); its discovery document is
	// OIDC_SERVER/.well-known/openid-configuration.
	OIDCServer   string `yaml:"OIDC_SERVER"`
	ClientID     string `yaml:"CLIENT_ID"`
	ClientSecret string `yaml:"CLIENT_SECRET"`
	// Scopes are requested besides openid, email and profile.
	Scopes []string `yaml:"SCOPES"`
	// DisplayName is shown on the login page (default: the name).
	DisplayName string `yaml:"DISPLAY_NAME"`
	// PreferredGroupClaimName names the ID token claim listing the
	// person's groups; SuperuserGroup makes members of that group
	// superusers (and revokes the flag from people who leave it).
	PreferredGroupClaimName string `yaml:"PREFERRED_GROUP_CLAIM_NAME"`
	SuperuserGroup          string `yaml:"SUPERUSER_GROUP"`
	// PreferredUsernameClaimName names the claim new usernames come from
	// (default preferred_username).
	PreferredUsernameClaimName string `yaml:"PREFERRED_USERNAME_CLAIM_NAME"`
	// VerifiedEmailClaimName names a claim holding a verified email
	// (default: "email" when "email_verified" is true).
	VerifiedEmailClaimName string `yaml:"VERIFIED_EMAIL_CLAIM_NAME"`
	// CAFile is a PEM bundle trusted for the provider besides the system's.
	CAFile string `yaml:"CA_FILE"`

	// Quay's names, accepted so that its configuration can be reused:
	// SERVICE_NAME is DISPLAY_NAME, LOGIN_SCOPES is SCOPES. SERVICE_ICON
	// and USE_PKCE are ignored (PKCE with S256 is always used).
	ServiceName string   `yaml:"SERVICE_NAME"`
	LoginScopes []string `yaml:"LOGIN_SCOPES"`
	ServiceIcon string   `yaml:"SERVICE_ICON"`
	UsePKCE     *bool    `yaml:"USE_PKCE"`
}

// Title is the display name: DISPLAY_NAME, SERVICE_NAME or name.
func (p OIDCProvider) Title(name string) string {
	switch {
	case p.DisplayName != "":
		return p.DisplayName
	case p.ServiceName != "":
		return p.ServiceName
	}
	return name
}

// AllScopes are SCOPES and LOGIN_SCOPES.
func (p OIDCProvider) AllScopes() []string {
	return append(slices.Clone(p.Scopes), p.LoginScopes...)
}

// loginConfigSuffix marks Quay's login provider keys.
const loginConfigSuffix = "_LOGIN_CONFIG"

// providerNameRe is the rule for provider names, which appear in URLs.
var providerNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// decodeFile decodes a YAML configuration over cfg. Unknown keys are errors,
// except Quay's top-level <NAME>_LOGIN_CONFIG keys: each becomes the OIDC
// provider named by NAME's first word in lower case (as Quay's service id:
// CORP_SSO_LOGIN_CONFIG is "corp").
func decodeFile(text string, cfg *Config) error {
	// The inline map takes the keys Config does not know; nested values
	// are still decoded strictly.
	var file struct {
		Config `yaml:",inline"`
		Other  map[string]yaml.Node `yaml:",inline"`
	}
	file.Config = *cfg
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	*cfg = file.Config
	if len(file.Other) == 0 {
		return nil
	}
	lines := keyLines(text)
	keys := make([]string, 0, len(file.Other))
	for k := range file.Other {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return lines[a] - lines[b] })
	for _, k := range keys {
		prefix, ok := strings.CutSuffix(k, loginConfigSuffix)
		if !ok || prefix == "" {
			return fmt.Errorf("line %d: field %s not found in type config.Config", lines[k], k)
		}
		first, _, _ := strings.Cut(prefix, "_")
		name := strings.ToLower(first)
		switch name {
		case "ldap", "jwt", "keystone":
			return fmt.Errorf("line %d: %s: %s is a reserved name", lines[k], k, first)
		case "github":
			return fmt.Errorf("line %d: %s: GitHub login is not supported (it is not OpenID Connect)", lines[k], k)
		}
		n := file.Other[k]
		p, err := decodeProvider(k, &n)
		if err != nil {
			return err
		}
		if _, dup := cfg.OIDCProviders[name]; dup {
			return fmt.Errorf("line %d: %s: an OIDC provider named %q is already configured", lines[k], k, name)
		}
		if cfg.OIDCProviders == nil {
			cfg.OIDCProviders = map[string]OIDCProvider{}
		}
		cfg.OIDCProviders[name] = p
	}
	return nil
}

// keyLines maps the top-level keys of a YAML document to their lines.
func keyLines(text string) map[string]int {
	out := map[string]int{}
	var doc yaml.Node
	if yaml.Unmarshal([]byte(text), &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return out
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		out[m[i].Value] = m[i].Line
	}
	return out
}

// decodeProvider decodes a <NAME>_LOGIN_CONFIG value, refusing unknown keys.
func decodeProvider(key string, n *yaml.Node) (OIDCProvider, error) {
	var p OIDCProvider
	if n.Kind != yaml.MappingNode {
		return p, fmt.Errorf("line %d: %s must be a mapping", n.Line, key)
	}
	known := map[string]bool{}
	t := reflect.TypeFor[OIDCProvider]()
	for i := range t.NumField() {
		known[strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return p, fmt.Errorf("line %d: %s: field %s not found in type config.OIDCProvider", k.Line, key, k.Value)
		}
	}
	if err := n.Decode(&p); err != nil {
		return p, fmt.Errorf("%s: %w", key, err)
	}
	return p, nil
}

// validateOIDC checks the OIDC providers.
func (c *Config) validateOIDC() []error {
	var errs []error
	for _, name := range sortedKeys(c.OIDCProviders) {
		p := c.OIDCProviders[name]
		at := fmt.Sprintf("OIDC provider %q", name)
		if !providerNameRe.MatchString(name) || name == "federation" {
			errs = append(errs, fmt.Errorf("%s: the name must be 1-64 lowercase letters, digits, '-' or '_' (and not \"federation\")", at))
		}
		if u, err := url.Parse(p.OIDCServer); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: OIDC_SERVER %q must be an https URL", at, p.OIDCServer))
		}
		if p.ClientID == "" || p.ClientSecret == "" {
			errs = append(errs, fmt.Errorf("%s: CLIENT_ID and CLIENT_SECRET are required", at))
		}
		if p.SuperuserGroup != "" && p.PreferredGroupClaimName == "" {
			errs = append(errs, fmt.Errorf("%s: SUPERUSER_GROUP needs PREFERRED_GROUP_CLAIM_NAME (the claim that lists groups)", at))
		}
	}
	if c.AuthenticationType == "OIDC" && len(c.OIDCProviders) == 0 {
		errs = append(errs, errors.New("AUTHENTICATION_TYPE OIDC needs at least one provider in OIDC_PROVIDERS (or a <NAME>_LOGIN_CONFIG)"))
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
