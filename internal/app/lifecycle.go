package app

import (
	"context"
	"time"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/gc"
	"github.com/wharfhq/wharf/internal/jobs"
)

// jobTagExpiry ends tags whose expiry has passed (periodic).
const jobTagExpiry = "tag_expiry"

// expireTags is the body of the tag-expiry job. It pauses while the
// registry is read-only.
func (a *App) expireTags(ctx context.Context, _ jobs.Job) error {
	e := &gc.TagExpirer{Meta: a.db, Log: a.log, Now: time.Now,
		Paused: func(ctx context.Context) bool { return a.authz.RegistryWritable(ctx) != nil }}
	return e.Expire(ctx)
}

// tagExpirationOptions are the configured time-machine windows.
func tagExpirationOptions(cfg config.Config) []time.Duration {
	out := make([]time.Duration, 0, len(cfg.TagExpirationOptions))
	for _, d := range cfg.TagExpirationOptions {
		out = append(out, d.Std())
	}
	return out
}
