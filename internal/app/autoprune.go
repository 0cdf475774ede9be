package app

import (
	"context"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/gc"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// jobAutopruneAll applies the auto-prune policies to every repository they
// cover (periodic); pushes ask for store.JobAutoprune of their repository.
const jobAutopruneAll = "autoprune_all"

// autoprunePeriod is how often every repository is pruned.
const autoprunePeriod = 10 * time.Minute

// pruner runs auto-prune policies; it pauses while the registry is
// read-only.
func (a *App) pruner() *gc.Pruner {
	var defaults []core.AutoprunePolicy
	if p := a.cfg.DefaultAutoprunePolicy; p != nil {
		defaults = []core.AutoprunePolicy{{Method: p.Method, Value: p.Value}}
	}
	return &gc.Pruner{Meta: a.db, Log: a.log, Defaults: defaults,
		Paused: func(ctx context.Context) bool { return a.authz.RegistryWritable(ctx) != nil }}
}

// pruneAll is the body of the periodic auto-prune job.
func (a *App) pruneAll(ctx context.Context, _ jobs.Job) error {
	return a.pruner().PruneAll(ctx)
}

// pruneRepository is the body of the job a push enqueues.
func (a *App) pruneRepository(ctx context.Context, j jobs.Job) error {
	var args store.AutopruneArgs
	if err := j.Decode(&args); err != nil {
		return err
	}
	return a.pruner().PruneRepository(ctx, args.RepositoryID)
}

// recountUsage is the body of the job that rebuilds a namespace's storage
// usage (asked for through the quota API).
func (a *App) recountUsage(ctx context.Context, j jobs.Job) error {
	var args store.QuotaRecountArgs
	if err := j.Decode(&args); err != nil {
		return err
	}
	used, err := a.db.RecountNamespaceUsage(ctx, args.Namespace)
	if core.IsCode(err, core.CodeNotFound) {
		return nil // the namespace went meanwhile
	}
	if err != nil {
		return err
	}
	a.log.InfoContext(ctx, "recounted namespace usage", "namespace", args.Namespace, "bytes", used)
	return nil
}
