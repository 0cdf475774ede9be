package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// EventRepoImageExpiry is the event raised ahead of tag expiry.
const EventRepoImageExpiry = "repo_image_expiry"

// ImageExpiryData is the event data of EventRepoImageExpiry (Quay's
// fields): the config it is meant for, the tags and the config's horizon.
type ImageExpiryData struct {
	NotificationUUID string   `json:"notification_uuid"`
	Tags             []string `json:"tags"`
	ExpiringIn       string   `json:"expiring_in"`
}

// expiryConfig is a repo_image_expiry config and its horizon in days.
type expiryConfig struct {
	id, repoID int64
	uuid, repo string
	days       int64
}

// NotifyExpiringTags raises repo_image_expiry for each config of the event
// whose repository has current tags expiring within the config's days
// (eventConfig.days) that the config has not announced yet: one event per
// config naming those tags, delivered to that config only. Each tag row is
// announced once per config. It returns the number of events raised.
func (db *DB) NotifyExpiringTags(ctx context.Context, now time.Time) (int, error) {
	var cfgs []expiryConfig
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT rn.id, rn.uuid, rn.repository_id, r.full_name, rn.event_config`+notificationFrom+
			`WHERE rn.event = ? ORDER BY rn.id`, EventRepoImageExpiry)
		if err != nil {
			return fmt.Errorf("expiry notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c expiryConfig
			var ec string
			if err := rows.Scan(&c.id, &c.uuid, &c.repoID, &c.repo, &ec); err != nil {
				return fmt.Errorf("expiry notifications: %w", err)
			}
			var v struct {
				Days float64 `json:"days"`
			}
			if json.Unmarshal([]byte(ec), &v) != nil || v.Days < 1 {
				continue
			}
			c.days = int64(v.Days)
			cfgs = append(cfgs, c)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cfgs {
		sent, err := db.notifyExpiring(ctx, c, now)
		if err != nil {
			return n, err
		}
		if sent {
			n++
		}
	}
	return n, nil
}

func (db *DB) notifyExpiring(ctx context.Context, c expiryConfig, now time.Time) (bool, error) {
	sent := false
	err := db.write(ctx, func(t *tx) error {
		sent = false
		from := now.UnixMilli()
		until := from + c.days*24*int64(time.Hour/time.Millisecond)
		rows, err := t.query(ctx, `SELECT tg.id, tg.name FROM tags tg WHERE tg.repository_id = ? AND tg.lifetime_end IS NULL
			AND tg.expires_at IS NOT NULL AND tg.expires_at > ? AND tg.expires_at <= ? AND tg.immutable = ?
			AND NOT EXISTS (SELECT 1 FROM tag_expiry_notified x WHERE x.notification_id = ? AND x.tag_id = tg.id)
			ORDER BY tg.name`, c.repoID, from, until, false, c.id)
		if err != nil {
			return fmt.Errorf("expiring tags: %w", err)
		}
		var ids []int64
		names := []string{}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return fmt.Errorf("expiring tags: %w", err)
			}
			ids, names = append(ids, id), append(names, name)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("expiring tags: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			if _, err := t.exec(ctx, `INSERT INTO tag_expiry_notified (notification_id, tag_id, notified_at) VALUES (?, ?, ?)
				ON CONFLICT (notification_id, tag_id) DO NOTHING`, c.id, id, t.now); err != nil {
				return fmt.Errorf("record expiry notification: %w", err)
			}
		}
		b, err := json.Marshal(ImageExpiryData{NotificationUUID: c.uuid, Tags: names, ExpiringIn: fmt.Sprintf("%d days", c.days)})
		if err != nil {
			return fmt.Errorf("emit %s: %w", EventRepoImageExpiry, err)
		}
		sent = true
		return db.enqueue(ctx, t, JobNotification, NotificationJob{UUID: c.uuid, Event: EventRepoImageExpiry, Repository: c.repo, Data: b})
	})
	return sent, err
}
