package app

import (
	"context"
	"time"

	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// Events raised by jobs rather than by a request: repo_image_expiry ahead
// of tag expiry, and the rescans that may raise vulnerability_found after
// new vulnerability data.

// jobImageExpiryNotify is the periodic job that raises repo_image_expiry.
const jobImageExpiryNotify = "image_expiry_notify"

// imageExpiryNotifyInterval is how often it looks for expiring tags.
const imageExpiryNotifyInterval = 10 * time.Minute

// notifyExpiringTags is the body of jobImageExpiryNotify.
func (a *App) notifyExpiringTags(ctx context.Context, _ jobs.Job) error {
	n, err := a.db.NotifyExpiringTags(ctx, time.Now())
	if n > 0 {
		a.log.Info("raised repo_image_expiry", "events", n)
	}
	return err
}

// rematchScans works a store.JobScanRematch job. With the scanner off the
// job is dropped (the reports are not served).
func (a *App) rematchScans(ctx context.Context, j jobs.Job) error {
	if !a.cfg.SecurityScanner {
		return nil
	}
	var args store.ScanRematchArgs
	if err := j.Decode(&args); err != nil {
		return err
	}
	return a.scanner.RematchDigests(ctx, args.Digests)
}

// queueRematches works a store.JobScanRematchKeys job (committed with new
// vulnerability data): it queues the rematch of the manifests concerned.
func (a *App) queueRematches(ctx context.Context, j jobs.Job) error {
	var args store.ScanRematchKeysArgs
	if err := j.Decode(&args); err != nil {
		return err
	}
	n, err := a.scanner.QueueRematchFor(ctx, args.Keys)
	if n > 0 {
		a.log.Info("queued rescans after new vulnerability data", "manifests", n)
	}
	return err
}

// eventWorkers adds the jobs of this file to w.
func (a *App) eventWorkers(w *jobs.Workers) {
	w.Handlers[store.JobScanRematch] = a.rematchScans
	w.Handlers[store.JobScanRematchKeys] = a.queueRematches
	w.Handlers[jobImageExpiryNotify] = a.notifyExpiringTags
	w.Periodic = append(w.Periodic, jobs.Periodic{Kind: jobImageExpiryNotify, Interval: imageExpiryNotifyInterval})
	a.vulnDataWorkers(w)
	a.featureWorkers(w)
}

// instrumentWorkers counts the attempts of every handler of w: call it
// last, once every handler is in.
func (a *App) instrumentWorkers(w *jobs.Workers) {
	if a.work != nil {
		a.work.instrument(w)
	}
}
