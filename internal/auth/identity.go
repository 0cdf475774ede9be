package auth

import (
	"slices"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

// How a caller authenticated.
const (
	MethodAnonymous = "anonymous"
	MethodPassword  = "password"
	MethodRobot     = "robot"
	MethodAppToken  = "app_token"
	MethodOAuth     = "oauth"
	MethodSession   = "session"
	MethodFederated = "federated"
)

// Quay's OAuth scopes.
const (
	ScopeRepoRead   = "repo:read"
	ScopeRepoWrite  = "repo:write"
	ScopeRepoAdmin  = "repo:admin"
	ScopeRepoCreate = "repo:create"
	ScopeUserRead   = "user:read"
	ScopeUserAdmin  = "user:admin"
	ScopeOrgAdmin   = "org:admin"
	ScopeSuperUser  = "super:user"
)

// AllScopes lists every OAuth scope, in Quay's order.
var AllScopes = []string{ScopeRepoRead, ScopeRepoWrite, ScopeRepoAdmin, ScopeRepoCreate, ScopeUserRead, ScopeUserAdmin, ScopeOrgAdmin, ScopeSuperUser}

// ValidScopes reports whether every scope in a space-separated list is known.
func ValidScopes(scope string) bool {
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return false
	}
	for _, s := range fields {
		if !slices.Contains(AllScopes, s) {
			return false
		}
	}
	return true
}

// Identity is an authenticated (or anonymous) caller.
type Identity struct {
	User   core.User // zero for anonymous
	Method string
	// Scopes limit an OAuth token; nil means unlimited (passwords, sessions).
	Scopes []string
	// Superuser is set for superusers (database flag or SUPER_USERS).
	Superuser bool
}

// Anonymous is the identity of an unauthenticated caller.
var Anonymous = Identity{Method: MethodAnonymous}

// IsAnonymous reports whether nobody authenticated.
func (id Identity) IsAnonymous() bool { return id.User.ID == 0 }

// HasScope reports whether the identity may use an OAuth scope. Identities
// without scopes (passwords, sessions) have all of them.
func (id Identity) HasScope(scope string) bool {
	if id.Scopes == nil {
		return true
	}
	return slices.Contains(id.Scopes, scope)
}

// Name is the username, or "(anonymous)".
func (id Identity) Name() string {
	if id.IsAnonymous() {
		return "(anonymous)"
	}
	return id.User.Username
}

// Kind is "user", "robot" or "anonymous".
func (id Identity) Kind() string {
	switch {
	case id.IsAnonymous():
		return "anonymous"
	case id.User.IsRobot():
		return "robot"
	}
	return "user"
}
