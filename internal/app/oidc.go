package app

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/store"
)

// directLogin reports whether people may log in with a password
// (FEATURE_DIRECT_LOGIN). AUTHENTICATION_TYPE OIDC turns it off: people log
// in through their OIDC provider, the CLI uses app tokens or robots.
func directLogin(cfg config.Config) bool {
	return cfg.DirectLogin && cfg.AuthenticationType != "OIDC"
}

// oidcLogin builds OIDC login for the configured providers; nil when there
// are none.
func oidcLogin(cfg config.Config, db *store.DB, box *auth.Box, log *slog.Logger) (*auth.OIDCLogin, error) {
	if len(cfg.OIDCProviders) == 0 {
		return nil, nil
	}
	var providers []auth.OIDCProviderConfig
	for name, p := range cfg.OIDCProviders {
		providers = append(providers, auth.OIDCProviderConfig{
			Name: name, DisplayName: p.Title(name), Issuer: p.OIDCServer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			Scopes: p.AllScopes(), GroupClaim: p.PreferredGroupClaimName, SuperuserGroup: p.SuperuserGroup,
			UsernameClaim: p.PreferredUsernameClaimName, VerifiedEmailClaim: p.VerifiedEmailClaimName, CAFile: p.CAFile,
		})
	}
	slices.SortFunc(providers, func(a, b auth.OIDCProviderConfig) int { return strings.Compare(a.Name, b.Name) })
	l, err := auth.NewOIDCLogin(db, box, providers, auth.OIDCLoginOptions{UserCreation: cfg.UserCreation}, log.With("component", "oidc"), time.Now)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	return l, nil
}
