package api

import (
	"context"
	"net/http"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

// noScope is the scope argument of an endpoint that checks no OAuth scope of
// its own: a token's scopes still cap its role on the repository
// (auth.Authorizer.RepoRole).
const noScope = ""

// accessRepo is the prologue of a repository endpoint: a valid repository
// name from the path, the OAuth scope (unless noScope), and at least role on
// the repository (404 when it does not exist, 401 for anonymous callers, 403
// otherwise). It returns the repository.
func (h *Handler) accessRepo(r *http.Request, p params, scope, role string) (core.Repository, error) {
	name, err := repoName(p)
	if err != nil {
		return core.Repository{}, err
	}
	id := caller(r)
	if scope != noScope {
		if err := requireScope(id, scope); err != nil {
			return core.Repository{}, err
		}
	}
	return h.requireRepoRole(r.Context(), id, name, role)
}

// repoAccess is accessRepo for endpoints that need only the repository's
// name.
func (h *Handler) repoAccess(r *http.Request, p params, scope, role string) (string, error) {
	repo, err := h.accessRepo(r, p, scope, role)
	if err != nil {
		return "", err
	}
	return repo.FullName, nil
}

// repoRoleAtLeast checks the caller's role on a repository and returns the
// repository and that role: a missing repository is 404, an anonymous caller
// below role 401, anyone else below it 403.
func (h *Handler) repoRoleAtLeast(ctx context.Context, id auth.Identity, repo, role string) (core.Repository, string, error) {
	have, r, err := h.authz.RepoRole(ctx, id, repo)
	switch {
	case core.IsCode(err, core.CodeNameUnknown):
		return r, "", errNotFound("repository not found")
	case err != nil:
		return r, "", err
	case core.RoleRank(have) >= core.RoleRank(role):
		return r, have, nil
	case id.IsAnonymous():
		return r, "", errUnauthorized("authentication required")
	}
	return r, "", errForbidden()
}

// requireRepoRole is repoRoleAtLeast without the role.
func (h *Handler) requireRepoRole(ctx context.Context, id auth.Identity, repo, role string) (core.Repository, error) {
	r, _, err := h.repoRoleAtLeast(ctx, id, repo, role)
	return r, err
}

// userOr loads a user (person or robot) by name, answering notFound when
// there is none.
func (h *Handler) userOr(ctx context.Context, name string, notFound error) (core.User, error) {
	u, err := h.db.User(ctx, name)
	if core.IsCode(err, core.CodeNotFound) {
		return u, notFound
	}
	return u, err
}
