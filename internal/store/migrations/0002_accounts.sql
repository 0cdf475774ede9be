-- Accounts and the permission model (Quay's): people and robots, organizations,
-- teams, repository permissions, default permissions (prototypes), app tokens,
-- OAuth applications and tokens, and the registry's signing keys.

-- People and robots. A robot is named "<namespace>+<short>" and belongs to a
-- namespace. Passwords are bcrypt hashes; robot tokens are encrypted with the
-- database secret (so admins can show them again).
CREATE TABLE users (
    id {{ID}},
    username {{CTEXT}} NOT NULL UNIQUE,
    email TEXT,
    password_hash TEXT,
    kind TEXT NOT NULL DEFAULT 'user',
    robot_namespace_id BIGINT REFERENCES namespaces (id) ON DELETE CASCADE,
    robot_token_enc TEXT,
    description TEXT NOT NULL DEFAULT '',
    metadata TEXT,
    superuser BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    last_accessed BIGINT
);
CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL AND kind = 'user';
CREATE INDEX users_robot_namespace ON users (robot_namespace_id);

-- A user's own namespace points at the user; organizations have an email.
ALTER TABLE namespaces ADD COLUMN user_id BIGINT REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE namespaces ADD COLUMN email TEXT;

-- Teams of an organization with a role: member, creator or admin. The
-- "owners" team is admin.
CREATE TABLE teams (
    id {{ID}},
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    name {{CTEXT}} NOT NULL,
    role TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (namespace_id, name)
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- A role (read, write, admin) on a repository for a user, a robot or a team.
CREATE TABLE repository_permissions (
    id {{ID}},
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    team_id BIGINT REFERENCES teams (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    CHECK ((user_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX repository_permissions_user ON repository_permissions (repository_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX repository_permissions_team ON repository_permissions (repository_id, team_id) WHERE team_id IS NOT NULL;
CREATE INDEX repository_permissions_user_lookup ON repository_permissions (user_id);
CREATE INDEX repository_permissions_team_lookup ON repository_permissions (team_id);

-- Default permissions of an organization, applied when a repository is
-- created (when activating_user_id is set, only for repositories that user
-- creates).
CREATE TABLE prototypes (
    id {{ID}},
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    activating_user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    delegate_user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    delegate_team_id BIGINT REFERENCES teams (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK ((delegate_user_id IS NULL) <> (delegate_team_id IS NULL))
);
CREATE INDEX prototypes_namespace ON prototypes (namespace_id);

-- Per-user application tokens for CLI access ($app). The token is a lookup
-- prefix plus a secret; only a SHA-256 of the secret is stored.
CREATE TABLE app_tokens (
    id {{ID}},
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    token_prefix TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_accessed BIGINT
);
CREATE INDEX app_tokens_user ON app_tokens (user_id);

-- OAuth applications of an organization; the client secret is encrypted.
CREATE TABLE oauth_applications (
    id {{ID}},
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL UNIQUE,
    client_secret_enc TEXT NOT NULL,
    name TEXT NOT NULL,
    redirect_uri TEXT NOT NULL DEFAULT '',
    application_uri TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_applications_namespace ON oauth_applications (namespace_id);

-- OAuth access tokens for /api/v1 and $oauthtoken, with Quay's scopes
-- (space-separated). Only a SHA-256 of the secret part is stored.
CREATE TABLE oauth_tokens (
    id {{ID}},
    uuid TEXT NOT NULL UNIQUE,
    application_id BIGINT REFERENCES oauth_applications (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_prefix TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX oauth_tokens_user ON oauth_tokens (user_id);

-- Keys that sign registry tokens. Private keys are encrypted with the
-- database secret; public keys are published as a JWKS. Rotation adds a key
-- and later expires the old one.
CREATE TABLE service_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
