-- Auto-prune policies and namespace quotas.

-- Auto-prune policies (Quay 3.13) of a namespace (repository_id NULL) or of
-- one repository. method is number_of_tags (value: how many of the newest
-- tags to keep) or creation_date (value: a duration such as 2w; older tags
-- go). tag_pattern, when not NULL, limits the policy to the tags whose whole
-- name matches it (tag_pattern_matches) or does not.
CREATE TABLE autoprune_policies (
    id {{ID}},
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    repository_id BIGINT REFERENCES repositories (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    value TEXT NOT NULL,
    tag_pattern TEXT,
    tag_pattern_matches BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX autoprune_policies_namespace ON autoprune_policies (namespace_id);
CREATE INDEX autoprune_policies_repository ON autoprune_policies (repository_id);

-- Repositories a push asked to prune whose prune job has not started yet:
-- a push enqueues a job only when it inserts the row, so a burst of pushes
-- to one repository costs one job.
CREATE TABLE autoprune_pending (
    repository_id BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    requested_at BIGINT NOT NULL
);

-- Namespace quotas (Quay's quota management): one storage limit per
-- namespace, with Warning and Reject thresholds in percent of it.
CREATE TABLE namespace_quotas (
    id {{ID}},
    namespace_id BIGINT NOT NULL UNIQUE REFERENCES namespaces (id) ON DELETE CASCADE,
    limit_bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE quota_limits (
    id {{ID}},
    quota_id BIGINT NOT NULL REFERENCES namespace_quotas (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    threshold_percent BIGINT NOT NULL
);
CREATE INDEX quota_limits_quota ON quota_limits (quota_id);

-- Storage used by a namespace, kept exact in the transactions that make
-- manifests live (push, restore) or not (delete, repository delete, garbage
-- collection): refs counts the live manifests of the namespace that
-- reference a blob, and bytes is the sum of the sizes of the blobs with
-- refs > 0, so a layer shared inside a namespace counts once.
CREATE TABLE namespace_blob_refs (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    refs BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, digest)
);
CREATE TABLE namespace_usage (
    namespace_id BIGINT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    bytes BIGINT NOT NULL,
    recounted_at BIGINT
);

-- What existed before this migration.
INSERT INTO namespace_blob_refs (namespace_id, digest, refs)
    SELECT r.namespace_id, mb.digest, COUNT(*) FROM manifest_blobs mb
    JOIN manifests m ON m.id = mb.manifest_id JOIN repositories r ON r.id = m.repository_id
    WHERE m.deleted_at IS NULL GROUP BY r.namespace_id, mb.digest;
INSERT INTO namespace_usage (namespace_id, bytes)
    SELECT nr.namespace_id, SUM(b.size) FROM namespace_blob_refs nr JOIN blobs b ON b.digest = nr.digest
    GROUP BY nr.namespace_id;
