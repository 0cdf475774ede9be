-- Storage replication (FEATURE_STORAGE_REPLICATION; internal/store/replication.go).
-- blob_placements says which storage location holds which blob: present
-- (the bytes are there), pending (a replicate_blob job will copy them) or
-- failed (the last copy attempt failed; error says why, the job retries).
-- Rows go with the blob row.
CREATE TABLE blob_placements (
    digest TEXT NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
    location TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (digest, location)
);
CREATE INDEX blob_placements_location ON blob_placements (location, state);

-- The locations the blobs of a namespace are replicated to, besides
-- DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS (Quay's UserRegion).
CREATE TABLE namespace_storage_locations (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    location TEXT NOT NULL,
    PRIMARY KEY (namespace_id, location)
);

-- Copies of garbage-collected blobs that a location could not delete (it
-- was unreachable); a periodic job retries them.
CREATE TABLE blob_deletions (
    digest TEXT NOT NULL,
    location TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (digest, location)
);
