-- Registry core: namespaces, repositories, blobs, manifests, tags, uploads.
-- {{ID}}, {{BYTES}} and {{CTEXT}} (text in byte order) are replaced per dialect
-- (see migrate.go).

CREATE TABLE namespaces (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'user',
    created_at BIGINT NOT NULL
);

CREATE TABLE repositories (
    id {{ID}},
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id),
    name TEXT NOT NULL,
    full_name {{CTEXT}} NOT NULL UNIQUE,
    visibility TEXT NOT NULL DEFAULT 'private',
    state TEXT NOT NULL DEFAULT 'NORMAL',
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (namespace_id, name)
);

-- Blobs are content-addressed and shared by every repository. A row exists only
-- once the bytes are committed to the blob store.
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which repositories may serve a blob (uploaded into or mounted into them).
CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blobs (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

-- Manifests are stored once per repository with their raw bytes. deleted_at is
-- set when a client deletes the manifest; the row stays for tag history until
-- garbage collection removes it.
CREATE TABLE manifests (
    id {{ID}},
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT NOT NULL DEFAULT '',
    config_media_type TEXT NOT NULL DEFAULT '',
    subject_digest TEXT,
    annotations TEXT,
    size BIGINT NOT NULL,
    layers_size BIGINT NOT NULL DEFAULT 0,
    content {{BYTES}} NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    UNIQUE (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repository_id, subject_digest);

-- References from a manifest to the blobs it needs (config and distributable layers).
CREATE TABLE manifest_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blobs (digest),
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX manifest_blobs_digest ON manifest_blobs (digest);

-- References from an index to its child manifests (by digest; a sparse index may
-- name children the repository does not hold).
CREATE TABLE manifest_children (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest TEXT NOT NULL,
    PRIMARY KEY (manifest_id, child_digest)
);
CREATE INDEX manifest_children_child ON manifest_children (child_digest);

-- Tags are never updated in place: moving or deleting a tag ends its row
-- (lifetime_end) and a move starts a new one. Current tags have no end.
CREATE TABLE tags (
    id {{ID}},
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name {{CTEXT}} NOT NULL,
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    lifetime_start BIGINT NOT NULL,
    lifetime_end BIGINT
);
CREATE UNIQUE INDEX tags_current ON tags (repository_id, name) WHERE lifetime_end IS NULL;
CREATE INDEX tags_manifest ON tags (manifest_id);
CREATE INDEX tags_history ON tags (repository_id, name, lifetime_start);

-- Upload sessions; the bytes live in the blob store under the same id.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_updated ON uploads (updated_at);
