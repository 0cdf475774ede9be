package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// PutManifest is everything PutManifest stores for one manifest push.
type PutManifest struct {
	Repository      string
	Digest          digest.Digest
	MediaType       string
	ArtifactType    string // effective artifact type
	ConfigMediaType string
	Subject         digest.Digest
	Annotations     map[string]string
	Content         []byte
	LayersSize      int64
	// Blobs must all be linked to the repository (else core.CodeManifestBlobUnknown).
	Blobs []digest.Digest
	// Children are the digests of an index's manifests (need not exist: sparse).
	Children []digest.Digest
	// Tags to point at the manifest.
	Tags []string
	// Labels are the manifest's quay.* labels (image config Labels, then
	// manifest annotations). The quay.expires-after and quay.immutable
	// labels act on Tags; an index without its own also uses those every
	// stored child shares.
	Labels map[string]string
	// AllowMissingBlobs accepts Blobs that are not linked to the repository;
	// only the present ones are recorded as references.
	AllowMissingBlobs bool
	// Create, when set, creates the repository if it does not exist, in the
	// same transaction (so a rejected push leaves no empty repository).
	Create *NewRepository
	// proxied, when set, runs in the transaction once the manifest row
	// exists (PutProxiedManifest: the proxy cache's pending blobs).
	proxied func(ctx context.Context, t *tx, repoID, manifestID int64) error
}

// PutManifest stores a manifest, its references and its tags in one
// transaction, creating the repository if needed. Re-pushing identical content
// is a no-op apart from tags.
func (db *DB) PutManifest(ctx context.Context, m PutManifest) error {
	return db.noteQuotaRefusal(ctx, db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, m.Repository)
		switch {
		case err == nil:
		case core.IsCode(err, core.CodeNameUnknown) && m.Create != nil:
			r, err = createRepo(ctx, t, *m.Create)
			if err != nil {
				return err
			}
		case core.IsCode(err, core.CodeNameUnknown):
			r, err = ensureRepo(ctx, t, m.Repository)
			if err != nil {
				return err
			}
		default:
			return err
		}
		present, err := linkedBlobs(ctx, t, r.ID, m.Blobs)
		if err != nil {
			return err
		}
		if len(present) != len(uniqueDigests(m.Blobs)) && !m.AllowMissingBlobs {
			for _, d := range m.Blobs {
				if !slices.Contains(present, d) {
					return &core.Error{Code: core.CodeManifestBlobUnknown, Msg: fmt.Sprintf("blob %s is not in the repository", d),
						Detail: map[string]string{"digest": string(d)}}
				}
			}
		}
		m.Blobs = present
		wasLive, err := manifestLive(ctx, t, r.ID, m.Digest)
		if err != nil {
			return err
		}
		id, labels, err := upsertManifest(ctx, t, r.ID, m)
		if err != nil {
			return err
		}
		if m.proxied != nil {
			if err := m.proxied(ctx, t, r.ID, id); err != nil {
				return err
			}
		}
		if !wasLive {
			// The manifest becomes live: its blobs count in the
			// namespace's usage, and growth must fit the quota.
			nsID, grown, err := countManifestUsage(ctx, t, id, 1)
			if err != nil {
				return err
			}
			if grown > 0 {
				if err := db.usageGrew(ctx, t, nsID); err != nil {
					return err
				}
			}
		}
		if err := logPush(ctx, t, r.ID, m); err != nil {
			return err
		}
		if len(m.Tags) == 0 {
			return nil
		}
		rules, err := loadImmutabilityRules(ctx, t, r.ID)
		if err != nil {
			return err
		}
		tt := tagTarget{manifestID: id, immutable: core.LabelSaysImmutable(labels[core.LabelImmutable]), op: "overwrite"}
		if d, ok := core.ParseExpiresAfter(labels[core.LabelExpiresAfter]); ok {
			tt.expires = t.now + d.Milliseconds()
		}
		for _, tag := range m.Tags {
			tt.name = tag
			if err := setTag(ctx, t, r.ID, rules, tt); err != nil {
				return err
			}
		}
		if err := db.requestPrune(ctx, t, r.ID); err != nil {
			return err
		}
		// One repo_push per push request, with the tags it set.
		return db.emitNotification(ctx, t, r.ID, r.FullName, EventRepoPush, RepoPushData{UpdatedTags: m.Tags})
	}))
}

// RepoPushData is the event data of EventRepoPush.
type RepoPushData struct {
	UpdatedTags []string `json:"updated_tags"`
}

// linkedBlobs returns the digests of blobs that are linked to the repository.
func linkedBlobs(ctx context.Context, t *tx, repoID int64, blobs []digest.Digest) ([]digest.Digest, error) {
	var present []digest.Digest
	for _, d := range uniqueDigests(blobs) {
		var one int
		if t.dialect == Postgres {
			// Hold the blob row against garbage collection (internal/gc/doc.go),
			// before the link is read.
			err := t.queryRow(ctx, `SELECT 1 FROM blobs WHERE digest = ? FOR KEY SHARE`, string(d)).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("check blob: %w", err)
			}
		}
		err := t.queryRow(ctx, `SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?`, repoID, string(d)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("check blob: %w", err)
		}
		present = append(present, d)
	}
	return present, nil
}

// upsertManifest stores a manifest (or revives a deleted one) and returns
// its id and its stored quay.* labels.
func upsertManifest(ctx context.Context, t *tx, repoID int64, m PutManifest) (int64, map[string]string, error) {
	var id int64
	var deleted sql.NullInt64
	var stored sql.NullString
	// The lock (PostgreSQL) keeps garbage collection off the row; a row it
	// removed meanwhile is not found and stored again.
	err := t.queryRow(ctx, `SELECT id, deleted_at, labels FROM manifests WHERE repository_id = ? AND digest = ?`+
		t.lockSuffix("FOR NO KEY UPDATE"), repoID, string(m.Digest)).Scan(&id, &deleted, &stored)
	switch {
	case err == nil:
		if err := queueManifest(ctx, t, id, t.now); err != nil {
			return 0, nil, err
		}
		if deleted.Valid {
			if _, err := t.exec(ctx, `UPDATE manifests SET deleted_at = NULL WHERE id = ?`, id); err != nil {
				return 0, nil, fmt.Errorf("revive manifest: %w", err)
			}
		}
		labels, err := decodeLabels(stored)
		return id, labels, err
	case !errors.Is(err, sql.ErrNoRows):
		return 0, nil, fmt.Errorf("find manifest: %w", err)
	}
	var annotations sql.NullString
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return 0, nil, fmt.Errorf("encode annotations: %w", err)
		}
		annotations = sql.NullString{String: string(b), Valid: true}
	}
	var subject sql.NullString
	if m.Subject != "" {
		subject = sql.NullString{String: string(m.Subject), Valid: true}
	}
	labels, err := effectiveLabels(ctx, t, repoID, m)
	if err != nil {
		return 0, nil, err
	}
	encoded, err := encodeLabels(labels)
	if err != nil {
		return 0, nil, err
	}
	err = t.queryRow(ctx, `INSERT INTO manifests (repository_id, digest, media_type, artifact_type, config_media_type,
		subject_digest, annotations, size, layers_size, content, created_at, labels)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		repoID, string(m.Digest), m.MediaType, m.ArtifactType, m.ConfigMediaType, subject, annotations,
		int64(len(m.Content)), m.LayersSize, m.Content, t.now, encoded).Scan(&id)
	if err != nil {
		return 0, nil, fmt.Errorf("insert manifest: %w", err)
	}
	if err := queueManifest(ctx, t, id, t.now); err != nil {
		return 0, nil, err
	}
	for _, d := range uniqueDigests(m.Blobs) {
		if _, err := t.exec(ctx, `INSERT INTO manifest_blobs (manifest_id, digest) VALUES (?, ?)`, id, string(d)); err != nil {
			return 0, nil, fmt.Errorf("insert manifest blob: %w", err)
		}
	}
	for _, d := range uniqueDigests(m.Children) {
		if _, err := t.exec(ctx, `INSERT INTO manifest_children (manifest_id, child_digest) VALUES (?, ?)`, id, string(d)); err != nil {
			return 0, nil, fmt.Errorf("insert manifest child: %w", err)
		}
	}
	return id, labels, nil
}

func uniqueDigests(ds []digest.Digest) []digest.Digest {
	seen := make(map[digest.Digest]bool, len(ds))
	out := ds[:0:0]
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

const manifestColumns = `m.id, m.repository_id, m.digest, m.media_type, m.artifact_type, m.config_media_type,
	m.subject_digest, m.annotations, m.size, m.content, m.created_at`

func scanManifest(row interface{ Scan(...any) error }, withContent bool) (core.Manifest, error) {
	var m core.Manifest
	var subject, annotations sql.NullString
	var created int64
	var content []byte
	err := row.Scan(&m.ID, &m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType, &m.ConfigMediaType,
		&subject, &annotations, &m.Size, &content, &created)
	if err != nil {
		return m, err
	}
	m.Subject = digest.Digest(subject.String)
	if annotations.Valid {
		if err := json.Unmarshal([]byte(annotations.String), &m.Annotations); err != nil {
			return m, fmt.Errorf("decode annotations: %w", err)
		}
	}
	if withContent {
		m.Content = content
	}
	m.CreatedAt = time.UnixMilli(created)
	return m, nil
}

// Manifest returns a live manifest of repo by tag or digest, or
// core.CodeManifestUnknown / core.CodeNameUnknown.
func (db *DB) Manifest(ctx context.Context, repo string, ref oci.Reference) (core.Manifest, error) {
	var m core.Manifest
	err := db.read(ctx, func(t *tx) error {
		var row *sql.Row
		if ref.IsDigest() {
			row = t.queryRow(ctx, `SELECT `+manifestColumns+` FROM manifests m
				JOIN repositories r ON r.id = m.repository_id
				WHERE r.full_name = ? AND m.digest = ? AND m.deleted_at IS NULL`, repo, string(ref.Digest))
		} else {
			row = t.queryRow(ctx, `SELECT `+manifestColumns+` FROM tags tg
				JOIN repositories r ON r.id = tg.repository_id
				JOIN manifests m ON m.id = tg.manifest_id
				WHERE r.full_name = ? AND tg.name = ? AND tg.lifetime_end IS NULL
				AND (tg.expires_at IS NULL OR tg.expires_at > ?)`, repo, ref.Tag, t.now)
		}
		var err error
		m, err = scanManifest(row, true)
		if errors.Is(err, sql.ErrNoRows) {
			if _, rerr := getRepo(ctx, t, repo); rerr != nil {
				return rerr
			}
			if !ref.IsDigest() {
				expired, err := tagExpired(ctx, t, repo, ref.Tag)
				if err != nil {
					return err
				}
				if expired {
					return core.Errorf(core.CodeTagExpired, "tag %q of %s has expired", ref.Tag, repo)
				}
			}
			return core.Errorf(core.CodeManifestUnknown, "manifest %s not found in %s", ref, repo)
		}
		if err != nil {
			return fmt.Errorf("get manifest: %w", err)
		}
		return nil
	})
	return m, err
}

// DeleteManifest deletes a manifest by digest: every current tag pointing at it
// ends, and the manifest is no longer served. Its rows stay for tag history
// until garbage collection. While an immutable tag points at it, it is
// core.CodeTagImmutable.
func (db *DB) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return db.write(ctx, func(t *tx) error {
		var id int64
		err := t.queryRow(ctx, `SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id
			WHERE r.full_name = ? AND m.digest = ? AND m.deleted_at IS NULL`, repo, string(d)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			if _, rerr := getRepo(ctx, t, repo); rerr != nil {
				return rerr
			}
			return core.Errorf(core.CodeManifestUnknown, "manifest %s not found in %s", d, repo)
		}
		if err != nil {
			return fmt.Errorf("delete manifest: %w", err)
		}
		if err := checkNoImmutableTags(ctx, t, id); err != nil {
			return err
		}
		if err := logManifestDelete(ctx, t, id, d); err != nil {
			return err
		}
		// Tags whose expiry has passed end at their expiry, the others now.
		if _, err := t.exec(ctx, `UPDATE tags SET lifetime_end = CASE WHEN expires_at IS NOT NULL AND expires_at <= ?
			THEN expires_at ELSE ? END WHERE manifest_id = ? AND lifetime_end IS NULL`, t.now, t.now, id); err != nil {
			return fmt.Errorf("end tags: %w", err)
		}
		if err := releaseManifestUsage(ctx, t, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE manifests SET deleted_at = ? WHERE id = ?`, t.now, id); err != nil {
			return fmt.Errorf("delete manifest: %w", err)
		}
		return nil
	})
}

// Referrers lists the live manifests of repo whose subject is d, optionally
// only those of one artifact type, ordered by digest.
func (db *DB) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]core.Descriptor, error) {
	var out []core.Descriptor
	err := db.read(ctx, func(t *tx) error {
		q := `SELECT m.media_type, m.digest, m.size, m.artifact_type, m.annotations FROM manifests m
			JOIN repositories r ON r.id = m.repository_id
			WHERE r.full_name = ? AND m.subject_digest = ? AND m.deleted_at IS NULL`
		args := []any{repo, string(d)}
		if artifactType != "" {
			q += ` AND m.artifact_type = ?`
			args = append(args, artifactType)
		}
		rows, err := t.query(ctx, q+` ORDER BY m.digest`, args...)
		if err != nil {
			return fmt.Errorf("referrers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var desc core.Descriptor
			var annotations sql.NullString
			if err := rows.Scan(&desc.MediaType, &desc.Digest, &desc.Size, &desc.ArtifactType, &annotations); err != nil {
				return err
			}
			if annotations.Valid && strings.TrimSpace(annotations.String) != "" {
				if err := json.Unmarshal([]byte(annotations.String), &desc.Annotations); err != nil {
					return fmt.Errorf("decode annotations: %w", err)
				}
			}
			out = append(out, desc)
		}
		return rows.Err()
	})
	return out, err
}
