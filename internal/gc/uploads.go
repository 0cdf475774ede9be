package gc

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/wharfhq/wharf/internal/blob"
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

// Expire is the periodic job that expires idle sessions: RunOnce in batches
// of 500 until a batch comes back short (at most 20 batches a run).
func (e *UploadExpirer) Expire(ctx context.Context) error {
	total := 0
	for i := 0; i < 20; i++ {
		n, err := e.RunOnce(ctx, 500)
		total += n
		if err != nil {
			return fmt.Errorf("expiring upload sessions (%d removed): %w", total, err)
		}
		if n < 500 {
			break
		}
	}
	if total > 0 {
		e.Log.InfoContext(ctx, "expired upload sessions", "count", total)
	}
	return nil
}

// Sweep is the periodic job that removes orphaned session bytes
// (SweepOrphans).
func (e *UploadExpirer) Sweep(ctx context.Context) error {
	n, err := e.SweepOrphans(ctx)
	if err != nil {
		return fmt.Errorf("removing orphaned upload sessions (%d removed): %w", n, err)
	}
	if n > 0 {
		e.Log.InfoContext(ctx, "removed orphaned upload sessions", "count", n)
	}
	return nil
}

// DeletedRepository removes what a deleted repository leaves in blob
// storage: the bytes of its upload sessions, whose rows went with it. A
// session the database knows again is left alone. It is safe to run twice.
func (e *UploadExpirer) DeletedRepository(ctx context.Context, repo string, uploads []string) error {
	n := 0
	for _, id := range uploads {
		known, err := e.Meta.UploadExists(ctx, id)
		if err != nil {
			return err
		}
		if known {
			continue
		}
		if err := e.Blobs.CancelUpload(ctx, id); err != nil {
			return fmt.Errorf("repository %s: removing upload %s: %w", repo, id, err)
		}
		n++
	}
	if n > 0 {
		e.Log.InfoContext(ctx, "removed upload sessions of a deleted repository", "repository", repo, "count", n)
	}
	return nil
}
