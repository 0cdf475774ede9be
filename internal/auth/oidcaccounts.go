package auth

import (
	"context"
	"slices"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// The local accounts of OIDC logins: found by the link from (provider,
// sub), or created and linked on first login with a username derived from
// the ID token's claims.

// localUser returns the person linked to the token's subject, creating and
// linking one on first login, with the superuser flag synced to the group
// claim.
func (l *OIDCLogin) localUser(ctx context.Context, p *oidcProvider, meta *oidcMetadata, c map[string]any) (core.User, bool, error) {
	sub, _ := c["sub"].(string)
	groups, hasGroups := claimStrings(c, p.cfg.GroupClaim)
	superuser := hasGroups && p.cfg.SuperuserGroup != "" && slices.Contains(groups, p.cfg.SuperuserGroup)
	u, err := l.store.ExternalLoginUser(ctx, p.cfg.Name, sub)
	created := false
	switch {
	case core.IsCode(err, core.CodeNotFound):
		if !l.opts.UserCreation {
			return core.User{}, false, core.Errorf(core.CodeDenied, "no account is linked to this %s identity and user creation is disabled: ask an administrator", p.cfg.DisplayName)
		}
		raw := oidcUsername(c, p.cfg.UsernameClaim)
		nu := store.NewExternalUser{
			Usernames: UsernameCandidates(raw), Email: verifiedEmail(c, p.cfg.VerifiedEmailClaim), Superuser: superuser,
			Login: store.ExternalLogin{Provider: p.cfg.Name, Subject: sub, Issuer: meta.Issuer, Username: raw},
		}
		u, created, err = l.store.CreateExternalUser(ctx, nu)
		if core.IsCode(err, core.CodeConflict) {
			return core.User{}, false, err
		}
		if err != nil {
			// A concurrent first login of the same person may have won.
			if lu, lerr := l.store.ExternalLoginUser(ctx, p.cfg.Name, sub); lerr == nil {
				u, err = lu, nil
			}
		}
		if err != nil {
			return core.User{}, false, err
		}
	case err != nil:
		return core.User{}, false, err
	}
	if u.IsRobot() || !u.Enabled {
		return core.User{}, false, core.Errorf(core.CodeDenied, "this account is disabled")
	}
	if p.cfg.SuperuserGroup != "" && hasGroups && u.Superuser != superuser {
		if u, err = l.store.UpdateUser(ctx, u.Username, store.UserUpdate{Superuser: &superuser}); err != nil {
			return core.User{}, false, err
		}
		l.log.InfoContext(ctx, "oidc login: superuser status synced from the group claim", "username", u.Username, "superuser", superuser)
	}
	return u, created, nil
}

// claimStrings reads a claim holding a list of strings (or one string).
// ok is false when the claim is absent or of another type.
func claimStrings(c map[string]any, name string) ([]string, bool) {
	if name == "" {
		return nil, false
	}
	switch v := c[name].(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}

// oidcUsername is the username the provider suggests, as Quay picks it: the
// configured claim or preferred_username, else unique_name or upn (Azure
// AD), else the email, else sub; cut at '@'.
func oidcUsername(c map[string]any, claim string) string {
	names := []string{"preferred_username", "unique_name", "upn", "email", "sub"}
	if claim != "" {
		names = append([]string{claim}, names...)
	}
	for _, n := range names {
		if s, _ := c[n].(string); strings.TrimSpace(s) != "" {
			s, _, _ = strings.Cut(strings.TrimSpace(s), "@")
			return s
		}
	}
	return ""
}

// verifiedEmail is the configured claim, or "email" when "email_verified"
// is true; "" when there is none that looks like an address.
func verifiedEmail(c map[string]any, claim string) string {
	var email string
	if claim != "" {
		email, _ = c[claim].(string)
	} else if v, ok := c["email_verified"]; ok && (v == true || v == "true") {
		email, _ = c["email"].(string)
	}
	email = strings.TrimSpace(email)
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || len(email) > 254 || strings.ContainsAny(email, " \t\r\n<>") {
		return ""
	}
	return email
}

// SanitizeUsername turns a name into one that fits Quay's namespace rule
// (2-255 characters of [a-z0-9] with single '.', '_' or '-' between them):
// lower case, other characters become '_', runs of separators collapse to
// their first, separators at the ends go. It keeps at most 249 characters,
// leaving room for a suffix, and may return fewer than two.
func SanitizeUsername(s string) string {
	var b strings.Builder
	sep := true // at the start, a separator is dropped
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			sep = false
		case !sep:
			if r != '.' && r != '-' {
				r = '_'
			}
			b.WriteRune(r)
			sep = true
		}
		if b.Len() >= 249 {
			break
		}
	}
	return strings.TrimRight(b.String(), "._-")
}

// usernameFiller are the characters Quay appends to make names unique.
const usernameFiller = "0123456789abcdefghijklmnopqrstuvwxyz"

// UsernameCandidates lists usernames to try for a suggested name, in order:
// the sanitized name, then that name with one more character appended
// (0-9, a-z, as Quay's generate_valid_usernames), then a few with random
// suffixes. A name shorter than two characters is padded the same way
// ("user" when nothing is left).
func UsernameCandidates(suggested string) []string {
	base := SanitizeUsername(suggested)
	if base == "" {
		base = "user"
	}
	var out []string
	if len(base) >= 2 {
		out = append(out, base)
	}
	for _, r := range usernameFiller {
		out = append(out, base+string(r))
	}
	for range 4 {
		out = append(out, base+RandomString(6, usernameFiller))
	}
	return out
}
