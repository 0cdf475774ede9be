-- People's identities at external OpenID Connect login providers (Quay's
-- FederatedLogin): the local account that (provider, subject) signs in as.
-- provider is the configured provider name (OIDC_PROVIDERS key), subject the
-- ID token's "sub"; the pair never changes for a person, unlike their
-- username or email there. issuer and external_username are informational
-- (the provider's issuer URL and the username it reported at link time).
-- A person has at most one identity per provider.
CREATE TABLE external_logins (
    id {{ID}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL DEFAULT '',
    external_username TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (provider, subject),
    UNIQUE (user_id, provider)
);
