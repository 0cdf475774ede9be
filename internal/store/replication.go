package store

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// Storage replication (FEATURE_STORAGE_REPLICATION). A blob committed by a
// process is present at that process's local location; every location the
// blob must reach (DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS plus the locations
// of the namespaces that hold it) gets a pending blob_placements row and a
// JobReplicateBlob in the same transaction. The job copies the bytes and
// marks the row present (or failed, and retries).

// JobReplicateBlob copies a blob to a storage location; its arguments are
// ReplicateBlobArgs.
const JobReplicateBlob = "replicate_blob"

// ReplicateBlobArgs are the arguments of JobReplicateBlob.
type ReplicateBlobArgs struct {
	Digest   digest.Digest `json:"digest"`
	Location string        `json:"location"`
}

// Placement states of blob_placements.
const (
	PlacementPresent = "present"
	PlacementPending = "pending"
	PlacementFailed  = "failed"
)

// Replication configures storage replication for a DB.
type Replication struct {
	// Local is the location this process commits new blobs to.
	Local string
	// Locations are every configured location, in this process's
	// preference order.
	Locations []string
	// Defaults are the locations every blob is replicated to.
	Defaults []string
}

// normalized copies r (nil stays nil) so later changes by the caller do not
// reach the DB.
func (r *Replication) normalized() *Replication {
	if r == nil {
		return nil
	}
	return &Replication{Local: r.Local, Locations: slices.Clone(r.Locations), Defaults: slices.Clone(r.Defaults)}
}

func (r *Replication) known(loc string) bool { return slices.Contains(r.Locations, loc) }

func errReplicationOff() error {
	return core.Errorf(core.CodeUnsupported, "storage replication is not enabled (FEATURE_STORAGE_REPLICATION)")
}

// placeBlob records, when replication is on, that a blob just linked to
// repository repoID is present at the local location (stored: its bytes were
// just committed here) and enqueues its copy to every location it must reach
// and is not recorded at yet.
func (db *DB) placeBlob(ctx context.Context, t *tx, repoID int64, d digest.Digest, stored bool) error {
	rp := db.replication
	if rp == nil {
		return nil
	}
	if stored {
		if _, err := t.exec(ctx, `INSERT INTO blob_placements (digest, location, state, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest, location) DO UPDATE SET state = excluded.state, error = '', updated_at = excluded.updated_at`,
			string(d), rp.Local, PlacementPresent, t.now); err != nil {
			return fmt.Errorf("record placement: %w", err)
		}
	}
	targets, err := db.namespaceTargets(ctx, t, `SELECT location FROM namespace_storage_locations
		WHERE namespace_id = (SELECT namespace_id FROM repositories WHERE id = ?)`, repoID)
	if err != nil {
		return err
	}
	for _, loc := range targets {
		if stored && loc == rp.Local {
			continue
		}
		if _, err := db.requestCopy(ctx, t, d, loc, false); err != nil {
			return err
		}
	}
	return nil
}

// namespaceTargets returns the default locations plus the configured ones
// q (one location column, one argument) returns, sorted.
func (db *DB) namespaceTargets(ctx context.Context, t *tx, q string, arg any) ([]string, error) {
	rp := db.replication
	set := map[string]bool{}
	for _, l := range rp.Defaults {
		set[l] = true
	}
	rows, err := t.query(ctx, q, arg)
	if err != nil {
		return nil, fmt.Errorf("replication targets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		// A location removed from the configuration is ignored.
		if rp.known(l) {
			set[l] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

// requestCopy makes the placement of d at loc pending and enqueues its job
// when there is no row yet, or (retryFailed) when the row is failed. It
// reports whether it enqueued a job.
func (db *DB) requestCopy(ctx context.Context, t *tx, d digest.Digest, loc string, retryFailed bool) (bool, error) {
	q := `INSERT INTO blob_placements (digest, location, state, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest, location) DO NOTHING`
	if retryFailed {
		q = `INSERT INTO blob_placements (digest, location, state, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest, location) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
		WHERE blob_placements.state = 'failed'`
	}
	res, err := t.exec(ctx, q, string(d), loc, PlacementPending, t.now)
	if err != nil {
		return false, fmt.Errorf("request copy: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := db.enqueue(ctx, t, JobReplicateBlob, ReplicateBlobArgs{Digest: d, Location: loc}); err != nil {
		return false, err
	}
	return true, nil
}

// ReplicationEnabled reports whether storage replication is on.
func (db *DB) ReplicationEnabled() bool { return db.replication != nil }

// PlacementWanted reports whether a replication job for d and loc still has
// work: the blob is recorded and its placement at loc is not present.
func (db *DB) PlacementWanted(ctx context.Context, d digest.Digest, loc string) (bool, error) {
	var state string
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT p.state FROM blobs b JOIN blob_placements p ON p.digest = b.digest
			WHERE b.digest = ? AND p.location = ?`, string(d), loc)
		if err != nil {
			return fmt.Errorf("placement: %w", err)
		}
		defer rows.Close()
		if rows.Next() {
			if err := rows.Scan(&state); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return state != "" && state != PlacementPresent, err
}

// MarkPlacementPresent records that loc holds d. It reports false when the
// blob's rows are gone (garbage collected meanwhile): the caller should
// remove the copy it made.
func (db *DB) MarkPlacementPresent(ctx context.Context, d digest.Digest, loc string) (bool, error) {
	var ok bool
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE blob_placements SET state = ?, error = '', attempts = attempts + 1, updated_at = ?
			WHERE digest = ? AND location = ?`, PlacementPresent, t.now, string(d), loc)
		if err != nil {
			return fmt.Errorf("mark placement: %w", err)
		}
		n, _ := res.RowsAffected()
		ok = n > 0
		return nil
	})
	return ok, err
}

// MarkPlacementFailed records a failed copy of d to loc and why.
func (db *DB) MarkPlacementFailed(ctx context.Context, d digest.Digest, loc, reason string) error {
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `UPDATE blob_placements SET state = ?, error = ?, attempts = attempts + 1, updated_at = ?
			WHERE digest = ? AND location = ? AND state <> ?`, PlacementFailed, reason, t.now, string(d), loc, PlacementPresent); err != nil {
			return fmt.Errorf("mark placement: %w", err)
		}
		return nil
	})
}

// BackfillBatch is the outcome of one BackfillReplication call.
type BackfillBatch struct {
	// Next is the cursor of the next batch; empty when done.
	Next string
	// Blobs is how many blobs the batch looked at; Enqueued how many
	// copies it asked for.
	Blobs, Enqueued int
}

// BackfillReplication looks at up to limit blobs after the digest cursor
// after (empty: from the start), in one transaction, and enqueues a copy of
// each to every location it must reach that has no placement row (blobs
// stored before replication was turned on) or a failed one.
func (db *DB) BackfillReplication(ctx context.Context, after string, limit int) (BackfillBatch, error) {
	var b BackfillBatch
	if db.replication == nil {
		return b, errReplicationOff()
	}
	if limit <= 0 {
		limit = 500
	}
	err := db.write(ctx, func(t *tx) error {
		b = BackfillBatch{}
		rows, err := t.query(ctx, `SELECT digest FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?`, after, limit)
		if err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		var digests []string
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			digests = append(digests, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range digests {
			targets, err := db.namespaceTargets(ctx, t, `SELECT DISTINCT nsl.location FROM repository_blobs rb
				JOIN repositories r ON r.id = rb.repository_id
				JOIN namespace_storage_locations nsl ON nsl.namespace_id = r.namespace_id
				WHERE rb.digest = ?`, d)
			if err != nil {
				return err
			}
			for _, loc := range targets {
				ok, err := db.requestCopy(ctx, t, digest.Digest(d), loc, true)
				if err != nil {
					return err
				}
				if ok {
					b.Enqueued++
				}
			}
		}
		b.Blobs = len(digests)
		if len(digests) == limit {
			b.Next = digests[len(digests)-1]
		}
		return nil
	})
	return b, err
}

// LocationReplication counts the placements of one storage location.
type LocationReplication struct {
	Location string
	// Default: every blob is replicated to it.
	Default bool
	// Configured: the location is in this process's configuration.
	Configured               bool
	Present, Pending, Failed int64
	// Deleting counts copies of collected blobs waiting to be deleted
	// (the location was unreachable when they were collected).
	Deleting int64
}

// ReplicationStatus is the state of storage replication.
type ReplicationStatus struct {
	// Local is the location of the process that answered.
	Local    string
	Defaults []string
	// Blobs counts the recorded blobs.
	Blobs     int64
	Locations []LocationReplication
}

const stateDeleting = "deleting"

// ReplicationStatus counts, per location, the blobs present, pending and
// failed there, and the copies waiting to be deleted.
func (db *DB) ReplicationStatus(ctx context.Context) (ReplicationStatus, error) {
	rp := db.replication
	if rp == nil {
		return ReplicationStatus{}, errReplicationOff()
	}
	st := ReplicationStatus{Local: rp.Local, Defaults: slices.Clone(rp.Defaults)}
	counts := map[string]map[string]int64{}
	err := db.read(ctx, func(t *tx) error {
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM blobs`).Scan(&st.Blobs); err != nil {
			return fmt.Errorf("replication status: %w", err)
		}
		for _, q := range []string{
			`SELECT location, state, COUNT(*) FROM blob_placements GROUP BY location, state`,
			`SELECT location, 'deleting', COUNT(*) FROM blob_deletions GROUP BY location`,
		} {
			if err := countByLocation(ctx, t, q, counts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	var extra []string
	for loc := range counts {
		if !rp.known(loc) {
			// Rows of a location no longer configured.
			extra = append(extra, loc)
		}
	}
	sort.Strings(extra)
	for _, l := range append(slices.Clone(rp.Locations), extra...) {
		c := counts[l]
		st.Locations = append(st.Locations, LocationReplication{Location: l, Configured: rp.known(l),
			Default: slices.Contains(rp.Defaults, l), Present: c[PlacementPresent], Pending: c[PlacementPending],
			Failed: c[PlacementFailed], Deleting: c[stateDeleting]})
	}
	return st, nil
}

// countByLocation adds the (location, state, count) rows of q to counts.
func countByLocation(ctx context.Context, t *tx, q string, counts map[string]map[string]int64) error {
	rows, err := t.query(ctx, q)
	if err != nil {
		return fmt.Errorf("replication status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var loc, state string
		var n int64
		if err := rows.Scan(&loc, &state, &n); err != nil {
			return err
		}
		if counts[loc] == nil {
			counts[loc] = map[string]int64{}
		}
		counts[loc][state] += n
	}
	return rows.Err()
}

// NamespaceStorageLocations returns the locations a namespace's blobs are
// replicated to besides the defaults, or core.CodeNotFound.
func (db *DB) NamespaceStorageLocations(ctx context.Context, namespace string) ([]string, error) {
	if db.replication == nil {
		return nil, errReplicationOff()
	}
	out := []string{}
	err := db.read(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT location FROM namespace_storage_locations WHERE namespace_id = ? ORDER BY location`, n.ID)
		if err != nil {
			return fmt.Errorf("namespace locations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

// SetNamespaceStorageLocations replaces the locations a namespace's blobs
// are replicated to besides the defaults. Every location must be
// configured (core.CodeInvalid). Blobs the namespace already holds are
// copied by the next BackfillReplication; new ones as they are linked.
func (db *DB) SetNamespaceStorageLocations(ctx context.Context, namespace string, locations []string) error {
	rp := db.replication
	if rp == nil {
		return errReplicationOff()
	}
	set := map[string]bool{}
	for _, l := range locations {
		if !rp.known(l) {
			return core.Errorf(core.CodeInvalid, "unknown storage location %q", l)
		}
		set[l] = true
	}
	return db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM namespace_storage_locations WHERE namespace_id = ?`, n.ID); err != nil {
			return fmt.Errorf("namespace locations: %w", err)
		}
		for l := range set {
			if _, err := t.exec(ctx, `INSERT INTO namespace_storage_locations (namespace_id, location) VALUES (?, ?)`, n.ID, l); err != nil {
				return fmt.Errorf("namespace locations: %w", err)
			}
		}
		return nil
	})
}

// RequestLocalCopy asks for a copy of d at this process's local location
// (a read had to stream it from elsewhere), unless a placement row for it
// exists already or the blob is not recorded.
func (db *DB) RequestLocalCopy(ctx context.Context, d digest.Digest) error {
	rp := db.replication
	if rp == nil {
		return nil
	}
	var known bool
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT 1 FROM blob_placements WHERE digest = ? AND location = ?`, string(d), rp.Local)
		if err != nil {
			return fmt.Errorf("placement: %w", err)
		}
		defer rows.Close()
		known = rows.Next()
		return rows.Err()
	})
	if err != nil || known {
		return err
	}
	return db.write(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT 1 FROM blobs WHERE digest = ?`, string(d))
		if err != nil {
			return fmt.Errorf("request local copy: %w", err)
		}
		exists := rows.Next()
		rows.Close()
		if !exists {
			return nil
		}
		_, err = db.requestCopy(ctx, t, d, rp.Local, false)
		return err
	})
}

// BlobDeletion is a copy of a collected blob a location could not delete.
type BlobDeletion struct {
	Digest   digest.Digest
	Location string
}

// RecordBlobDeletion remembers that loc still holds the bytes of the
// collected blob d, for RetryBlobDeletions.
func (db *DB) RecordBlobDeletion(ctx context.Context, d digest.Digest, loc string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO blob_deletions (digest, location, created_at) VALUES (?, ?, ?)
			ON CONFLICT (digest, location) DO NOTHING`, string(d), loc, t.now); err != nil {
			return fmt.Errorf("record blob deletion: %w", err)
		}
		return nil
	})
}

// BlobDeletions lists up to limit recorded deletions, oldest first, and
// whether the blob is recorded again (stored anew since: keep its bytes).
func (db *DB) BlobDeletions(ctx context.Context, limit int) ([]BlobDeletion, []bool, error) {
	var out []BlobDeletion
	var again []bool
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT d.digest, d.location, b.digest IS NOT NULL FROM blob_deletions d
			LEFT JOIN blobs b ON b.digest = d.digest ORDER BY d.created_at, d.digest, d.location LIMIT ?`, limit)
		if err != nil {
			return fmt.Errorf("blob deletions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var bd BlobDeletion
			var a bool
			if err := rows.Scan(&bd.Digest, &bd.Location, &a); err != nil {
				return err
			}
			out, again = append(out, bd), append(again, a)
		}
		return rows.Err()
	})
	return out, again, err
}

// FinishBlobDeletion forgets a recorded deletion.
func (db *DB) FinishBlobDeletion(ctx context.Context, d digest.Digest, loc string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM blob_deletions WHERE digest = ? AND location = ?`, string(d), loc); err != nil {
			return fmt.Errorf("finish blob deletion: %w", err)
		}
		return nil
	})
}
