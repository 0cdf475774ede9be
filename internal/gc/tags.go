package gc

import (
	"context"
	"log/slog"
	"time"
)

// TagStore is what tag expiry needs from the metadata store.
type TagStore interface {
	ExpireTags(ctx context.Context, now time.Time, limit int) (int, error)
}

// TagExpirer ends tags whose expiry has passed (set through the API or the
// quay.expires-after label). Reads treat such tags as gone already; ending
// their rows turns them into history, restorable within the time machine.
type TagExpirer struct {
	Meta TagStore
	Log  *slog.Logger
	Now  func() time.Time
	// Paused reports whether background writers must wait (the registry is
	// read-only); nil means never.
	Paused func(ctx context.Context) bool
}

// tagBatch bounds the tags one transaction ends.
const tagBatch = 500

// Expire ends expired tags in batches until none is left, unless paused. It
// is safe to run again after a failure.
func (e *TagExpirer) Expire(ctx context.Context) error {
	if e.Paused != nil && e.Paused(ctx) {
		return nil
	}
	total := 0
	for {
		n, err := e.Meta.ExpireTags(ctx, e.Now(), tagBatch)
		total += n
		if err != nil {
			return err
		}
		if n < tagBatch || ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		e.Log.InfoContext(ctx, "expired tags", "count", total)
	}
	return ctx.Err()
}
