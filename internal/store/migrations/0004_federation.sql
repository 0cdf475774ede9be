-- Keyless robot federation (Quay 3.13): the external OIDC identities that may
-- exchange their ID tokens for a short-lived token of a robot. Each row is one
-- trusted (issuer, subject) pair; audience, when not empty, must be named by
-- the external token. ord keeps the order the administrator gave.
CREATE TABLE robot_federation (
    id {{ID}},
    robot_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    audience TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (robot_id, issuer, subject)
);
