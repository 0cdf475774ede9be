-- Organization mirroring: an organization follows the repositories of an
-- upstream namespace. Every upstream repository whose name (below the
-- namespace) matches repository_filter (JSON glob patterns) gets a local
-- repository of the same name in state MIRROR with a repo_mirrors row built
-- from the settings here; the repository mirrors then sync on their own.
-- repositories (JSON) lists the upstream repositories to follow when the
-- upstream has no catalog; empty, the upstream's catalog is read. The
-- upstream username and password are sealed with the at-rest key.
-- next_discovery is when the upstream is listed next. Times are Unix
-- milliseconds.
CREATE TABLE org_mirrors (
    namespace_id BIGINT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    is_enabled BOOLEAN NOT NULL,
    external_registry TEXT NOT NULL,
    external_namespace TEXT NOT NULL,
    repository_filter TEXT NOT NULL DEFAULT '[]',
    repositories TEXT NOT NULL DEFAULT '[]',
    username_enc TEXT,
    password_enc TEXT,
    robot_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    sync_interval BIGINT NOT NULL,
    rule_value TEXT NOT NULL,
    architecture_filter TEXT NOT NULL DEFAULT '[]',
    registry_config TEXT NOT NULL DEFAULT '{}',
    delete_obsolete_tags BOOLEAN NOT NULL DEFAULT TRUE,
    next_discovery BIGINT NOT NULL,
    last_discovery BIGINT,
    last_error TEXT NOT NULL DEFAULT '',
    repositories_created BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX org_mirrors_due ON org_mirrors (is_enabled, next_discovery);
