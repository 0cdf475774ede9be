-- Registry lifecycle: tag expiry, immutable tags and immutability policies,
-- restores, the per-namespace time-machine window and the registry-wide
-- state switch.

-- expires_at (Unix ms) is when a current tag ends by itself: from the API or
-- the quay.expires-after label. Reads treat a current row whose expiry has
-- passed as gone; a periodic sweep then sets lifetime_end = expires_at.
-- immutable is the tag's own flag (API or the quay.immutable label);
-- policies are evaluated when a tag changes. reversion marks rows started by
-- a restore.
ALTER TABLE tags ADD COLUMN expires_at BIGINT;
ALTER TABLE tags ADD COLUMN immutable BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tags ADD COLUMN reversion BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tags_expiry ON tags (expires_at) WHERE lifetime_end IS NULL AND expires_at IS NOT NULL;

-- The manifest's quay.* labels as a JSON object (from the image config's
-- Labels and the manifest's annotations; for an index, also those every
-- child shares), applied to the tags each push creates.
ALTER TABLE manifests ADD COLUMN labels TEXT;

-- Time-machine window in seconds (Quay's tag_expiration_s): how long ended
-- tags stay listed and restorable. NULL means the configured default.
ALTER TABLE namespaces ADD COLUMN tag_expiration_s BIGINT;

-- Immutability policies of a namespace (repository_id NULL) or of one
-- repository: tags whose name matches tag_pattern (a regular expression
-- matched against the whole name) are immutable, or, with
-- tag_pattern_matches false, those that do not match.
CREATE TABLE immutability_policies (
    id {{ID}},
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    repository_id BIGINT REFERENCES repositories (id) ON DELETE CASCADE,
    tag_pattern TEXT NOT NULL,
    tag_pattern_matches BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX immutability_policies_namespace ON immutability_policies (namespace_id);
CREATE INDEX immutability_policies_repository ON immutability_policies (repository_id);

-- Registry-wide settings every replica reads: today only registry_state
-- (normal | readonly), switched by a superuser through the API.
CREATE TABLE registry_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
