package gc

import (
	"context"

	"github.com/wharfhq/wharf/internal/blob"
	"log/slog"
	"time"
)

// UploadStore is what upload expiry needs from the metadata store.
type UploadStore interface {
	StaleUploads(ctx context.Context, before time.Time, limit int) ([]string, error)
	DeleteUpload(ctx context.Context, id string) error
	UploadExists(ctx context.Context, id string) (bool, error)
}

// UploadBlobs is what upload expiry needs from the blob store.
type UploadBlobs interface {
	CancelUpload(ctx context.Context, id string) error
}

// UploadExpirer deletes idle upload sessions.
type UploadExpirer struct {
	Meta    UploadStore
	Blobs   UploadBlobs
	Log     *slog.Logger
	MaxIdle time.Duration
	Now     func() time.Time
}

// RunOnce expires up to batch idle sessions and returns how many it removed.
func (e *UploadExpirer) RunOnce(ctx context.Context, batch int) (int, error) {
	ids, err := e.Meta.StaleUploads(ctx, e.Now().Add(-e.MaxIdle), batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		// Bytes first: a row without bytes is harmless (the session answers
		// unknown), bytes without a row would never be found again.
		if err := e.Blobs.CancelUpload(ctx, id); err != nil {
			return n, err
		}
		if err := e.Meta.DeleteUpload(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// orphanAge is how old the bytes of a session without a database row must be
// before they are removed: such bytes come from a monolithic upload in
// progress (which never gets a row) or from a crash.
const orphanAge = time.Hour

// SweepOrphans removes upload sessions whose bytes exist in the blob store but
// which the database does not know, once they are older than an hour.
func (e *UploadExpirer) SweepOrphans(ctx context.Context) (int, error) {
	lister, ok := e.Blobs.(blob.UploadLister)
	if !ok {
		return 0, nil
	}
	ids, err := lister.Uploads(ctx, e.Now().Add(-orphanAge))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		known, err := e.Meta.UploadExists(ctx, id)
		if err != nil {
			return n, err
		}
		if known {
			continue
		}
		if err := e.Blobs.CancelUpload(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Run calls RunOnce and SweepOrphans every interval until ctx ends.
func (e *UploadExpirer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := e.RunOnce(ctx, 500); err != nil {
			e.Log.WarnContext(ctx, "expiring upload sessions", "err", err)
		} else if n > 0 {
			e.Log.InfoContext(ctx, "expired upload sessions", "count", n)
		}
		if n, err := e.SweepOrphans(ctx); err != nil {
			e.Log.WarnContext(ctx, "removing orphaned upload sessions", "err", err)
		} else if n > 0 {
			e.Log.InfoContext(ctx, "removed orphaned upload sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
