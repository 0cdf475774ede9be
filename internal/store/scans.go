package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// LayerPackage is a package found in a layer by the scanner's indexer.
type LayerPackage struct {
	Type, Name, Version       string
	SourceName, SourceVersion string
	Path                      string
}

// LayerScan is a stored layer index.
type LayerScan struct {
	Digest         digest.Digest
	IndexerVersion int
	// Content is the indexer's description of the layer (opaque here).
	Content  []byte
	Packages []LayerPackage
}

// LayerScan returns the index of a layer, or core.CodeNotFound.
func (db *DB) LayerScan(ctx context.Context, d digest.Digest) (LayerScan, error) {
	l := LayerScan{Digest: d}
	err := db.read(ctx, func(t *tx) error {
		err := t.queryRow(ctx, `SELECT indexer_version, content FROM scan_layers WHERE digest = ?`, string(d)).Scan(&l.IndexerVersion, &l.Content)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "layer %s is not indexed", d)
		}
		if err != nil {
			return fmt.Errorf("layer scan: %w", err)
		}
		rows, err := t.query(ctx, `SELECT type, name, version, source_name, source_version, path FROM scan_layer_packages
			WHERE layer_digest = ? ORDER BY id`, string(d))
		if err != nil {
			return fmt.Errorf("layer packages: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p LayerPackage
			if err := rows.Scan(&p.Type, &p.Name, &p.Version, &p.SourceName, &p.SourceVersion, &p.Path); err != nil {
				return fmt.Errorf("layer packages: %w", err)
			}
			l.Packages = append(l.Packages, p)
		}
		return rows.Err()
	})
	return l, err
}

// PutLayerScan stores (or replaces) the index of a layer.
func (db *DB) PutLayerScan(ctx context.Context, l LayerScan) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM scan_layers WHERE digest = ?`, string(l.Digest)); err != nil {
			return fmt.Errorf("put layer scan: %w", err)
		}
		if _, err := t.exec(ctx, `INSERT INTO scan_layers (digest, indexer_version, content, indexed_at) VALUES (?, ?, ?, ?)`,
			string(l.Digest), l.IndexerVersion, l.Content, t.now); err != nil {
			return fmt.Errorf("put layer scan: %w", err)
		}
		for _, p := range l.Packages {
			if _, err := t.exec(ctx, `INSERT INTO scan_layer_packages (layer_digest, type, name, version, source_name, source_version, path)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, string(l.Digest), p.Type, p.Name, p.Version, p.SourceName, p.SourceVersion, p.Path); err != nil {
				return fmt.Errorf("put layer package: %w", err)
			}
		}
		return nil
	})
}

// ManifestScan is the scan state of a manifest digest.
type ManifestScan struct {
	Digest     digest.Digest
	Repository string
	Status     string // core.Scan*
	Error      string
	// Report is the JSON of the vulnerability report once scanned.
	Report    []byte
	Layers    []digest.Digest
	UpdatedAt time.Time
}

// QueueManifestScan records that a manifest waits for a scan and, in the
// same transaction, enqueues the JobScanManifest job that scans it. A
// manifest already scanned keeps its report until the new scan replaces it.
func (db *DB) QueueManifestScan(ctx context.Context, d digest.Digest, repo string) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO manifest_scans (digest, repository, status, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET repository = excluded.repository, updated_at = excluded.updated_at,
			status = CASE WHEN manifest_scans.status = 'scanned' THEN manifest_scans.status ELSE excluded.status END`,
			string(d), repo, core.ScanQueued, t.now)
		if err != nil {
			return fmt.Errorf("queue scan: %w", err)
		}
		return db.enqueue(ctx, t, JobScanManifest, ScanManifestArgs{Repository: repo, Digest: d})
	})
}

// PutManifestScan stores a scan's outcome, with the manifest's layers. A
// report with vulnerabilities the manifest's previous report did not have
// raises vulnerability_found in the same transaction (see
// emitVulnerabilitiesFound).
func (db *DB) PutManifestScan(ctx context.Context, s ManifestScan) error {
	return db.write(ctx, func(t *tx) error {
		// The previous report matters only to repositories that want
		// vulnerability_found.
		var targets []vulnTarget
		var prev []byte
		if s.Status == core.ScanScanned && len(s.Report) > 0 && db.jobs != nil {
			var err error
			if targets, err = vulnTargets(ctx, t, s.Digest); err != nil {
				return err
			}
			if len(targets) > 0 {
				var prevStatus string
				err := t.queryRow(ctx, `SELECT status, report FROM manifest_scans WHERE digest = ?`, string(s.Digest)).Scan(&prevStatus, &prev)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("previous scan: %w", err)
				}
				if prevStatus != core.ScanScanned {
					prev = nil
				}
			}
		}
		_, err := t.exec(ctx, `INSERT INTO manifest_scans (digest, repository, status, error, report, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET repository = excluded.repository, status = excluded.status,
			error = excluded.error, report = excluded.report, updated_at = excluded.updated_at`,
			string(s.Digest), s.Repository, s.Status, s.Error, s.Report, t.now)
		if err != nil {
			return fmt.Errorf("put scan: %w", err)
		}
		if _, err := t.exec(ctx, `DELETE FROM manifest_scan_layers WHERE manifest_digest = ?`, string(s.Digest)); err != nil {
			return fmt.Errorf("put scan layers: %w", err)
		}
		for i, l := range s.Layers {
			if _, err := t.exec(ctx, `INSERT INTO manifest_scan_layers (manifest_digest, position, layer_digest) VALUES (?, ?, ?)`,
				string(s.Digest), i, string(l)); err != nil {
				return fmt.Errorf("put scan layers: %w", err)
			}
		}
		if err := logScan(ctx, t, s); err != nil {
			return err
		}
		if len(targets) == 0 {
			return nil
		}
		return db.emitVulnerabilitiesFound(ctx, t, targets, prev, s.Report)
	})
}

// ManifestScan returns the scan state of a manifest, or core.CodeNotFound.
func (db *DB) ManifestScan(ctx context.Context, d digest.Digest) (ManifestScan, error) {
	s := ManifestScan{Digest: d}
	err := db.read(ctx, func(t *tx) error {
		var updated int64
		err := t.queryRow(ctx, `SELECT repository, status, error, report, updated_at FROM manifest_scans WHERE digest = ?`,
			string(d)).Scan(&s.Repository, &s.Status, &s.Error, &s.Report, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "manifest %s has no scan", d)
		}
		if err != nil {
			return fmt.Errorf("manifest scan: %w", err)
		}
		s.UpdatedAt = time.UnixMilli(updated)
		rows, err := t.query(ctx, `SELECT layer_digest FROM manifest_scan_layers WHERE manifest_digest = ? ORDER BY position`, string(d))
		if err != nil {
			return fmt.Errorf("manifest scan layers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				return err
			}
			s.Layers = append(s.Layers, digest.Digest(l))
		}
		return rows.Err()
	})
	return s, err
}

// ManifestScans lists scans with the given status ("" for any), ordered by
// digest, after the digest after, at most limit. Reports are not loaded.
func (db *DB) ManifestScans(ctx context.Context, status string, after digest.Digest, limit int) ([]ManifestScan, error) {
	var out []ManifestScan
	err := db.read(ctx, func(t *tx) error {
		q := `SELECT digest, repository, status, error, updated_at FROM manifest_scans WHERE digest > ?`
		args := []any{string(after)}
		if status != "" {
			q += ` AND status = ?`
			args = append(args, status)
		}
		rows, err := t.query(ctx, q+` ORDER BY digest LIMIT ?`, append(args, limit)...)
		if err != nil {
			return fmt.Errorf("manifest scans: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var s ManifestScan
			var updated int64
			if err := rows.Scan(&s.Digest, &s.Repository, &s.Status, &s.Error, &updated); err != nil {
				return fmt.Errorf("manifest scans: %w", err)
			}
			s.UpdatedAt = time.UnixMilli(updated)
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, err
}

// PackageRef names packages of a type by name or source name.
type PackageRef struct {
	Type, Name string
}

// ScannedManifestsWith returns the digests of scanned manifests that have a
// layer with any of the packages (matched on name or source name; an empty
// name matches every package of the type).
func (db *DB) ScannedManifestsWith(ctx context.Context, refs []PackageRef) ([]digest.Digest, error) {
	seen := map[digest.Digest]bool{}
	var out []digest.Digest
	err := db.read(ctx, func(t *tx) error {
		for start := 0; start < len(refs); start += keyBatch {
			batch := padBatch(slices.Clone(refs[start:min(start+keyBatch, len(refs))]))
			var cond []string
			var args []any
			for _, r := range batch {
				cond = append(cond, "(p.type = ? AND (? = '' OR p.name = ? OR p.source_name = ?))")
				args = append(args, r.Type, r.Name, r.Name, r.Name)
			}
			rows, err := t.query(ctx, `SELECT DISTINCT ms.digest FROM scan_layer_packages p
				JOIN manifest_scan_layers l ON l.layer_digest = p.layer_digest
				JOIN manifest_scans ms ON ms.digest = l.manifest_digest
				WHERE ms.status = 'scanned' AND (`+strings.Join(cond, " OR ")+`)`, args...)
			if err != nil {
				return fmt.Errorf("scans with packages: %w", err)
			}
			for rows.Next() {
				var d string
				if err := rows.Scan(&d); err != nil {
					rows.Close()
					return err
				}
				if !seen[digest.Digest(d)] {
					seen[digest.Digest(d)] = true
					out = append(out, digest.Digest(d))
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// JobScanRematch matches scanned manifests again from their stored layer
// indexes (after new vulnerability data); its arguments are
// ScanRematchArgs.
const JobScanRematch = "scan_rematch"

// ScanRematchArgs are the arguments of JobScanRematch: a bounded batch of
// manifests.
type ScanRematchArgs struct {
	Digests []digest.Digest `json:"digests"`
}

// QueueRematch enqueues JobScanRematch jobs of at most batch manifests each
// for digests, in one transaction. It returns false (and enqueues nothing)
// when the store has no job queue, for the caller to match them itself.
func (db *DB) QueueRematch(ctx context.Context, digests []digest.Digest, batch int) (bool, error) {
	if db.jobs == nil {
		return false, nil
	}
	if len(digests) == 0 {
		return true, nil
	}
	if batch <= 0 {
		batch = 1
	}
	return true, db.write(ctx, func(t *tx) error {
		for start := 0; start < len(digests); start += batch {
			part := digests[start:min(start+batch, len(digests))]
			if err := db.enqueue(ctx, t, JobScanRematch, ScanRematchArgs{Digests: part}); err != nil {
				return err
			}
		}
		return nil
	})
}
