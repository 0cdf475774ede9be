package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// VulnKey is an (ecosystem, package name) pair under which vulnerability
// records are looked up.
type VulnKey struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

// VulnRecord is one vulnerability record to store. The store treats Record
// as opaque bytes; internal/vulndb gives them meaning.
type VulnRecord struct {
	ID        string
	Source    string
	Modified  time.Time
	Hash      string
	Withdrawn bool
	Record    []byte
	Keys      []VulnKey
}

// VulnImport counts what PutVulnerabilities did.
type VulnImport struct {
	Added, Updated, Unchanged, Older int
	// Changed lists the keys of added and updated records (before and
	// after the update), so the scans that involve them can be matched
	// again.
	Changed []VulnKey
}

// PutVulnerabilities stores a batch of records in one transaction. A record
// whose id is new is added; one whose stored copy has an older modification
// time, or the same time and another content hash, replaces it (with its
// keys); others are left alone. Importing the same data twice changes
// nothing.
func (db *DB) PutVulnerabilities(ctx context.Context, recs []VulnRecord) (VulnImport, error) {
	var res VulnImport
	err := db.write(ctx, func(t *tx) error {
		res = VulnImport{}
		changed := map[VulnKey]bool{}
		for _, r := range recs {
			var modified int64
			var hash string
			err := t.queryRow(ctx, `SELECT modified, content_hash FROM vulnerabilities WHERE id = ?`, r.ID).Scan(&modified, &hash)
			exists := err == nil
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("find vulnerability: %w", err)
			}
			mod := r.Modified.UnixMilli()
			if r.Modified.IsZero() {
				mod = 0
			}
			switch {
			case exists && mod < modified:
				res.Older++
				continue
			case exists && mod == modified && hash == r.Hash:
				res.Unchanged++
				continue
			}
			var withdrawn sql.NullInt64
			if r.Withdrawn {
				withdrawn = sql.NullInt64{Int64: t.now, Valid: true}
			}
			if exists {
				old, err := vulnKeys(ctx, t, r.ID)
				if err != nil {
					return err
				}
				for _, k := range old {
					changed[k] = true
				}
				if _, err := t.exec(ctx, `UPDATE vulnerabilities SET source = ?, modified = ?, content_hash = ?, withdrawn = ?,
					record = ?, imported_at = ? WHERE id = ?`, r.Source, mod, r.Hash, withdrawn, r.Record, t.now, r.ID); err != nil {
					return fmt.Errorf("update vulnerability: %w", err)
				}
				if _, err := t.exec(ctx, `DELETE FROM vulnerability_packages WHERE vulnerability_id = ?`, r.ID); err != nil {
					return fmt.Errorf("update vulnerability: %w", err)
				}
				res.Updated++
			} else {
				if _, err := t.exec(ctx, `INSERT INTO vulnerabilities (id, source, modified, content_hash, withdrawn, record, imported_at)
					VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Source, mod, r.Hash, withdrawn, r.Record, t.now); err != nil {
					return fmt.Errorf("insert vulnerability: %w", err)
				}
				res.Added++
			}
			seen := map[VulnKey]bool{}
			for _, k := range r.Keys {
				if seen[k] || k.Name == "" {
					continue
				}
				seen[k] = true
				changed[k] = true
				if _, err := t.exec(ctx, `INSERT INTO vulnerability_packages (vulnerability_id, ecosystem, name) VALUES (?, ?, ?)`,
					r.ID, k.Ecosystem, k.Name); err != nil {
					return fmt.Errorf("insert vulnerability package: %w", err)
				}
			}
		}
		for k := range changed {
			res.Changed = append(res.Changed, k)
		}
		if len(res.Changed) == 0 {
			return nil
		}
		// The rescans this data asks for are committed with it.
		slices.SortFunc(res.Changed, func(a, b VulnKey) int {
			return strings.Compare(a.Ecosystem+"\x00"+a.Name, b.Ecosystem+"\x00"+b.Name)
		})
		return db.enqueue(ctx, t, JobScanRematchKeys, ScanRematchKeysArgs{Keys: res.Changed})
	})
	return res, err
}

// JobScanRematchKeys finds the scanned manifests that have a package the
// changed vulnerability records concern and queues their rematch
// (JobScanRematch); PutVulnerabilities enqueues it with the records. Its
// arguments are ScanRematchKeysArgs.
const JobScanRematchKeys = "scan_rematch_keys"

// ScanRematchKeysArgs are the arguments of JobScanRematchKeys.
type ScanRematchKeysArgs struct {
	Keys []VulnKey `json:"keys"`
}

// QueuesJobs reports whether the store has a job queue (background work
// such as rescans happens in jobs rather than in the caller).
func (db *DB) QueuesJobs() bool { return db.jobs != nil }

func vulnKeys(ctx context.Context, t *tx, id string) ([]VulnKey, error) {
	rows, err := t.query(ctx, `SELECT ecosystem, name FROM vulnerability_packages WHERE vulnerability_id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("vulnerability packages: %w", err)
	}
	defer rows.Close()
	var out []VulnKey
	for rows.Next() {
		var k VulnKey
		if err := rows.Scan(&k.Ecosystem, &k.Name); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// keyBatch bounds the number of keys in one lookup query.
const keyBatch = 256

// padBatch repeats the last element up to the next power of two, so that
// lookups of any size use one of a few query texts (prepared statements are
// cached by text).
func padBatch[T any](b []T) []T {
	n := 1
	for n < len(b) {
		n *= 2
	}
	for len(b) < n {
		b = append(b, b[len(b)-1])
	}
	return b
}

// VulnerabilitiesFor returns the records (not withdrawn) filed under any of
// the keys, each once.
func (db *DB) VulnerabilitiesFor(ctx context.Context, keys []VulnKey) ([][]byte, error) {
	var out [][]byte
	seen := map[string]bool{}
	err := db.read(ctx, func(t *tx) error {
		for start := 0; start < len(keys); start += keyBatch {
			batch := padBatch(slices.Clone(keys[start:min(start+keyBatch, len(keys))]))
			var cond []string
			var args []any
			for _, k := range batch {
				cond = append(cond, "(p.ecosystem = ? AND p.name = ?)")
				args = append(args, k.Ecosystem, k.Name)
			}
			rows, err := t.query(ctx, `SELECT v.id, v.record FROM vulnerability_packages p
				JOIN vulnerabilities v ON v.id = p.vulnerability_id
				WHERE v.withdrawn IS NULL AND (`+strings.Join(cond, " OR ")+`)`, args...)
			if err != nil {
				return fmt.Errorf("vulnerabilities: %w", err)
			}
			for rows.Next() {
				var id string
				var rec []byte
				if err := rows.Scan(&id, &rec); err != nil {
					rows.Close()
					return fmt.Errorf("vulnerabilities: %w", err)
				}
				if !seen[id] {
					seen[id] = true
					out = append(out, rec)
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// CountVulnerabilities returns the number of stored records.
func (db *DB) CountVulnerabilities(ctx context.Context) (int, error) {
	var n int
	err := db.read(ctx, func(t *tx) error {
		return t.queryRow(ctx, `SELECT COUNT(*) FROM vulnerabilities`).Scan(&n)
	})
	return n, err
}
