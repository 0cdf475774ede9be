-- Online garbage collection (internal/store/gc.go, internal/gc/doc.go).
-- The queues hold candidates with the time of the event that made them one, so that a pass costs what the garbage costs:
-- a manifest is queued when it is stored (due once the grace period has
-- passed) and when what kept it (a parent index, a subject) is collected; a
-- blob is queued when it is linked to a repository (due after the grace
-- period), unlinked, or when a manifest referencing it is collected. Tag rows
-- that ended outside the time-machine window are found through tags_ended.
CREATE TABLE gc_manifest_queue (
    manifest_id BIGINT PRIMARY KEY,
    queued_at BIGINT NOT NULL
);
CREATE INDEX gc_manifest_queue_queued ON gc_manifest_queue (queued_at);

CREATE TABLE gc_blob_queue (
    digest TEXT PRIMARY KEY,
    queued_at BIGINT NOT NULL
);
CREATE INDEX gc_blob_queue_queued ON gc_blob_queue (queued_at);

CREATE INDEX tags_ended ON tags (lifetime_end) WHERE lifetime_end IS NOT NULL;

-- Everything stored before this migration is a candidate once.
INSERT INTO gc_manifest_queue (manifest_id, queued_at) SELECT id, created_at FROM manifests;
INSERT INTO gc_blob_queue (digest, queued_at) SELECT digest, created_at FROM blobs;
