package gc

import (
	"context"
	"log/slog"

	"github.com/wharfhq/wharf/internal/core"
)

// PruneStore is what auto-pruning needs from the metadata store.
type PruneStore interface {
	AutopruneRepositories(ctx context.Context, all bool, after int64, limit int) ([]int64, error)
	PruneRepository(ctx context.Context, repoID int64, defaults []core.AutoprunePolicy) ([]string, error)
}

// Pruner applies auto-prune policies (Quay 3.13): after a push to one
// repository, and periodically to every repository a policy applies to.
// Pruned tags end as deletes do; the time machine keeps their history.
type Pruner struct {
	Meta PruneStore
	Log  *slog.Logger
	// Defaults are the registry-wide policies, for namespaces without
	// policies of their own.
	Defaults []core.AutoprunePolicy
	// Paused reports whether background writers must wait (the registry is
	// read-only); nil means never.
	Paused func(ctx context.Context) bool
}

// pruneBatch bounds the repositories listed at once.
const pruneBatch = 200

// PruneRepository prunes one repository. It is safe to run again.
func (p *Pruner) PruneRepository(ctx context.Context, repoID int64) error {
	if p.Paused != nil && p.Paused(ctx) {
		return nil
	}
	pruned, err := p.Meta.PruneRepository(ctx, repoID, p.Defaults)
	if err != nil {
		return err
	}
	if len(pruned) > 0 {
		p.Log.InfoContext(ctx, "auto-pruned tags", "repository_id", repoID, "count", len(pruned))
	}
	return nil
}

// PruneAll prunes every repository that a policy (or a default) applies
// to, one transaction per repository, until done or ctx ends.
func (p *Pruner) PruneAll(ctx context.Context) error {
	if p.Paused != nil && p.Paused(ctx) {
		return nil
	}
	var after int64
	for ctx.Err() == nil {
		ids, err := p.Meta.AutopruneRepositories(ctx, len(p.Defaults) > 0, after, pruneBatch)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := p.PruneRepository(ctx, id); err != nil {
				return err
			}
			after = id
		}
		if len(ids) < pruneBatch {
			break
		}
	}
	return ctx.Err()
}
