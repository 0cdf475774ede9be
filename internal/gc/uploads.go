package gc

import (
	"context"
	"log/slog"
	"time"
)

// UploadStore is what upload expiry needs from the metadata store.
type UploadStore interface {
	StaleUploads(ctx context.Context, before time.Time, limit int) ([]string, error)
	DeleteUpload(ctx context.Context, id string) error
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

// Run calls RunOnce every interval until ctx ends.
func (e *UploadExpirer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := e.RunOnce(ctx, 500); err != nil {
			e.Log.WarnContext(ctx, "expiring upload sessions", "err", err)
		} else if n > 0 {
			e.Log.InfoContext(ctx, "expired upload sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
