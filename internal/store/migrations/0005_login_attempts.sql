-- Failed logins, counted per key ("account:<name>" or "address:<ip>") in fixed
-- windows of the configured length. The previous window's count is kept too,
-- so the rate limiter can weigh it into a sliding-window estimate. Rows live
-- in the database so that every replica sees the same counts.
CREATE TABLE login_attempts (
    attempt_key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures INTEGER NOT NULL,
    prev_failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);
