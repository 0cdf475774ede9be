package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// JobNotification delivers one event to one notification config; its
// arguments are NotificationJob.
const JobNotification = "notification"

// EventRepoPush is the event a manifest push with tags emits.
const EventRepoPush = "repo_push"

// deliveryHistory is how many deliveries are kept per notification config.
const deliveryHistory = 25

// Notification is a repository notification config (Quay's
// RepositoryNotification): an event bound to a delivery method.
type Notification struct {
	ID               int64
	UUID             string
	RepositoryID     int64
	Repository       string // namespace/name
	Title            string
	Event            string
	Method           string
	Config           json.RawMessage // the method's settings (JSON object)
	EventConfig      json.RawMessage // the event's settings (JSON object)
	NumberOfFailures int
	CreatedAt        time.Time
}

// NewNotification is what CreateNotification stores.
type NewNotification struct {
	Title       string
	Event       string
	Method      string
	Config      json.RawMessage
	EventConfig json.RawMessage
}

// NotificationJob is the arguments of JobNotification.
type NotificationJob struct {
	UUID       string          `json:"uuid"`
	Event      string          `json:"event"`
	Repository string          `json:"repository"`
	Data       json.RawMessage `json:"data,omitempty"`
	// Test marks the delivery asked for by the test endpoint.
	Test bool `json:"test,omitempty"`
}

// NotificationDelivery is one delivery attempt of a config.
type NotificationDelivery struct {
	Event   string
	Attempt int
	Success bool
	Error   string
	Test    bool
	At      time.Time
}

// UserNotification is an in-app notification of a user.
type UserNotification struct {
	UUID      string
	Kind      string
	Metadata  json.RawMessage
	Dismissed bool
	CreatedAt time.Time
}

const notificationColumns = `rn.id, rn.uuid, rn.repository_id, r.full_name, rn.title, rn.event, rn.method, rn.config,
	rn.event_config, rn.number_of_failures, rn.created_at`

const notificationFrom = ` FROM repository_notifications rn JOIN repositories r ON r.id = rn.repository_id `

func scanNotification(row interface{ Scan(...any) error }) (Notification, error) {
	var n Notification
	var cfg, ecfg string
	var created int64
	err := row.Scan(&n.ID, &n.UUID, &n.RepositoryID, &n.Repository, &n.Title, &n.Event, &n.Method, &cfg, &ecfg, &n.NumberOfFailures, &created)
	n.Config, n.EventConfig = json.RawMessage(cfg), json.RawMessage(ecfg)
	n.CreatedAt = time.UnixMilli(created)
	return n, err
}

func jsonObject(b json.RawMessage) string {
	if len(b) == 0 || string(b) == "null" {
		return "{}"
	}
	return string(b)
}

// CreateNotification adds a notification config to a repository.
func (db *DB) CreateNotification(ctx context.Context, repository string, nn NewNotification) (Notification, error) {
	var out Notification
	err := db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repository)
		if err != nil {
			return err
		}
		id := newUUID()
		if _, err := t.exec(ctx, `INSERT INTO repository_notifications
			(uuid, repository_id, title, event, method, config, event_config, number_of_failures, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`,
			id, r.ID, nn.Title, nn.Event, nn.Method, jsonObject(nn.Config), jsonObject(nn.EventConfig), t.now); err != nil {
			return fmt.Errorf("create notification: %w", err)
		}
		if out, err = getNotification(ctx, t, repository, id); err != nil {
			return err
		}
		return logAction(ctx, t, core.LogAddRepoNotification, 0, r.ID, auditMeta{"notification_id": id, "event": nn.Event, "method": nn.Method})
	})
	return out, err
}

func getNotification(ctx context.Context, t *tx, repository, uuid string) (Notification, error) {
	q := `SELECT ` + notificationColumns + notificationFrom + `WHERE rn.uuid = ?`
	args := []any{uuid}
	if repository != "" {
		q += ` AND r.full_name = ?`
		args = append(args, repository)
	}
	n, err := scanNotification(t.queryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return n, core.Errorf(core.CodeNotFound, "notification %q not found", uuid)
	}
	if err != nil {
		return n, fmt.Errorf("get notification: %w", err)
	}
	return n, nil
}

// Notification returns a config of a repository by uuid; with an empty
// repository, of any repository.
func (db *DB) Notification(ctx context.Context, repository, uuid string) (Notification, error) {
	var out Notification
	err := db.read(ctx, func(t *tx) (err error) {
		out, err = getNotification(ctx, t, repository, uuid)
		return err
	})
	return out, err
}

// Notifications lists a repository's notification configs, oldest first.
func (db *DB) Notifications(ctx context.Context, repository string) ([]Notification, error) {
	out := []Notification{}
	err := db.read(ctx, func(t *tx) error {
		if _, err := getRepo(ctx, t, repository); err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT `+notificationColumns+notificationFrom+`WHERE r.full_name = ? ORDER BY rn.id`, repository)
		if err != nil {
			return fmt.Errorf("list notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return fmt.Errorf("list notifications: %w", err)
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteNotification removes a config and its delivery history.
func (db *DB) DeleteNotification(ctx context.Context, repository, uuid string) error {
	return db.write(ctx, func(t *tx) error {
		n, err := getNotification(ctx, t, repository, uuid)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM notification_deliveries WHERE notification_id = ?`, n.ID); err != nil {
			return fmt.Errorf("delete notification: %w", err)
		}
		if _, err := t.exec(ctx, `DELETE FROM repository_notifications WHERE id = ?`, n.ID); err != nil {
			return fmt.Errorf("delete notification: %w", err)
		}
		return logAction(ctx, t, core.LogDeleteRepoNotification, 0, n.RepositoryID, auditMeta{"notification_id": n.UUID, "event": n.Event, "method": n.Method})
	})
}

// ResetNotificationFailures sets a config's failure count to zero, which
// enables a config that failed too often.
func (db *DB) ResetNotificationFailures(ctx context.Context, repository, uuid string) (Notification, error) {
	var out Notification
	err := db.write(ctx, func(t *tx) error {
		n, err := getNotification(ctx, t, repository, uuid)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE repository_notifications SET number_of_failures = 0 WHERE id = ?`, n.ID); err != nil {
			return fmt.Errorf("reset notification: %w", err)
		}
		n.NumberOfFailures = 0
		out = n
		return logAction(ctx, t, core.LogResetRepoNotification, 0, n.RepositoryID, auditMeta{"notification_id": n.UUID, "event": n.Event, "method": n.Method})
	})
	return out, err
}

// TestNotification enqueues a test delivery of a config with the event's
// sample data.
func (db *DB) TestNotification(ctx context.Context, repository, uuid string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("test notification: %w", err)
	}
	return db.write(ctx, func(t *tx) error {
		n, err := getNotification(ctx, t, repository, uuid)
		if err != nil {
			return err
		}
		return db.enqueue(ctx, t, JobNotification, NotificationJob{UUID: n.UUID, Event: n.Event, Repository: n.Repository, Data: b, Test: true})
	})
}

// EmitNotification enqueues a delivery of event with data (a JSON-encodable
// value; its fields join the event's payload) to each of the repository's
// configs for the event, in one transaction. Features in the store emit
// inside their own transaction with emitNotification instead.
func (db *DB) EmitNotification(ctx context.Context, repository, event string, data any) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repository)
		if err != nil {
			return err
		}
		return db.emitNotification(ctx, t, r.ID, r.FullName, event, data)
	})
}

// EmitNamespaceNotification is EmitNotification for every repository of a
// namespace (quota events concern a namespace; their configs live on its
// repositories).
func (db *DB) EmitNamespaceNotification(ctx context.Context, namespace, event string, data any) error {
	return db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		return db.emitNamespaceNotification(ctx, t, n.ID, event, data)
	})
}

// emitNotification enqueues, in t, one JobNotification per config of the
// repository bound to event. Configs that failed too often are skipped by
// the worker, which knows the limit.
func (db *DB) emitNotification(ctx context.Context, t *tx, repoID int64, repository, event string, data any) error {
	if db.jobs == nil {
		return nil
	}
	rows, err := t.query(ctx, `SELECT uuid FROM repository_notifications WHERE repository_id = ? AND event = ? ORDER BY id`, repoID, event)
	if err != nil {
		return fmt.Errorf("emit %s: %w", event, err)
	}
	var uuids []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return fmt.Errorf("emit %s: %w", event, err)
		}
		uuids = append(uuids, u)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("emit %s: %w", event, err)
	}
	if len(uuids) == 0 {
		return nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("emit %s: %w", event, err)
	}
	for _, u := range uuids {
		if err := db.enqueue(ctx, t, JobNotification, NotificationJob{UUID: u, Event: event, Repository: repository, Data: b}); err != nil {
			return err
		}
	}
	return nil
}

// RecordNotificationDelivery records one delivery attempt of a config and
// returns its failure count after it: a failed attempt (not a test) adds
// one, a successful one (not a test) resets it to zero. Only the last
// deliveries are kept.
func (db *DB) RecordNotificationDelivery(ctx context.Context, notificationID int64, d NotificationDelivery) (int, error) {
	var failures int
	err := db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO notification_deliveries (notification_id, event, attempt, success, error, test, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, notificationID, d.Event, d.Attempt, d.Success, d.Error, d.Test, t.now); err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
		if _, err := t.exec(ctx, `DELETE FROM notification_deliveries WHERE notification_id = ? AND id NOT IN
			(SELECT id FROM notification_deliveries WHERE notification_id = ? ORDER BY id DESC LIMIT ?)`,
			notificationID, notificationID, deliveryHistory); err != nil {
			return fmt.Errorf("trim deliveries: %w", err)
		}
		switch {
		case d.Test:
		case d.Success:
			if _, err := t.exec(ctx, `UPDATE repository_notifications SET number_of_failures = 0 WHERE id = ?`, notificationID); err != nil {
				return fmt.Errorf("record delivery: %w", err)
			}
		default:
			if _, err := t.exec(ctx, `UPDATE repository_notifications SET number_of_failures = number_of_failures + 1 WHERE id = ?`, notificationID); err != nil {
				return fmt.Errorf("record delivery: %w", err)
			}
		}
		err := t.queryRow(ctx, `SELECT number_of_failures FROM repository_notifications WHERE id = ?`, notificationID).Scan(&failures)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "notification %d not found", notificationID)
		}
		if err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
		return nil
	})
	return failures, err
}

// NotificationDeliveries lists a config's last deliveries, newest first.
func (db *DB) NotificationDeliveries(ctx context.Context, notificationID int64) ([]NotificationDelivery, error) {
	out := []NotificationDelivery{}
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT event, attempt, success, error, test, created_at FROM notification_deliveries
			WHERE notification_id = ? ORDER BY id DESC LIMIT ?`, notificationID, deliveryHistory)
		if err != nil {
			return fmt.Errorf("list deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d NotificationDelivery
			var at int64
			if err := rows.Scan(&d.Event, &d.Attempt, &d.Success, &d.Error, &d.Test, &at); err != nil {
				return fmt.Errorf("list deliveries: %w", err)
			}
			d.At = time.UnixMilli(at)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// AddUserNotifications stores an in-app notification for each user.
func (db *DB) AddUserNotifications(ctx context.Context, userIDs []int64, kind string, metadata any) error {
	b, err := json.Marshal(metadata)
	if err != nil {
		return fmt.Errorf("user notification: %w", err)
	}
	return db.write(ctx, func(t *tx) error {
		for _, id := range userIDs {
			if _, err := t.exec(ctx, `INSERT INTO user_notifications (uuid, user_id, kind, metadata, dismissed, created_at)
				VALUES (?, ?, ?, ?, FALSE, ?)`, newUUID(), id, kind, string(b), t.now); err != nil {
				return fmt.Errorf("user notification: %w", err)
			}
		}
		return nil
	})
}

// UserNotifications lists a user's in-app notifications, newest first.
func (db *DB) UserNotifications(ctx context.Context, userID int64) ([]UserNotification, error) {
	out := []UserNotification{}
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT uuid, kind, metadata, dismissed, created_at FROM user_notifications
			WHERE user_id = ? ORDER BY id DESC LIMIT 100`, userID)
		if err != nil {
			return fmt.Errorf("user notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var n UserNotification
			var md string
			var at int64
			if err := rows.Scan(&n.UUID, &n.Kind, &md, &n.Dismissed, &at); err != nil {
				return fmt.Errorf("user notifications: %w", err)
			}
			n.Metadata, n.CreatedAt = json.RawMessage(md), time.UnixMilli(at)
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}
