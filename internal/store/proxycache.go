package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// ProxyCacheConfig is an organization's pull-through cache configuration
// (Quay's ProxyCacheConfig). PasswordSealed is the upstream password sealed
// by the caller (auth.Box); the store never sees the plaintext.
type ProxyCacheConfig struct {
	Namespace        string
	UpstreamRegistry string
	ExpirationS      int64
	Insecure         bool
	Username         string
	PasswordSealed   string
	CreatedAt        time.Time
}

// ProxyCacheConfig returns the proxy cache configuration of a namespace, or
// core.CodeNotFound when the namespace does not exist or is no proxy cache.
func (db *DB) ProxyCacheConfig(ctx context.Context, namespace string) (ProxyCacheConfig, error) {
	var c ProxyCacheConfig
	err := db.read(ctx, func(t *tx) error {
		var user, pass sql.NullString
		var created int64
		err := t.queryRow(ctx, `SELECT p.upstream_registry, p.expiration_s, p.insecure, p.username, p.password_sealed, p.created_at
			FROM proxy_cache_configs p JOIN namespaces n ON n.id = p.namespace_id WHERE n.name = ?`, namespace).
			Scan(&c.UpstreamRegistry, &c.ExpirationS, &c.Insecure, &user, &pass, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "%s has no proxy cache configuration", namespace)
		}
		if err != nil {
			return fmt.Errorf("get proxy cache config: %w", err)
		}
		c.Namespace, c.Username, c.PasswordSealed, c.CreatedAt = namespace, user.String, pass.String, time.UnixMilli(created)
		return nil
	})
	return c, err
}

// IsProxyCacheNamespace reports whether a namespace is a proxy cache.
func (db *DB) IsProxyCacheNamespace(ctx context.Context, namespace string) (bool, error) {
	var n int
	err := db.read(ctx, func(t *tx) error {
		return t.queryRow(ctx, `SELECT COUNT(*) FROM proxy_cache_configs p JOIN namespaces n ON n.id = p.namespace_id
			WHERE n.name = ?`, namespace).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("proxy cache namespace: %w", err)
	}
	return n > 0, nil
}

// CreateProxyCacheConfig makes an organization a proxy cache: core.CodeNotFound
// for an unknown organization, core.CodeConflict when it already has a
// configuration, core.CodeInvalid when it already holds repositories (a
// proxy cache only holds what it fetched).
func (db *DB) CreateProxyCacheConfig(ctx context.Context, c ProxyCacheConfig) error {
	return db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, c.Namespace)
		if err != nil {
			return err
		}
		if !n.IsOrg() {
			return core.Errorf(core.CodeNotFound, "organization %q not found", c.Namespace)
		}
		var count int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM proxy_cache_configs WHERE namespace_id = ?`, n.ID).Scan(&count); err != nil {
			return fmt.Errorf("find proxy cache config: %w", err)
		}
		if count > 0 {
			return core.Errorf(core.CodeConflict, "Proxy Cache Configuration already exists")
		}
		var user, pass sql.NullString
		if c.Username != "" {
			user = sql.NullString{String: c.Username, Valid: true}
		}
		if c.PasswordSealed != "" {
			pass = sql.NullString{String: c.PasswordSealed, Valid: true}
		}
		if _, err := t.exec(ctx, `INSERT INTO proxy_cache_configs (namespace_id, upstream_registry, expiration_s, insecure,
			username, password_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			n.ID, c.UpstreamRegistry, c.ExpirationS, c.Insecure, user, pass, t.now); err != nil {
			return fmt.Errorf("create proxy cache config: %w", err)
		}
		return nil
	})
}

// DeleteProxyCacheConfig removes an organization's proxy cache
// configuration (core.CodeNotFound when it has none). Cached repositories
// stay, and are then ordinary repositories.
func (db *DB) DeleteProxyCacheConfig(ctx context.Context, namespace string) error {
	return db.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM proxy_cache_configs WHERE namespace_id = (SELECT id FROM namespaces WHERE name = ?)`, namespace)
		if err != nil {
			return fmt.Errorf("delete proxy cache config: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.Errorf(core.CodeNotFound, "%s has no proxy cache configuration", namespace)
		}
		return nil
	})
}

// ProxyTag is the cache state of a tag of a proxied repository.
type ProxyTag struct {
	CheckedAt time.Time // last revalidated against the upstream
	PulledAt  time.Time // last pulled
}

// ProxyTagState returns a proxied tag's cache state, or core.CodeNotFound.
func (db *DB) ProxyTagState(ctx context.Context, repo, tag string) (ProxyTag, error) {
	var pt ProxyTag
	err := db.read(ctx, func(t *tx) error {
		var checked, pulled int64
		err := t.queryRow(ctx, `SELECT pt.checked_at, pt.pulled_at FROM proxy_tags pt
			JOIN repositories r ON r.id = pt.repository_id WHERE r.full_name = ? AND pt.tag = ?`, repo, tag).Scan(&checked, &pulled)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "tag %q of %s is not cached", tag, repo)
		}
		if err != nil {
			return fmt.Errorf("get proxy tag: %w", err)
		}
		pt.CheckedAt, pt.PulledAt = time.UnixMilli(checked), time.UnixMilli(pulled)
		return nil
	})
	return pt, err
}

// TouchProxyTag records a pull of a proxied tag, and a revalidation against
// the upstream when checked is set.
func (db *DB) TouchProxyTag(ctx context.Context, repo, tag string, checked bool) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		q := `INSERT INTO proxy_tags (repository_id, tag, checked_at, pulled_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (repository_id, tag) DO UPDATE SET pulled_at = excluded.pulled_at`
		if checked {
			q += `, checked_at = excluded.checked_at`
		}
		if _, err := t.exec(ctx, q, r.ID, tag, t.now, t.now); err != nil {
			return fmt.Errorf("touch proxy tag: %w", err)
		}
		return nil
	})
}

// PendingBlob is a blob a proxied manifest references that was not fetched.
type PendingBlob struct {
	Digest digest.Digest
	Size   int64
}

// PutProxiedManifest stores a manifest fetched from a proxy cache's
// upstream: the manifest, its tags, the blobs it references that are not
// fetched yet (pending: fetched on their first pull) and the cache state of
// its tags (checked and pulled now), all in PutManifest's transaction, so no
// crash leaves a cached manifest whose blobs the cache does not know it may
// fetch. Blobs the manifest already references are not pending; storing
// the same manifest again is harmless.
func (db *DB) PutProxiedManifest(ctx context.Context, m PutManifest, pending []PendingBlob) error {
	m.AllowMissingBlobs = true
	m.proxied = func(ctx context.Context, t *tx, repoID, manifestID int64) error {
		if err := addPendingBlobs(ctx, t, manifestID, pending); err != nil {
			return err
		}
		for _, tag := range m.Tags {
			if _, err := t.exec(ctx, `INSERT INTO proxy_tags (repository_id, tag, checked_at, pulled_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (repository_id, tag) DO UPDATE SET pulled_at = excluded.pulled_at, checked_at = excluded.checked_at`,
				repoID, tag, t.now, t.now); err != nil {
				return fmt.Errorf("proxy tag: %w", err)
			}
		}
		return nil
	}
	return db.PutManifest(ctx, m)
}

func addPendingBlobs(ctx context.Context, t *tx, manifestID int64, blobs []PendingBlob) error {
	for _, b := range blobs {
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM manifest_blobs WHERE manifest_id = ? AND digest = ?`, manifestID, string(b.Digest)).Scan(&n); err != nil {
			return fmt.Errorf("find manifest blob: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := t.exec(ctx, `INSERT INTO proxy_pending_blobs (manifest_id, digest, size) VALUES (?, ?, ?)
			ON CONFLICT (manifest_id, digest) DO NOTHING`, manifestID, string(b.Digest), b.Size); err != nil {
			return fmt.Errorf("add pending blob: %w", err)
		}
	}
	return nil
}

// ProxyPendingBlob returns the size of a blob that a manifest of repo
// references but that was not fetched yet (or whose link to the repository
// was removed while a live manifest still references it), or
// core.CodeBlobUnknown.
func (db *DB) ProxyPendingBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := db.read(ctx, func(t *tx) error {
		err := t.queryRow(ctx, `SELECT p.size FROM proxy_pending_blobs p
			JOIN manifests m ON m.id = p.manifest_id
			JOIN repositories r ON r.id = m.repository_id
			WHERE r.full_name = ? AND p.digest = ?
			UNION ALL
			SELECT b.size FROM manifest_blobs mb
			JOIN blobs b ON b.digest = mb.digest
			JOIN manifests m ON m.id = mb.manifest_id
			JOIN repositories r ON r.id = m.repository_id
			WHERE r.full_name = ? AND mb.digest = ? AND m.deleted_at IS NULL
			LIMIT 1`, repo, string(d), repo, string(d)).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeBlobUnknown, "blob %s not found in %s", d, repo)
		}
		if err != nil {
			return fmt.Errorf("find pending blob: %w", err)
		}
		return nil
	})
	return size, err
}

// CommitProxiedBlob records a blob fetched from the upstream (its bytes are
// committed to the blob store), links it to repo and turns the pending
// references of the repository's manifests into references, counting them
// in the namespace's usage while the manifests are live; one transaction.
func (db *DB) CommitProxiedBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?)
			ON CONFLICT (digest) DO NOTHING`, string(d), size, t.now); err != nil {
			return fmt.Errorf("insert blob: %w", err)
		}
		if err := linkBlob(ctx, t, r.ID, d); err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT p.manifest_id, m.deleted_at IS NULL FROM proxy_pending_blobs p
			JOIN manifests m ON m.id = p.manifest_id WHERE m.repository_id = ? AND p.digest = ? ORDER BY p.manifest_id`, r.ID, string(d))
		if err != nil {
			return fmt.Errorf("pending blobs: %w", err)
		}
		type pending struct {
			id   int64
			live bool
		}
		var ps []pending
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.id, &p.live); err != nil {
				rows.Close()
				return fmt.Errorf("scan pending blob: %w", err)
			}
			ps = append(ps, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var live int64
		var nsID int64
		if err := t.queryRow(ctx, `SELECT namespace_id FROM repositories WHERE id = ?`, r.ID).Scan(&nsID); err != nil {
			return fmt.Errorf("repository namespace: %w", err)
		}
		for _, p := range ps {
			if _, err := t.exec(ctx, `INSERT INTO manifest_blobs (manifest_id, digest) VALUES (?, ?)
				ON CONFLICT (manifest_id, digest) DO NOTHING`, p.id, string(d)); err != nil {
				return fmt.Errorf("insert manifest blob: %w", err)
			}
			if _, err := t.exec(ctx, `DELETE FROM proxy_pending_blobs WHERE manifest_id = ? AND digest = ?`, p.id, string(d)); err != nil {
				return fmt.Errorf("delete pending blob: %w", err)
			}
			if p.live {
				live++
			}
		}
		if live == 0 {
			return nil
		}
		return countBlobRefs(ctx, t, nsID, d, size, live)
	})
}

// countBlobRefs adds n live references to blob d in a namespace's usage.
func countBlobRefs(ctx context.Context, t *tx, nsID int64, d digest.Digest, size, n int64) error {
	if _, err := t.exec(ctx, `INSERT INTO namespace_usage (namespace_id, bytes) VALUES (?, 0)
		ON CONFLICT (namespace_id) DO NOTHING`, nsID); err != nil {
		return fmt.Errorf("namespace usage: %w", err)
	}
	var current int64
	if err := t.queryRow(ctx, `SELECT bytes FROM namespace_usage WHERE namespace_id = ?`+t.lockSuffix("FOR UPDATE"), nsID).Scan(&current); err != nil {
		return fmt.Errorf("lock namespace usage: %w", err)
	}
	var refs int64
	if err := t.queryRow(ctx, `INSERT INTO namespace_blob_refs (namespace_id, digest, refs) VALUES (?, ?, ?)
		ON CONFLICT (namespace_id, digest) DO UPDATE SET refs = namespace_blob_refs.refs + excluded.refs RETURNING refs`,
		nsID, string(d), n).Scan(&refs); err != nil {
		return fmt.Errorf("count blob reference: %w", err)
	}
	if refs == n {
		if _, err := t.exec(ctx, `UPDATE namespace_usage SET bytes = bytes + ? WHERE namespace_id = ?`, size, nsID); err != nil {
			return fmt.Errorf("update namespace usage: %w", err)
		}
	}
	return nil
}

// EvictProxyTag removes the least recently pulled tag of a proxy-cache
// namespace to make room: the tag ends and, when no other current tag
// points at its manifest, the manifest (and its untagged child manifests)
// stop being live and leave the namespace's usage; garbage collection
// removes the bytes. Tags of manifests that reference blob keep (the pull in
// progress) are spared. It returns the evicted repository and tag, or ok
// false when nothing can be evicted.
func (db *DB) EvictProxyTag(ctx context.Context, namespace string, keep digest.Digest) (repo, tag string, ok bool, err error) {
	err = db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		var repoID, manifestID, tagID int64
		err = t.queryRow(ctx, `SELECT r.full_name, r.id, pt.tag, tg.manifest_id, tg.id FROM proxy_tags pt
			JOIN repositories r ON r.id = pt.repository_id
			JOIN tags tg ON tg.repository_id = pt.repository_id AND tg.name = pt.tag AND tg.lifetime_end IS NULL
			WHERE r.namespace_id = ? AND tg.immutable = ?
			AND NOT EXISTS (SELECT 1 FROM proxy_pending_blobs p WHERE p.manifest_id = tg.manifest_id AND p.digest = ?)
			AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.manifest_id = tg.manifest_id AND mb.digest = ?)
			ORDER BY pt.pulled_at, pt.repository_id, pt.tag LIMIT 1`, n.ID, false, string(keep), string(keep)).
			Scan(&repo, &repoID, &tag, &manifestID, &tagID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("least recently pulled tag: %w", err)
		}
		ok = true
		return dropProxyTag(ctx, t, repoID, tag, tagID, manifestID)
	})
	return repo, tag, ok, err
}

// EndProxyTag removes a cached tag that the upstream no longer has (a
// revalidation found it gone): the tag ends when it still points at
// manifest d, and the manifest and its untagged children stop being live,
// as an eviction does. ok false: the tag no longer points at d (another
// pull moved it); nothing changed.
func (db *DB) EndProxyTag(ctx context.Context, repo, tag string, d digest.Digest) (ok bool, err error) {
	err = db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		var manifestID, tagID int64
		err = t.queryRow(ctx, `SELECT tg.manifest_id, tg.id FROM tags tg JOIN manifests m ON m.id = tg.manifest_id
			WHERE tg.repository_id = ? AND tg.name = ? AND tg.lifetime_end IS NULL AND m.digest = ?`, r.ID, tag, string(d)).
			Scan(&manifestID, &tagID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find proxied tag: %w", err)
		}
		ok = true
		return dropProxyTag(ctx, t, r.ID, tag, tagID, manifestID)
	})
	return ok, err
}

// dropProxyTag ends a proxied tag and forgets its cache state; its
// manifest, and the manifest's child manifests, stop being live (and leave
// the namespace's usage) when no other current tag points at them.
func dropProxyTag(ctx context.Context, t *tx, repoID int64, tag string, tagID, manifestID int64) error {
	if _, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE id = ?`, t.now, tagID); err != nil {
		return fmt.Errorf("end tag: %w", err)
	}
	if _, err := t.exec(ctx, `DELETE FROM proxy_tags WHERE repository_id = ? AND tag = ?`, repoID, tag); err != nil {
		return fmt.Errorf("delete proxy tag: %w", err)
	}
	victims := []int64{manifestID}
	rows, err := t.query(ctx, `SELECT m.id FROM manifest_children mc JOIN manifests m
		ON m.repository_id = ? AND m.digest = mc.child_digest WHERE mc.manifest_id = ? ORDER BY m.id`, repoID, manifestID)
	if err != nil {
		return fmt.Errorf("child manifests: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("scan child manifest: %w", err)
		}
		victims = append(victims, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range victims {
		var tagged int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM tags WHERE manifest_id = ? AND lifetime_end IS NULL`, id).Scan(&tagged); err != nil {
			return fmt.Errorf("count tags: %w", err)
		}
		if tagged > 0 {
			continue
		}
		if err := releaseManifestUsage(ctx, t, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE manifests SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, t.now, id); err != nil {
			return fmt.Errorf("evict manifest: %w", err)
		}
	}
	return nil
}

// AcquireProxyFetch takes the lease on an upstream fetch (key names the
// item) until ttl from now; false when another holder's lease has not
// expired.
func (db *DB) AcquireProxyFetch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	var ok bool
	err := db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM proxy_fetches WHERE fetch_key = ? AND expires_at <= ?`, key, t.now); err != nil {
			return fmt.Errorf("expire proxy fetch: %w", err)
		}
		res, err := t.exec(ctx, `INSERT INTO proxy_fetches (fetch_key, expires_at) VALUES (?, ?) ON CONFLICT (fetch_key) DO NOTHING`,
			key, t.now+ttl.Milliseconds())
		if err != nil {
			return fmt.Errorf("acquire proxy fetch: %w", err)
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, err
}

// RenewProxyFetch extends a held lease to ttl from now.
func (db *DB) RenewProxyFetch(ctx context.Context, key string, ttl time.Duration) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `UPDATE proxy_fetches SET expires_at = ? WHERE fetch_key = ?`, t.now+ttl.Milliseconds(), key); err != nil {
			return fmt.Errorf("renew proxy fetch: %w", err)
		}
		return nil
	})
}

// ReleaseProxyFetch ends a lease.
func (db *DB) ReleaseProxyFetch(ctx context.Context, key string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM proxy_fetches WHERE fetch_key = ?`, key); err != nil {
			return fmt.Errorf("release proxy fetch: %w", err)
		}
		return nil
	})
}
