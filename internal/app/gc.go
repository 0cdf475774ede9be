package app

import (
	"context"
	"time"

	"github.com/wharfhq/wharf/internal/gc"
	"github.com/wharfhq/wharf/internal/jobs"
)

// jobGC is the periodic garbage-collection job: one bounded batch of
// manifests and one of blobs per run.
const jobGC = "gc"

// gcInterval is how often the GC job runs.
const gcInterval = 30 * time.Second

// collector is the garbage collector of this registry. It pauses while the
// registry is read-only.
func (a *App) collector() *gc.Collector {
	return &gc.Collector{Meta: a.db, Blobs: a.blobs, Log: a.log,
		Grace: a.cfg.GarbageCollectionGrace.Std(), DefaultWindow: a.cfg.DefaultTagExpiration.Std(),
		Paused: func(ctx context.Context) bool { return a.authz.RegistryWritable(ctx) != nil }}
}

// collectGarbage is the body of the GC job.
func (a *App) collectGarbage(ctx context.Context, _ jobs.Job) error {
	rep, err := a.collector().RunOnce(ctx)
	if a.work != nil {
		a.work.gc(rep, err)
	}
	return err
}

// GarbageReport is what `wharf admin gc` removed or, dry, would remove.
type GarbageReport = gc.Report

// CollectGarbage runs a full garbage-collection pass now (wharf admin gc);
// dry, it only reports what the pass would remove.
func (a *App) CollectGarbage(ctx context.Context, dry bool) (GarbageReport, error) {
	return a.collector().Full(ctx, dry)
}
