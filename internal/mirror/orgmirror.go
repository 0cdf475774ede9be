package mirror

import (
	"context"
	"log/slog"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Organization mirroring: an organization follows the repositories of an
// upstream namespace. A discovery lists the upstream (its catalog, or the
// configured list of repositories), keeps the repositories whose name below
// the namespace matches the repository filter, and creates for each one
// that has no local repository yet a repository of the same name in state
// MIRROR with a repository mirror of the organization mirror's settings.
// From then on each repository mirror syncs on its own schedule.

// OrgMeta is what a discovery needs from the store.
type OrgMeta interface {
	OrgMirrorByID(ctx context.Context, nsID int64) (store.OrgMirror, error)
	AdoptOrgMirrorRepositories(ctx context.Context, nsID int64, repos []store.OrgMirrorRepo) ([]string, error)
	OrgMirrorDiscoveryFailed(ctx context.Context, nsID int64, msg string) error
	ClaimDueOrgMirrors(ctx context.Context, limit int) (int, error)
}

// Discoverer runs organization mirror discoveries.
type Discoverer struct {
	Meta OrgMeta
	// Box opens the sealed upstream credentials.
	Box *auth.Box
	Log *slog.Logger
}

// Schedule enqueues the discoveries that are due (part of the periodic
// scheduling job).
func (d *Discoverer) Schedule(ctx context.Context) error {
	n, err := d.Meta.ClaimDueOrgMirrors(ctx, 100)
	if err == nil && n > 0 {
		d.Log.InfoContext(ctx, "organization mirror discoveries scheduled", "count", n)
	}
	return err
}

// Run is the body of store.JobOrgMirrorDiscover. An upstream that cannot be
// listed is recorded as the mirror's last error; the next discovery tries
// again.
func (d *Discoverer) Run(ctx context.Context, args store.OrgMirrorArgs) error {
	m, err := d.Meta.OrgMirrorByID(ctx, args.NamespaceID)
	if core.IsCode(err, core.CodeNotFound) {
		return nil
	}
	if err != nil || !m.IsEnabled {
		return err
	}
	log := d.Log.With("organization", m.Namespace, "upstream", m.ExternalRegistry+"/"+m.ExternalNamespace)
	repos, err := d.Discover(ctx, m)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		log.WarnContext(ctx, "organization mirror discovery failed", "err", err)
		return d.Meta.OrgMirrorDiscoveryFailed(ctx, m.NamespaceID, err.Error())
	}
	created, err := d.Meta.AdoptOrgMirrorRepositories(ctx, m.NamespaceID, repos)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "organization mirror discovery finished", "upstream_repositories", len(repos), "created", len(created))
	return nil
}

// Discover lists the upstream repositories the organization mirror follows,
// sorted by name.
func (d *Discoverer) Discover(ctx context.Context, m store.OrgMirror) ([]store.OrgMirrorRepo, error) {
	names := m.Repositories
	if len(names) == 0 {
		var err error
		if names, err = d.catalog(ctx, m); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	var out []store.OrgMirrorRepo
	for _, rel := range names {
		if seen[rel] || !MatchTag(m.RepositoryFilter, rel) || oci.ValidateName(m.Namespace+"/"+rel) != nil {
			continue
		}
		seen[rel] = true
		out = append(out, store.OrgMirrorRepo{Name: rel,
			ExternalReference: m.ExternalRegistry + "/" + m.ExternalNamespace + "/" + rel})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// catalog reads the upstream's catalog and returns the names below the
// mirror's namespace.
func (d *Discoverer) catalog(ctx context.Context, m store.OrgMirror) ([]string, error) {
	var user, pass string
	var err error
	if m.UsernameEnc != "" {
		if user, err = d.Box.Open(m.UsernameEnc); err != nil {
			return nil, errorf("opening the upstream username: %w", err)
		}
	}
	if m.PasswordEnc != "" {
		if pass, err = d.Box.Open(m.PasswordEnc); err != nil {
			return nil, errorf("opening the upstream password: %w", err)
		}
	}
	cfg, err := ParseRegistryConfig(m.RegistryConfig)
	if err != nil {
		return nil, err
	}
	up, err := NewUpstream(m.ExternalRegistry+"/"+m.ExternalNamespace, user, pass, cfg)
	if err != nil {
		return nil, err
	}
	opts, err := up.options(ctx)
	if err != nil {
		return nil, err
	}
	all, err := remote.Catalog(ctx, up.Repository.Registry, opts...)
	if err != nil {
		return nil, errorf("listing the upstream catalog: %w", err)
	}
	prefix := m.ExternalNamespace + "/"
	var out []string
	for _, n := range all {
		if rel, ok := strings.CutPrefix(n, prefix); ok && rel != "" {
			out = append(out, rel)
		}
	}
	return out, nil
}

// OrgSource validates an organization mirror's upstream: a registry host
// and a namespace path on it.
func (Validator) OrgSource(registry, namespace string) error {
	if strings.Contains(registry, "/") {
		return invalid("external_registry must be a host such as quay.io or 127.0.0.1:5000")
	}
	if namespace == "" || strings.HasPrefix(namespace, "/") || strings.HasSuffix(namespace, "/") {
		return invalid("external_namespace must be a path such as library or team/images")
	}
	_, err := ParseExternalReference(registry + "/" + namespace)
	return err
}

// RepositoryFilter validates repository_filter: glob patterns matched
// against the names below the upstream namespace (* does not cross /).
// Empty means every repository.
func (Validator) RepositoryFilter(values []string) ([]string, error) {
	if len(values) == 0 {
		return []string{"*"}, nil
	}
	return ParseTagPatterns(values)
}

// RepositoryNames validates repositories, the upstream repositories (names
// below the namespace) to follow without reading the catalog.
func (Validator) RepositoryNames(values []string) ([]string, error) {
	if len(values) > maxPatterns {
		return nil, invalid("repositories holds more than %d names", maxPatterns)
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		v = strings.TrimSpace(v)
		if err := oci.ValidateName("org/" + v); err != nil || v == "" {
			return nil, invalid("invalid repository name %q", shorten(v))
		}
		out = append(out, v)
	}
	return out, nil
}
