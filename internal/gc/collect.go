package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/store"
)

// CollectStore is what garbage collection needs from the metadata store.
type CollectStore interface {
	CollectManifests(ctx context.Context, o store.GCOptions) (store.GCManifests, error)
	CollectBlobs(ctx context.Context, o store.GCOptions) (store.GCBlobs, error)
	BlobExists(ctx context.Context, d digest.Digest) (bool, error)
	GCDryRun(ctx context.Context, o store.GCOptions) (store.GCManifests, store.GCBlobs, error)
}

// BlobDeleter is what garbage collection needs from the blob store.
type BlobDeleter interface {
	Delete(ctx context.Context, d digest.Digest) error
}

// Collector removes unreachable manifests and unreferenced blobs (see
// doc.go for the rules and how it stays off a push's way).
type Collector struct {
	Meta  CollectStore
	Blobs BlobDeleter
	Log   *slog.Logger
	// Grace is how long a pushed manifest, an uploaded or mounted blob
	// waits before it is examined.
	Grace time.Duration
	// DefaultWindow is the time-machine window of namespaces without one.
	DefaultWindow time.Duration
	// Batch bounds what one transaction examines (default 500).
	Batch int
	// Paused reports whether background writers must wait (the registry is
	// read-only); nil means never.
	Paused func(ctx context.Context) bool
}

// Report is what a pass removed (or, dry, would remove).
type Report struct {
	TagRows       int   // history rows outside the time-machine window
	Manifests     int   // manifests
	ManifestBytes int64 // their manifest bytes
	Links         int   // repository links of blobs
	Blobs         int   // blobs deleted from storage
	BlobBytes     int64
}

const defaultBatch = 500

func (c *Collector) opts(dry bool) store.GCOptions {
	b := c.Batch
	if b <= 0 {
		b = defaultBatch
	}
	return store.GCOptions{Grace: c.Grace, DefaultWindow: c.DefaultWindow, Limit: b, DryRun: dry}
}

// RunOnce is the periodic job: one bounded manifest batch, then one bounded
// blob batch. It does nothing while paused.
func (c *Collector) RunOnce(ctx context.Context) (Report, error) {
	var rep Report
	if c.Paused != nil && c.Paused(ctx) {
		return rep, nil
	}
	o := c.opts(false)
	m, err := c.Meta.CollectManifests(ctx, o)
	if err != nil {
		return rep, err
	}
	rep.TagRows, rep.Manifests, rep.ManifestBytes = m.TagRows, m.Manifests, m.Bytes
	if _, err := c.blobBatch(ctx, o, &rep); err != nil {
		return rep, err
	}
	if rep != (Report{}) {
		c.Log.InfoContext(ctx, "garbage collected", "tag_rows", rep.TagRows, "manifests", rep.Manifests,
			"links", rep.Links, "blobs", rep.Blobs, "blob_bytes", rep.BlobBytes)
	}
	return rep, nil
}

// blobBatch runs one blob batch (returning the queue entries it consumed) and
// then deletes the bytes of the blobs whose
// rows it removed. A crash between the commit and the byte deletion leaves
// bytes without a row: harmless, never served, and left for a sweep of
// unreferenced storage (not implemented yet).
func (c *Collector) blobBatch(ctx context.Context, o store.GCOptions, rep *Report) (int, error) {
	b, err := c.Meta.CollectBlobs(ctx, o)
	if err != nil {
		return 0, err
	}
	rep.Links += b.Links
	for _, bl := range b.Blobs {
		rep.Blobs++
		rep.BlobBytes += bl.Size
		// An identical upload may have committed a new row since: keep
		// its bytes.
		again, err := c.Meta.BlobExists(ctx, bl.Digest)
		if err != nil {
			return b.Dequeued, err
		}
		if again {
			continue
		}
		if err := c.Blobs.Delete(ctx, bl.Digest); err != nil {
			return b.Dequeued, fmt.Errorf("delete blob %s: %w", bl.Digest, err)
		}
	}
	return b.Dequeued, nil
}

// Full runs batches until nothing due is left (wharf admin gc); it refuses
// while paused. Dry, it reports what such a pass would remove now and removes
// nothing.
func (c *Collector) Full(ctx context.Context, dry bool) (Report, error) {
	var rep Report
	o := c.opts(dry)
	if dry {
		m, b, err := c.Meta.GCDryRun(ctx, o)
		if err != nil {
			return rep, err
		}
		rep.TagRows, rep.Manifests, rep.ManifestBytes, rep.Links = m.TagRows, m.Manifests, m.Bytes, b.Links
		for _, bl := range b.Blobs {
			rep.Blobs++
			rep.BlobBytes += bl.Size
		}
		return rep, nil
	}
	if c.Paused != nil && c.Paused(ctx) {
		return rep, errors.New("the registry is read-only: garbage collection waits until it is writable")
	}
	for ctx.Err() == nil {
		m, err := c.Meta.CollectManifests(ctx, o)
		if err != nil {
			return rep, err
		}
		rep.TagRows += m.TagRows
		rep.Manifests += m.Manifests
		rep.ManifestBytes += m.Bytes
		if m.TagRows == 0 && m.Dequeued == 0 {
			break
		}
	}
	for ctx.Err() == nil {
		n, err := c.blobBatch(ctx, o, &rep)
		if err != nil {
			return rep, err
		}
		if n == 0 {
			break // nothing due, or only blobs that pushes hold
		}
	}
	return rep, ctx.Err()
}
