package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// LoginAttempts is the count of failed logins of one key (an account or a
// source address) in the window starting at WindowStart and in the window
// just before it.
type LoginAttempts struct {
	WindowStart  time.Time
	Failures     int
	PrevFailures int
}

// LoginAttempts returns the counts of those keys that have any.
func (db *DB) LoginAttempts(ctx context.Context, keys []string) (map[string]LoginAttempts, error) {
	out := make(map[string]LoginAttempts, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := db.read(ctx, func(t *tx) error {
		args := make([]any, len(keys))
		for i, k := range keys {
			args[i] = k
		}
		rows, err := t.query(ctx, `SELECT attempt_key, window_start, failures, prev_failures FROM login_attempts
			WHERE attempt_key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("login attempts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var start int64
			var a LoginAttempts
			if err := rows.Scan(&k, &start, &a.Failures, &a.PrevFailures); err != nil {
				return fmt.Errorf("login attempts: %w", err)
			}
			a.WindowStart = time.UnixMilli(start)
			out[k] = a
		}
		return rows.Err()
	})
	return out, err
}

// RecordLoginFailure counts one failed login for each key in the window that
// starts at windowStart and lasts window. A key whose row holds the window
// before moves on (that count becomes PrevFailures); an older row starts
// over. A row already in a later window (a replica whose clock is ahead)
// keeps its window and counts the failure there. The update is one atomic
// statement per key, so concurrent replicas never lose a count.
func (db *DB) RecordLoginFailure(ctx context.Context, keys []string, windowStart time.Time, window time.Duration) error {
	keys = slices.Clone(keys)
	slices.Sort(keys) // one lock order for concurrent transactions
	keys = slices.Compact(keys)
	start, w := windowStart.UnixMilli(), window.Milliseconds()
	return db.write(ctx, func(t *tx) error {
		for _, k := range keys {
			_, err := t.exec(ctx, `INSERT INTO login_attempts (attempt_key, window_start, failures, prev_failures)
				VALUES (?, ?, 1, 0)
				ON CONFLICT (attempt_key) DO UPDATE SET
				prev_failures = CASE
					WHEN login_attempts.window_start >= excluded.window_start THEN login_attempts.prev_failures
					WHEN login_attempts.window_start = excluded.window_start - ? THEN login_attempts.failures
					ELSE 0 END,
				failures = CASE
					WHEN login_attempts.window_start >= excluded.window_start THEN login_attempts.failures + 1
					ELSE 1 END,
				window_start = CASE
					WHEN login_attempts.window_start >= excluded.window_start THEN login_attempts.window_start
					ELSE excluded.window_start END`, k, start, w)
			if err != nil {
				return fmt.Errorf("record login failure: %w", err)
			}
		}
		return nil
	})
}

// ResetLoginAttempts forgets the failures of a key (after a successful login).
func (db *DB) ResetLoginAttempts(ctx context.Context, key string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM login_attempts WHERE attempt_key = ?`, key); err != nil {
			return fmt.Errorf("reset login attempts: %w", err)
		}
		return nil
	})
}

// PruneLoginAttempts deletes the rows whose window started before before:
// counts that no longer matter to any window the limiter looks at.
func (db *DB) PruneLoginAttempts(ctx context.Context, before time.Time) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM login_attempts WHERE window_start < ?`, before.UnixMilli()); err != nil {
			return fmt.Errorf("prune login attempts: %w", err)
		}
		return nil
	})
}
