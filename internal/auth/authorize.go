package auth

import (
	"context"
	"slices"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// AccessStore is what authorization needs from the metadata store.
type AccessStore interface {
	RepositoryAccess(ctx context.Context, userID int64, repo string) (store.Access, error)
	NamespaceRole(ctx context.Context, userID int64, namespace string) (string, error)
	Namespace(ctx context.Context, name string) (core.Namespace, error)
	RegistryState(ctx context.Context) (string, error)
	IsProxyCacheNamespace(ctx context.Context, namespace string) (bool, error)
}

// AccessPolicy is the part of the configuration that shapes authorization.
type AccessPolicy struct {
	// AnonymousAccess lets anyone pull public repositories
	// (FEATURE_ANONYMOUS_ACCESS).
	AnonymousAccess bool
	// SuperusersFullAccess gives superusers admin on every repository and
	// namespace (FEATURE_SUPERUSERS_FULL_ACCESS).
	SuperusersFullAccess bool
	// CreateNamespaceOnPush creates a missing namespace as an organization
	// when a person pushes to it (CREATE_NAMESPACE_ON_PUSH).
	CreateNamespaceOnPush bool
	// ReadOnly makes the whole registry refuse writes (REGISTRY_STATE:
	// readonly), whatever the switch in the database says.
	ReadOnly bool
	// ProxyCache makes proxy cache organizations pull-only, pullable by
	// their members (FEATURE_PROXY_CACHE).
	ProxyCache bool
}

// Authorizer makes access decisions.
type Authorizer struct {
	store  AccessStore
	policy AccessPolicy
}

// NewAuthorizer returns an authorizer.
func NewAuthorizer(store AccessStore, policy AccessPolicy) *Authorizer {
	return &Authorizer{store: store, policy: policy}
}

// Policy returns the access policy.
func (z *Authorizer) Policy() AccessPolicy { return z.policy }

// scopeCap is the strongest repository role an OAuth token's scopes allow.
func scopeCap(id Identity) string {
	switch {
	case id.Scopes == nil:
		return core.RoleAdmin
	case id.HasScope(ScopeRepoAdmin):
		return core.RoleAdmin
	case id.HasScope(ScopeRepoWrite):
		return core.RoleWrite
	case id.HasScope(ScopeRepoRead):
		return core.RoleRead
	}
	return core.RoleNone
}

func minRole(a, b string) string {
	if core.RoleRank(a) < core.RoleRank(b) {
		return a
	}
	return b
}

// RepoRole returns the caller's role on an existing repository (read, write,
// admin, or "" for none) and the repository. A missing repository is
// core.CodeNameUnknown.
func (z *Authorizer) RepoRole(ctx context.Context, id Identity, repo string) (string, core.Repository, error) {
	a, err := z.store.RepositoryAccess(ctx, id.User.ID, repo)
	if err != nil {
		return "", core.Repository{}, err
	}
	role := a.Role
	if id.Superuser && z.policy.SuperusersFullAccess {
		role = core.RoleAdmin
	}
	role = minRole(role, scopeCap(id))
	if a.Repo.Visibility == core.VisibilityPublic && (!id.IsAnonymous() || z.policy.AnonymousAccess) {
		role = core.MaxRole(role, core.RoleRead)
	}
	return role, a.Repo, nil
}

// CanRead reports whether the caller may read an existing repository.
func (z *Authorizer) CanRead(ctx context.Context, id Identity, repo string) bool {
	role, _, err := z.RepoRole(ctx, id, repo)
	return err == nil && core.RoleRank(role) >= core.RoleRank(core.RoleRead)
}

// CanCreate reports whether the caller may create repositories in a
// namespace, and whether the namespace would have to be created.
func (z *Authorizer) CanCreate(ctx context.Context, id Identity, namespace string) (ok, createNamespace bool, err error) {
	if id.IsAnonymous() || !id.HasScope(ScopeRepoCreate) {
		return false, false, nil
	}
	if _, err := z.store.Namespace(ctx, namespace); err != nil {
		if !core.IsCode(err, core.CodeNotFound) {
			return false, false, err
		}
		ok := z.policy.CreateNamespaceOnPush && !id.User.IsRobot() && oci.ValidateName(namespace) == nil
		return ok, ok, nil
	}
	if id.Superuser && z.policy.SuperusersFullAccess {
		return true, false, nil
	}
	role, err := z.store.NamespaceRole(ctx, id.User.ID, namespace)
	if err != nil {
		return false, false, err
	}
	return role == core.TeamAdmin || role == core.TeamCreator, false, nil
}

// NamespaceRole returns the caller's role in a namespace (admin, creator,
// member or ""), with superusers admin when they have full access.
func (z *Authorizer) NamespaceRole(ctx context.Context, id Identity, namespace string) (string, error) {
	if id.IsAnonymous() {
		return "", nil
	}
	if id.Superuser && z.policy.SuperusersFullAccess {
		return core.TeamAdmin, nil
	}
	return z.store.NamespaceRole(ctx, id.User.ID, namespace)
}

// IsNamespaceAdmin reports whether the caller administers a namespace (owner
// of a user namespace, member of an admin team, or a superuser with full
// access). OAuth tokens need the org:admin scope for an organization and
// user:admin for their own namespace, as Quay requires.
func (z *Authorizer) IsNamespaceAdmin(ctx context.Context, id Identity, namespace string) (bool, error) {
	role, err := z.NamespaceRole(ctx, id, namespace)
	if err != nil || role != core.TeamAdmin {
		return false, err
	}
	ns, err := z.store.Namespace(ctx, namespace)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return false, nil
		}
		return false, err
	}
	if ns.IsOrg() {
		return id.HasScope(ScopeOrgAdmin), nil
	}
	return id.HasScope(ScopeUserAdmin), nil
}

// Registry actions.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*"
)

// RepositoryActions returns which of the requested registry actions the
// caller may perform on a repository; the rest are silently dropped, as
// Docker clients expect. Push on a missing repository is granted when the
// caller may create it there.
func (z *Authorizer) RepositoryActions(ctx context.Context, id Identity, repo string, requested []string) ([]string, error) {
	role, r, err := z.RepoRole(ctx, id, repo)
	exists := err == nil
	if err != nil && !core.IsCode(err, core.CodeNameUnknown) {
		return nil, err
	}
	if !exists {
		ns, _ := oci.SplitName(repo)
		ok, _, err := z.CanCreate(ctx, id, ns)
		if err != nil {
			return nil, err
		}
		if ok {
			role = core.RoleAdmin
		}
	}
	// A proxy cache organization (Quay's): members pull, and the first pull
	// creates the repository; nobody pushes.
	proxy, err := z.isProxyCache(ctx, repo)
	if err != nil {
		return nil, err
	}
	if proxy && core.RoleRank(role) < core.RoleRank(core.RoleRead) {
		ns, _ := oci.SplitName(repo)
		if nsRole, err := z.NamespaceRole(ctx, id, ns); err != nil {
			return nil, err
		} else if nsRole != "" && id.HasScope(ScopeRepoRead) {
			role = core.RoleRead
		}
	}
	writable := (!exists || r.State == core.RepoStateNormal) && !proxy
	if writable && (slices.Contains(requested, ActionPush) || slices.Contains(requested, ActionDelete)) {
		if err := z.RegistryWritable(ctx); err != nil {
			if !core.IsCode(err, core.CodeReadOnly) {
				return nil, err
			}
			writable = false
		}
	}
	granted := []string{}
	for _, act := range requested {
		var ok bool
		switch act {
		case ActionPull:
			ok = core.RoleRank(role) >= core.RoleRank(core.RoleRead)
		case ActionPush, ActionDelete:
			ok = core.RoleRank(role) >= core.RoleRank(core.RoleWrite) && writable
		case ActionAll:
			ok = role == core.RoleAdmin
		}
		if ok && !slices.Contains(granted, act) {
			granted = append(granted, act)
		}
	}
	return granted, nil
}

// RegistryWritable returns a core.CodeReadOnly error when the whole registry
// refuses writes: REGISTRY_STATE is readonly in the configuration, or a
// superuser switched it through the API (stored in the database, so every
// replica sees it). Reads continue.
func (z *Authorizer) RegistryWritable(ctx context.Context) error {
	if z.policy.ReadOnly {
		return errRegistryReadOnly()
	}
	st, err := z.store.RegistryState(ctx)
	if err != nil {
		return err
	}
	if st == core.RegistryStateReadOnly {
		return errRegistryReadOnly()
	}
	return nil
}

func errRegistryReadOnly() error {
	return core.Errorf(core.CodeReadOnly,
		"System is currently read-only. Pulls will succeed but all write operations are currently suspended.")
}

// RepositoryWritable returns a core.CodeReadOnly error when a repository's
// state refuses writes (READ_ONLY, or MIRROR: only the mirror writes there).
func RepositoryWritable(r core.Repository) error {
	switch r.State {
	case core.RepoStateNormal, "":
		return nil
	case core.RepoStateMirror:
		return core.Errorf(core.CodeReadOnly, "%s is a mirror: only the mirror writes to it", r.FullName)
	default:
		return core.Errorf(core.CodeReadOnly, "%s is in read-only mode.", r.FullName)
	}
}

// WriteRefusal explains why a caller whose role lets them write to a
// repository may not write now: the registry or the repository is read-only
// (core.CodeReadOnly). It returns nil when nothing but the caller's role
// stands in the way, so callers without the role learn nothing about the
// repository's state.
func (z *Authorizer) WriteRefusal(ctx context.Context, id Identity, repo string) error {
	if proxy, err := z.isProxyCache(ctx, repo); err != nil || proxy {
		if err != nil {
			return err
		}
		ns, _ := oci.SplitName(repo)
		return core.Errorf(core.CodeDenied, "%s is a proxy cache organization: pushes are refused", ns)
	}
	role, r, err := z.RepoRole(ctx, id, repo)
	if err != nil {
		if core.IsCode(err, core.CodeNameUnknown) {
			return z.RegistryWritable(ctx)
		}
		return err
	}
	if core.RoleRank(role) < core.RoleRank(core.RoleWrite) {
		return nil
	}
	if err := z.RegistryWritable(ctx); err != nil {
		return err
	}
	return RepositoryWritable(r)
}

// isProxyCache reports whether repo's namespace is a proxy cache
// organization (never with FEATURE_PROXY_CACHE off).
func (z *Authorizer) isProxyCache(ctx context.Context, repo string) (bool, error) {
	if !z.policy.ProxyCache {
		return false, nil
	}
	ns, _ := oci.SplitName(repo)
	return z.store.IsProxyCacheNamespace(ctx, ns)
}
