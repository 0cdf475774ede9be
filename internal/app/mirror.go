package app

import (
	"context"
	"errors"
	"time"

	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/mirror"
	"github.com/wharfhq/wharf/internal/store"
)

// jobMirrorSchedule claims the mirrors whose sync is due and enqueues their
// store.JobMirrorSync jobs, and the organization mirrors whose discovery is
// due with their store.JobOrgMirrorDiscover jobs (periodic, every
// REPO_MIRROR_INTERVAL).
const jobMirrorSchedule = "mirror_schedule"

// mirrorValidator validates mirror settings for the API; nil (the API
// answers 404) when FEATURE_REPO_MIRROR is off.
func (a *App) mirrorValidator() api.Mirrors {
	if !a.cfg.RepoMirror {
		return nil
	}
	return mirror.Validator{Lease: mirror.DefaultLease}
}

// syncer runs repository mirror syncs.
func (a *App) syncer() *mirror.Syncer {
	return &mirror.Syncer{Meta: a.db, Blobs: a.blobs, Box: a.box, Log: a.log, MaxBlobSize: a.cfg.MaxBlobSizeBytes,
		Lease: mirror.DefaultLease}
}

// mirrorWorkers adds the mirror jobs when FEATURE_REPO_MIRROR is on. A
// sync attempt that failed is retried after a growing pause; the sync
// itself counts its retries (store.MirrorMaxRetries).
func (a *App) mirrorWorkers(w *jobs.Workers) {
	if !a.cfg.RepoMirror {
		return
	}
	s := a.syncer()
	w.Handlers[store.JobMirrorSync] = func(ctx context.Context, j jobs.Job) error {
		var args store.MirrorSyncArgs
		if err := j.Decode(&args); err != nil {
			return err
		}
		return s.Run(ctx, args, j.Attempt)
	}
	d := &mirror.Discoverer{Meta: a.db, Box: a.box, Log: a.log}
	w.Handlers[store.JobOrgMirrorDiscover] = func(ctx context.Context, j jobs.Job) error {
		var args store.OrgMirrorArgs
		if err := j.Decode(&args); err != nil {
			return err
		}
		if a.authz.RegistryWritable(ctx) != nil {
			return nil // a read-only registry creates no repositories
		}
		return d.Run(ctx, args)
	}
	w.Handlers[jobMirrorSchedule] = func(ctx context.Context, _ jobs.Job) error {
		if a.authz.RegistryWritable(ctx) != nil {
			return nil // a read-only registry syncs nothing
		}
		return errors.Join(s.Schedule(ctx), d.Schedule(ctx))
	}
	w.Periodic = append(w.Periodic, jobs.Periodic{Kind: jobMirrorSchedule, Interval: max(a.cfg.RepoMirrorInterval.Std(), time.Second)})
	if w.Backoff == nil {
		w.Backoff = map[string]func(int) time.Duration{}
	}
	w.Backoff[store.JobMirrorSync] = func(attempt int) time.Duration { return min(time.Duration(attempt)*10*time.Second, 5*time.Minute) }
}

// ExportReport and ImportReport say what wharf admin export and import did.
type (
	ExportReport  = mirror.ExportReport
	ImportReport  = mirror.ImportReport
	ImportOptions = mirror.ImportOptions
)

// Export writes repositories (namespace/repo[:tag]) with their referrers to
// an OCI image layout directory, or a tar of one when output ends in .tar
// (wharf admin export). It only reads the store and the blobs.
func (a *App) Export(ctx context.Context, refs []string, output string) (ExportReport, error) {
	return (&mirror.Exporter{Meta: a.db, Blobs: a.blobs}).Export(ctx, refs, output)
}

// Import reads an OCI image layout (directory or tar) into this Wharf
// (wharf admin import), verifying every digest; importing twice changes
// nothing.
func (a *App) Import(ctx context.Context, src string, opts ImportOptions) (ImportReport, error) {
	return (&mirror.Importer{Meta: a.db, Blobs: a.blobs, MaxBlobSize: a.cfg.MaxBlobSizeBytes}).Import(ctx, src, opts)
}
