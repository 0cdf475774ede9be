-- Repository mirroring (Quay's RepoMirrorConfig): a repository in state
-- MIRROR copies tags from an external repository. The upstream username and
-- password are sealed with the at-rest key (never plaintext). rule_value,
-- architecture_filter and registry_config are JSON. sync_token names the
-- sync run that may write the status (a newer claim supersedes a stale
-- job); sync_expiration_date is the claim's lease, after which the
-- scheduler claims the mirror again. Times are Unix milliseconds.
CREATE TABLE repo_mirrors (
    repository_id BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    is_enabled BOOLEAN NOT NULL,
    external_reference TEXT NOT NULL,
    username_enc TEXT,
    password_enc TEXT,
    robot_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    sync_interval BIGINT NOT NULL,
    sync_start_date BIGINT NOT NULL,
    sync_expiration_date BIGINT,
    sync_retries_remaining BIGINT NOT NULL,
    sync_status TEXT NOT NULL,
    sync_token TEXT NOT NULL DEFAULT '',
    rule_value TEXT NOT NULL,
    architecture_filter TEXT NOT NULL DEFAULT '[]',
    registry_config TEXT NOT NULL DEFAULT '{}',
    delete_obsolete_tags BOOLEAN NOT NULL DEFAULT TRUE,
    last_sync_start BIGINT,
    last_sync_end BIGINT,
    last_sync_result TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    tags_synced BIGINT NOT NULL DEFAULT 0,
    tags_failed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX repo_mirrors_due ON repo_mirrors (is_enabled, sync_start_date);
