package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// GCOptions bound one garbage-collection batch.
type GCOptions struct {
	// Grace is how long a candidate waits after the event that made it one
	// (a push, a link, an upload) before it is examined.
	Grace time.Duration
	// DefaultWindow is the time-machine window of namespaces without their
	// own.
	DefaultWindow time.Duration
	// Limit bounds the tag rows, manifests or blobs one batch examines.
	Limit int
	// DryRun examines and counts but changes nothing.
	DryRun bool
}

// GCManifests is what one manifest batch did (or would do).
type GCManifests struct {
	// Examined counts the queue entries and history rows looked at; a batch
	// with Examined < Limit found the end of the due work.
	Examined  int
	Dequeued  int // queue entries consumed (a batch that consumed none made no progress)
	TagRows   int // history rows outside the window removed
	Manifests int // manifests removed
	Bytes     int64
}

// GCBlob is a blob whose row was removed; its bytes are the caller's to
// delete after the commit.
type GCBlob struct {
	Digest digest.Digest
	Size   int64
}

// GCBlobs is what one blob batch did (or would do).
type GCBlobs struct {
	Examined int
	Dequeued int
	Links    int // repository links removed
	Blobs    []GCBlob
}

// errDryRun rolls a dry-run batch back.
var errDryRun = errors.New("dry run")

// lockSuffix is a row-locking clause on PostgreSQL (SQLite serializes
// writers, so it needs none).
func (t *tx) lockSuffix(clause string) string {
	if t.dialect == Postgres {
		return " " + clause
	}
	return ""
}

// queueManifest makes a manifest a GC candidate as of at (a later event
// wins).
func queueManifest(ctx context.Context, t *tx, id, at int64) error {
	if _, err := t.exec(ctx, `INSERT INTO gc_manifest_queue (manifest_id, queued_at) VALUES (?, ?)
		ON CONFLICT (manifest_id) DO UPDATE SET queued_at = CASE WHEN excluded.queued_at > gc_manifest_queue.queued_at
		THEN excluded.queued_at ELSE gc_manifest_queue.queued_at END`, id, at); err != nil {
		return fmt.Errorf("queue manifest for gc: %w", err)
	}
	return nil
}

// queueBlob makes a blob a GC candidate as of at (a later event wins).
func queueBlob(ctx context.Context, t *tx, d digest.Digest, at int64) error {
	if _, err := t.exec(ctx, `INSERT INTO gc_blob_queue (digest, queued_at) VALUES (?, ?)
		ON CONFLICT (digest) DO UPDATE SET queued_at = CASE WHEN excluded.queued_at > gc_blob_queue.queued_at
		THEN excluded.queued_at ELSE gc_blob_queue.queued_at END`, string(d), at); err != nil {
		return fmt.Errorf("queue blob for gc: %w", err)
	}
	return nil
}

// CollectManifests runs one manifest batch in one transaction: tag rows that
// ended (or expired) outside their namespace's time-machine window are
// removed and their manifests queued; then up to Limit due queued manifests
// are examined and the unreachable ones removed (rows, references, history),
// queueing their blobs, children and referrers.
func (db *DB) CollectManifests(ctx context.Context, o GCOptions) (GCManifests, error) {
	var res GCManifests
	err := db.write(ctx, func(t *tx) error {
		res = GCManifests{}
		if err := collectHistory(ctx, t, o, &res); err != nil {
			return err
		}
		if err := collectQueuedManifests(ctx, t, o, &res); err != nil {
			return err
		}
		if o.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return res, err
}

// collectHistory removes tag rows that ended outside their window, through
// tags_ended in order of their end.
func collectHistory(ctx context.Context, t *tx, o GCOptions, res *GCManifests) error {
	rows, err := t.query(ctx, `SELECT tg.id, tg.manifest_id FROM tags tg
		JOIN repositories r ON r.id = tg.repository_id JOIN namespaces n ON n.id = r.namespace_id
		WHERE tg.lifetime_end IS NOT NULL AND tg.lifetime_end < ? - COALESCE(n.tag_expiration_s, ?) * 1000
		ORDER BY tg.lifetime_end LIMIT ?`, t.now, int64(o.DefaultWindow/time.Second), o.Limit)
	if err != nil {
		return fmt.Errorf("gc history: %w", err)
	}
	type ended struct{ id, manifest int64 }
	var found []ended
	for rows.Next() {
		var e ended
		if err := rows.Scan(&e.id, &e.manifest); err != nil {
			rows.Close()
			return err
		}
		found = append(found, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	res.Examined += len(found)
	for _, e := range found {
		if _, err := t.exec(ctx, `DELETE FROM tags WHERE id = ?`, e.id); err != nil {
			return fmt.Errorf("gc tag row: %w", err)
		}
		// Due at once, unless a recent push queued it later.
		if err := queueManifest(ctx, t, e.manifest, t.now-o.Grace.Milliseconds()); err != nil {
			return err
		}
		res.TagRows++
	}
	return nil
}

func collectQueuedManifests(ctx context.Context, t *tx, o GCOptions, res *GCManifests) error {
	ids, err := dueIDs(ctx, t, `SELECT manifest_id FROM gc_manifest_queue WHERE queued_at <= ? ORDER BY queued_at LIMIT ?`,
		t.now-o.Grace.Milliseconds(), o.Limit)
	if err != nil {
		return err
	}
	res.Examined += len(ids)
	for _, id := range ids {
		var repoID, size int64
		var d string
		var subject sql.NullString
		// A manifest a push holds (PutManifest locks the row) is skipped
		// and stays queued; once the lock is ours, a push that committed
		// meanwhile has queued it again, later, so it is no longer due.
		err := t.queryRow(ctx, `SELECT repository_id, digest, subject_digest, size FROM manifests WHERE id = ?`+
			t.lockSuffix("FOR UPDATE SKIP LOCKED"), id).Scan(&repoID, &d, &subject, &size)
		if errors.Is(err, sql.ErrNoRows) {
			gone, err := dequeue(ctx, t, `DELETE FROM gc_manifest_queue WHERE manifest_id = ?
				AND NOT EXISTS (SELECT 1 FROM manifests WHERE id = ?)`, id, id)
			if err != nil {
				return err
			}
			res.Dequeued += gone
			continue
		}
		if err != nil {
			return fmt.Errorf("gc manifest: %w", err)
		}
		due, err := dequeue(ctx, t, `DELETE FROM gc_manifest_queue WHERE manifest_id = ? AND queued_at <= ?`,
			id, t.now-o.Grace.Milliseconds())
		if err != nil {
			return err
		}
		if due == 0 {
			continue
		}
		res.Dequeued++
		keep, err := manifestReachable(ctx, t, o, id, repoID, d, subject)
		if err != nil {
			return err
		}
		if keep {
			continue
		}
		if err := removeManifest(ctx, t, id, repoID, d); err != nil {
			return err
		}
		res.Manifests++
		res.Bytes += size
	}
	return nil
}

func dueIDs(ctx context.Context, t *tx, q string, args ...any) ([]int64, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("gc queue: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// manifestReachable applies the reachability rules: a current (or immutable)
// tag, a tag row that ended or expired within the namespace's window, a
// parent index in the repository, a subject in the repository.
func manifestReachable(ctx context.Context, t *tx, o GCOptions, id, repoID int64, d string, subject sql.NullString) (bool, error) {
	var window int64
	err := t.queryRow(ctx, `SELECT COALESCE(n.tag_expiration_s, ?) FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
		WHERE r.id = ?`, int64(o.DefaultWindow/time.Second), repoID).Scan(&window)
	if err != nil {
		return false, fmt.Errorf("gc window: %w", err)
	}
	cutoff := t.now - window*1000
	var one int
	err = t.queryRow(ctx, `SELECT 1 FROM tags WHERE manifest_id = ? AND (
		(lifetime_end IS NULL AND (immutable OR expires_at IS NULL OR expires_at >= ?)) OR lifetime_end >= ?) LIMIT 1`,
		id, cutoff, cutoff).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("gc tags: %w", err)
	}
	err = t.queryRow(ctx, `SELECT 1 FROM manifest_children mc JOIN manifests p ON p.id = mc.manifest_id
		WHERE mc.child_digest = ? AND p.repository_id = ? LIMIT 1`, d, repoID).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("gc parents: %w", err)
	}
	if !subject.Valid {
		return false, nil
	}
	err = t.queryRow(ctx, `SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ? AND id <> ?`,
		repoID, subject.String, id).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("gc subject: %w", err)
	}
	return false, nil
}

// removeManifest deletes an unreachable manifest with its references and
// history rows, queueing its blobs, children and referrers.
func removeManifest(ctx context.Context, t *tx, id, repoID int64, d string) error {
	queues := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO gc_blob_queue (digest, queued_at) SELECT digest, 0 FROM manifest_blobs WHERE manifest_id = ?
			ON CONFLICT (digest) DO NOTHING`, []any{id}},
		{`INSERT INTO gc_manifest_queue (manifest_id, queued_at) SELECT c.id, 0 FROM manifest_children mc
			JOIN manifests c ON c.repository_id = ? AND c.digest = mc.child_digest
			WHERE mc.manifest_id = ? ON CONFLICT (manifest_id) DO NOTHING`, []any{repoID, id}},
		{`INSERT INTO gc_manifest_queue (manifest_id, queued_at) SELECT r.id, 0 FROM manifests r
			WHERE r.repository_id = ? AND r.subject_digest = ? ON CONFLICT (manifest_id) DO NOTHING`, []any{repoID, d}},
	}
	for _, q := range queues {
		if _, err := t.exec(ctx, q.q, q.args...); err != nil {
			return fmt.Errorf("gc queue references: %w", err)
		}
	}
	if err := releaseManifestUsage(ctx, t, id); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM tags WHERE manifest_id = ?`,
		`DELETE FROM manifest_blobs WHERE manifest_id = ?`,
		`DELETE FROM manifest_children WHERE manifest_id = ?`,
		`DELETE FROM manifests WHERE id = ?`,
	} {
		if _, err := t.exec(ctx, q, id); err != nil {
			return fmt.Errorf("gc remove manifest: %w", err)
		}
	}
	return nil
}

// CollectBlobs runs one blob batch in one transaction: up to Limit due queued
// blobs are examined. A blob referenced by no manifest of any repository and
// linked to no repository within the grace period loses its links and its
// row; the caller deletes the returned blobs' bytes after the commit. Links
// of a referenced blob to repositories none of whose manifests reference it
// are removed once older than the grace period.
func (db *DB) CollectBlobs(ctx context.Context, o GCOptions) (GCBlobs, error) {
	var res GCBlobs
	err := db.write(ctx, func(t *tx) error {
		res = GCBlobs{}
		graceCutoff := t.now - o.Grace.Milliseconds()
		due, err := dueDigests(ctx, t, graceCutoff, o.Limit)
		if err != nil {
			return err
		}
		res.Examined = len(due)
		for _, d := range due {
			if err := collectBlob(ctx, t, d, graceCutoff, &res); err != nil {
				return err
			}
		}
		if o.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return res, err
}

func collectBlob(ctx context.Context, t *tx, d string, graceCutoff int64, res *GCBlobs) error {
	var size int64
	// PutManifest takes FOR KEY SHARE on the row before it checks the link,
	// so a blob a push is about to reference is skipped here (it stays
	// queued), and a push waiting for this lock sees the outcome.
	err := t.queryRow(ctx, `SELECT size FROM blobs WHERE digest = ?`+t.lockSuffix("FOR UPDATE SKIP LOCKED"), d).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		// Gone, or locked by a push (then it stays queued).
		gone, err := dequeue(ctx, t, `DELETE FROM gc_blob_queue WHERE digest = ?
			AND NOT EXISTS (SELECT 1 FROM blobs WHERE digest = ?)`, d, d)
		res.Dequeued += gone
		return err
	}
	if err != nil {
		return fmt.Errorf("gc blob: %w", err)
	}
	due, err := dequeue(ctx, t, `DELETE FROM gc_blob_queue WHERE digest = ? AND queued_at <= ?`, d, graceCutoff)
	if err != nil || due == 0 {
		return err // queued again since (a link or an upload): not due
	}
	res.Dequeued++
	var one int
	err = t.queryRow(ctx, `SELECT 1 FROM manifest_blobs WHERE digest = ? LIMIT 1`, d).Scan(&one)
	switch {
	case err == nil:
		// Referenced: drop only the stale links of repositories whose
		// manifests do not reference it.
		r, err := t.exec(ctx, `DELETE FROM repository_blobs WHERE digest = ? AND created_at <= ?
			AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id
				WHERE mb.digest = repository_blobs.digest AND m.repository_id = repository_blobs.repository_id)`, d, graceCutoff)
		if err != nil {
			return fmt.Errorf("gc blob links: %w", err)
		}
		n, _ := r.RowsAffected()
		res.Links += int(n)
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("gc blob references: %w", err)
	}
	err = t.queryRow(ctx, `SELECT 1 FROM repository_blobs WHERE digest = ? AND created_at > ? LIMIT 1`, d, graceCutoff).Scan(&one)
	if err == nil {
		// Linked moments ago: its manifest may be on its way.
		return queueBlob(ctx, t, digest.Digest(d), t.now)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("gc blob links: %w", err)
	}
	r, err := t.exec(ctx, `DELETE FROM repository_blobs WHERE digest = ?`, d)
	if err != nil {
		return fmt.Errorf("gc blob links: %w", err)
	}
	n, _ := r.RowsAffected()
	res.Links += int(n)
	if _, err := t.exec(ctx, `DELETE FROM blobs WHERE digest = ?`, d); err != nil {
		return fmt.Errorf("gc blob row: %w", err)
	}
	res.Blobs = append(res.Blobs, GCBlob{Digest: digest.Digest(d), Size: size})
	return nil
}

func dequeue(ctx context.Context, t *tx, q string, args ...any) (int, error) {
	r, err := t.exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("gc dequeue: %w", err)
	}
	n, err := r.RowsAffected()
	return int(n), err
}

// BlobExists reports whether a blob has a row (GC checks again before it
// deletes bytes).
func (db *DB) BlobExists(ctx context.Context, d digest.Digest) (bool, error) {
	var n int
	err := db.read(ctx, func(t *tx) error {
		return t.queryRow(ctx, `SELECT COUNT(*) FROM blobs WHERE digest = ?`, string(d)).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("blob exists: %w", err)
	}
	return n > 0, nil
}

// GCDryRun runs manifest and blob batches until nothing due is left, in one
// transaction that it rolls back, and reports what they removed: what a full
// pass would remove now.
func (db *DB) GCDryRun(ctx context.Context, o GCOptions) (GCManifests, GCBlobs, error) {
	var m GCManifests
	var b GCBlobs
	err := db.write(ctx, func(t *tx) error {
		m, b = GCManifests{}, GCBlobs{}
		graceCutoff := t.now - o.Grace.Milliseconds()
		for ctx.Err() == nil {
			var one GCManifests
			if err := collectHistory(ctx, t, o, &one); err != nil {
				return err
			}
			if err := collectQueuedManifests(ctx, t, o, &one); err != nil {
				return err
			}
			m.TagRows += one.TagRows
			m.Manifests += one.Manifests
			m.Bytes += one.Bytes
			m.Examined += one.Examined
			m.Dequeued += one.Dequeued
			if one.TagRows == 0 && one.Dequeued == 0 {
				break
			}
		}
		for ctx.Err() == nil {
			due, err := dueDigests(ctx, t, graceCutoff, o.Limit)
			if err != nil {
				return err
			}
			if len(due) == 0 {
				break
			}
			b.Examined += len(due)
			before := b.Dequeued
			for _, d := range due {
				if err := collectBlob(ctx, t, d, graceCutoff, &b); err != nil {
					return err
				}
			}
			if b.Dequeued == before {
				break // only blobs that pushes hold are left
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return errDryRun
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return m, b, err
}

func dueDigests(ctx context.Context, t *tx, cutoff int64, limit int) ([]string, error) {
	rows, err := t.query(ctx, `SELECT digest FROM gc_blob_queue WHERE queued_at <= ? ORDER BY queued_at LIMIT ?`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("gc blob queue: %w", err)
	}
	defer rows.Close()
	var due []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		due = append(due, d)
	}
	return due, rows.Err()
}
