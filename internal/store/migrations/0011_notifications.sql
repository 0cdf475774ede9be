-- Repository notifications (Quay's RepositoryNotification): a config binds
-- an event to a delivery method. Deliveries are jobs; each attempt leaves a
-- row in notification_deliveries (the last ones per config are kept).
-- number_of_failures counts failed attempts since the last success; a config
-- whose count reaches the configured limit is disabled (no longer emitted
-- to) until POST .../notification/{uuid} resets it.
CREATE TABLE repository_notifications (
    id {{ID}},
    uuid TEXT NOT NULL UNIQUE,
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    event TEXT NOT NULL,
    method TEXT NOT NULL,
    config TEXT NOT NULL,
    event_config TEXT NOT NULL,
    number_of_failures BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX repository_notifications_repository ON repository_notifications (repository_id, event);

CREATE TABLE notification_deliveries (
    id {{ID}},
    notification_id BIGINT NOT NULL REFERENCES repository_notifications (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    success BOOLEAN NOT NULL,
    error TEXT NOT NULL,
    test BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notification_deliveries_notification ON notification_deliveries (notification_id, id);

-- In-app notifications (method quay_notification) for users.
CREATE TABLE user_notifications (
    id {{ID}},
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    metadata TEXT NOT NULL,
    dismissed BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX user_notifications_user ON user_notifications (user_id, id);
