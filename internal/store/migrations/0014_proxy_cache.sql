-- Pull-through proxy cache (Quay's ProxyCacheConfig): an organization with a
-- row here mirrors an upstream registry on demand. upstream_registry is a
-- host with an optional namespace prefix ("docker.io/library",
-- "quay.io/org"); the password is sealed with the database secret key.
CREATE TABLE proxy_cache_configs (
    namespace_id BIGINT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    upstream_registry TEXT NOT NULL,
    expiration_s BIGINT NOT NULL,
    insecure BOOLEAN NOT NULL,
    username TEXT,
    password_sealed TEXT,
    created_at BIGINT NOT NULL
);

-- Tags of proxied repositories: when the tag was last checked against the
-- upstream (revalidation after expiration_s) and last pulled (eviction of
-- the least recently pulled when the quota would be exceeded).
CREATE TABLE proxy_tags (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag {{CTEXT}} NOT NULL,
    checked_at BIGINT NOT NULL,
    pulled_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, tag)
);
CREATE INDEX proxy_tags_pulled ON proxy_tags (pulled_at);

-- Blobs a proxied manifest references that were not fetched yet: when one
-- is fetched, its reference moves into manifest_blobs (and into the
-- namespace's quota usage while the manifest is live).
CREATE TABLE proxy_pending_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX proxy_pending_blobs_digest ON proxy_pending_blobs (digest);

-- Upstream fetches in progress, so that replicas sharing the database fetch
-- an item once (best effort): a replica holds the key until expires_at
-- (renewed while it fetches); the others wait for the result.
CREATE TABLE proxy_fetches (
    fetch_key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
