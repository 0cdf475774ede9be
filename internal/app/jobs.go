package app

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/gc"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// Periodic job kinds (the store names the jobs it enqueues itself).
const (
	jobUploadExpiry  = "upload_expiry"
	jobUploadOrphans = "upload_orphans"
)

// openJobs opens the job queue on the store's database: the SQLite file in the
// data directory, or the PostgreSQL database of DB_URI.
func openJobs(ctx context.Context, cfg config.Config, log *slog.Logger) (*jobs.Queue, error) {
	opts := jobs.Options{Log: log}
	if cfg.DBURI == "" {
		return jobs.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "wharf.db"), opts)
	}
	dsn, err := postgresDSN(cfg.DBURI, cfg.DBConnectionArgs)
	if err != nil {
		return nil, err
	}
	return jobs.OpenPostgres(ctx, dsn, opts)
}

// workers are the background jobs this process works (roles worker and all).
func (a *App) workers() jobs.Workers {
	e := &gc.UploadExpirer{Meta: a.db, Blobs: a.blobs, Log: a.log, MaxIdle: a.cfg.BlobUploadExpiration.Std(), Now: time.Now}
	w := jobs.Workers{
		Handlers: map[string]jobs.Handler{
			jobUploadExpiry:       func(ctx context.Context, _ jobs.Job) error { return e.Expire(ctx) },
			jobUploadOrphans:      func(ctx context.Context, _ jobs.Job) error { return e.Sweep(ctx) },
			jobTagExpiry:          a.expireTags,
			store.JobNotification: a.deliverNotification,
			jobAutopruneAll:       a.pruneAll,
			store.JobAutoprune:    a.pruneRepository,
			store.JobQuotaRecount: a.recountUsage,
			store.JobScanManifest: a.scanManifest,
			store.JobRepositoryGC: func(ctx context.Context, j jobs.Job) error {
				var args store.RepositoryGCArgs
				if err := j.Decode(&args); err != nil {
					return err
				}
				return e.DeletedRepository(ctx, args.Repository, args.Uploads)
			},
		},
		Periodic: []jobs.Periodic{
			{Kind: jobTagExpiry, Interval: time.Minute},
			{Kind: jobAutopruneAll, Interval: autoprunePeriod},
			{Kind: jobUploadExpiry, Interval: 10 * time.Minute},
			{Kind: jobUploadOrphans, Interval: 10 * time.Minute},
		},
		Backoff: map[string]func(int) time.Duration{store.JobNotification: a.notificationBackoff()},
	}
	if a.cfg.SecurityScanner {
		w.Handlers[jobScanRequeue] = a.scanRequeue
		w.Periodic = append(w.Periodic, jobs.Periodic{Kind: jobScanRequeue, Interval: scanRequeueInterval})
	}
	if a.cfg.GarbageCollection {
		w.Handlers[jobGC] = a.collectGarbage
		w.Periodic = append(w.Periodic, jobs.Periodic{Kind: jobGC, Interval: gcInterval})
	}
	a.auditWorkers(&w)
	a.eventWorkers(&w)
	a.replicationWorkers(&w)
	a.mirrorWorkers(&w)
	// Last, once every handler is in: count their attempts.
	a.instrumentWorkers(&w)
	return w
}

// workerOnly answers what a worker process serves (health checks and
// metrics) and refuses the registry, the API and the UI.
func workerOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch routeClass(r) {
		case "health", "metrics":
			next.ServeHTTP(w, r)
		default:
			http.Error(w, "this wharf process is a worker (ROLE worker): it serves no registry", http.StatusNotFound)
		}
	})
}
