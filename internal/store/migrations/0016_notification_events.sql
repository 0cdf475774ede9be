-- State of the events raised without a change to react to, so that each is
-- raised once, and of the vulnerability data downloads.

-- Quota thresholds a namespace has been notified of (kind Warning: a push
-- took usage past it; kind Reject: a push was refused by it). A row stops
-- the same event again until usage falls back under the threshold, which
-- deletes the row.
CREATE TABLE quota_notification_state (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    threshold_percent BIGINT NOT NULL,
    notified_at BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, kind, threshold_percent)
);

-- Tag rows a repo_image_expiry config has announced (Quay's
-- TagNotificationSuccess): each expiring tag row is announced once per
-- config.
CREATE TABLE tag_expiry_notified (
    notification_id BIGINT NOT NULL REFERENCES repository_notifications (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    notified_at BIGINT NOT NULL,
    PRIMARY KEY (notification_id, tag_id)
);
CREATE INDEX tag_expiry_notified_tag ON tag_expiry_notified (tag_id);

-- Vulnerability data sources downloaded periodically: the validators of
-- the last download (for conditional requests) and its outcome.
CREATE TABLE vulndb_sources (
    url TEXT PRIMARY KEY,
    etag TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    error TEXT NOT NULL
);
