package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob/geo"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// Storage replication (FEATURE_STORAGE_REPLICATION): the blob store is a
// *geo.Store over every location (storage.go), the store records where
// each blob is and enqueues store.JobReplicateBlob for every copy to make,
// and the job below copies the bytes.

// replicationOptions is the store's replication configuration; nil when
// replication is off.
func replicationOptions(cfg config.Config) *store.Replication {
	if !cfg.StorageReplication || len(cfg.Storage) == 0 {
		return nil
	}
	names := cfg.StorageLocationNames()
	return &store.Replication{Local: names[0], Locations: names, Defaults: cfg.StorageDefaultLocations}
}

// localCopyRequester asks for a local copy of a blob that a read had to
// stream from another location.
func localCopyRequester(db *store.DB, log *slog.Logger) func(context.Context, digest.Digest, string) {
	return func(ctx context.Context, d digest.Digest, from string) {
		if err := db.RequestLocalCopy(context.WithoutCancel(ctx), d); err != nil {
			log.WarnContext(ctx, "asking for a local copy of a blob read from another location", "digest", d, "from", from, "err", err)
		}
	}
}

// deletionRecorder remembers a collected blob's copy that a location
// could not delete (it is unreachable), so garbage collection goes on with
// the other blobs and the jobBlobDeletions job deletes it later.
func deletionRecorder(db *store.DB, log *slog.Logger) func(context.Context, digest.Digest, string, error) error {
	return func(ctx context.Context, d digest.Digest, loc string, err error) error {
		if rerr := db.RecordBlobDeletion(context.WithoutCancel(ctx), d, loc); rerr != nil {
			return errors.Join(err, rerr)
		}
		log.WarnContext(ctx, "could not delete a blob copy; it is deleted later", "digest", d, "location", loc, "err", err)
		return nil
	}
}

// geoBlobs is the blob store over every location, or nil when replication
// is off.
func (a *App) geoBlobs() *geo.Store {
	g, _ := a.blobs.(*geo.Store)
	return g
}

// replicationWorkers registers the replication job on workers of a
// registry with replication on.
func (a *App) replicationWorkers(w *jobs.Workers) {
	if a.geoBlobs() == nil {
		return
	}
	w.Handlers[store.JobReplicateBlob] = a.replicateBlob
	w.Handlers[jobBlobDeletions] = a.retryBlobDeletions
	w.Periodic = append(w.Periodic, jobs.Periodic{Kind: jobBlobDeletions, Interval: time.Minute})
	if w.Backoff == nil {
		w.Backoff = map[string]func(int) time.Duration{}
	}
	// 1s, 2s, 4s, ... up to 5 minutes: a location that is down for a
	// while is retried at a steady pace.
	w.Backoff[store.JobReplicateBlob] = func(attempt int) time.Duration {
		d := time.Second
		for i := 1; i < attempt && d < 5*time.Minute; i++ {
			d *= 2
		}
		return min(d, 5*time.Minute)
	}
}

// jobBlobDeletions is the periodic job deleting the copies of collected
// blobs that a location could not delete at the time.
const jobBlobDeletions = "blob_deletions"

// retryBlobDeletions deletes a batch of recorded copies, skipping a
// location after its first failure, and keeps the bytes of blobs stored
// again since.
func (a *App) retryBlobDeletions(ctx context.Context, _ jobs.Job) error {
	g := a.geoBlobs()
	if g == nil {
		return nil
	}
	list, again, err := a.db.BlobDeletions(ctx, 500)
	if err != nil {
		return err
	}
	down := map[string]bool{}
	for i, bd := range list {
		if down[bd.Location] {
			continue
		}
		if !again[i] && slices.Contains(g.Names(), bd.Location) {
			if err := g.DeleteAt(ctx, bd.Location, bd.Digest); err != nil {
				down[bd.Location] = true
				continue
			}
		}
		if err := a.db.FinishBlobDeletion(ctx, bd.Digest, bd.Location); err != nil {
			return err
		}
	}
	return nil
}

// replicateBlob is the handler of store.JobReplicateBlob: copy the blob to
// the location unless it is already there or no longer wanted, then record
// it. Running it twice is harmless.
func (a *App) replicateBlob(ctx context.Context, j jobs.Job) error {
	var args store.ReplicateBlobArgs
	if err := j.Decode(&args); err != nil {
		return err
	}
	g := a.geoBlobs()
	if g == nil {
		return errors.New("storage replication is off on this worker")
	}
	wanted, err := a.db.PlacementWanted(ctx, args.Digest, args.Location)
	if err != nil || !wanted {
		return err
	}
	if !slices.Contains(g.Names(), args.Location) {
		// The location was removed from the configuration: retrying
		// cannot help; a backfill asks again once it is back.
		return a.db.MarkPlacementFailed(ctx, args.Digest, args.Location, "storage location not configured")
	}
	if err := g.Replicate(ctx, args.Digest, args.Location); err != nil {
		if merr := a.db.MarkPlacementFailed(context.WithoutCancel(ctx), args.Digest, args.Location, err.Error()); merr != nil {
			return errors.Join(err, merr)
		}
		return err
	}
	ok, err := a.db.MarkPlacementPresent(ctx, args.Digest, args.Location)
	if err != nil {
		return err
	}
	if !ok {
		// The blob was garbage collected while it was copied: remove the
		// copy, which nothing records.
		return g.DeleteAt(ctx, args.Location, args.Digest)
	}
	return nil
}

// ReplicationBackfill is what `wharf admin replicate backfill` did.
type ReplicationBackfill struct {
	Blobs, Enqueued int
}

// BackfillReplication enqueues a copy of every blob to every location it
// must reach and is not recorded at (blobs stored before replication was
// turned on, or whose copy failed), batch blobs per transaction.
func (a *App) BackfillReplication(ctx context.Context, batch int) (ReplicationBackfill, error) {
	var total ReplicationBackfill
	cursor := ""
	for {
		b, err := a.db.BackfillReplication(ctx, cursor, batch)
		if err != nil {
			return total, err
		}
		total.Blobs += b.Blobs
		total.Enqueued += b.Enqueued
		if b.Next == "" {
			return total, nil
		}
		cursor = b.Next
	}
}

// ReplicationStatus counts the blobs present, pending and failed per
// location (wharf admin replicate status).
func (a *App) ReplicationStatus(ctx context.Context) (store.ReplicationStatus, error) {
	return a.db.ReplicationStatus(ctx)
}
