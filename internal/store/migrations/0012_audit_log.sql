-- The audit log (Quay's LogEntry): one row per security-relevant action,
-- written in the transaction of the change it records (failed logins and
-- pulls in their own). Entries outlive what they name: ids carry no foreign
-- keys, and the names are copied, so the log of a deleted repository,
-- organization or account stays readable. Rows are only ever inserted, and
-- deleted by age (ACTION_LOG_ROTATION_THRESHOLD).
CREATE TABLE audit_logs (
    id {{ID}},
    kind TEXT NOT NULL,
    performer_id BIGINT,
    performer_name TEXT NOT NULL DEFAULT '',
    performer_kind TEXT NOT NULL DEFAULT '',
    performer_auth TEXT NOT NULL DEFAULT '',
    namespace_id BIGINT,
    namespace_name TEXT NOT NULL DEFAULT '',
    namespace_kind TEXT NOT NULL DEFAULT '',
    repository_id BIGINT,
    repository_name TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_logs_namespace ON audit_logs (namespace_id, created_at, id);
CREATE INDEX audit_logs_repository ON audit_logs (repository_id, created_at, id);
CREATE INDEX audit_logs_created ON audit_logs (created_at, id);
