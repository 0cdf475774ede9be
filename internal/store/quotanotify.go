package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
)

// Quota events (Quay's namespace events quota_warning and quota_error).
const (
	EventQuotaWarning = "quota_warning"
	EventQuotaError   = "quota_error"
)

// QuotaEventData is the event data of EventQuotaWarning and EventQuotaError
// (Quay's fields): the threshold crossed, the usage and the quota's limit.
type QuotaEventData struct {
	ThresholdPercent    int64  `json:"threshold_percent"`
	UsageBytes          int64  `json:"usage_bytes"`
	LimitBytes          int64  `json:"limit_bytes"`
	UsagePercent        int64  `json:"usage_percent"`
	UsageBytesFormatted string `json:"usage_bytes_formatted"`
	LimitBytesFormatted string `json:"limit_bytes_formatted"`
}

func quotaEventData(threshold, used, limit int64) QuotaEventData {
	d := QuotaEventData{ThresholdPercent: threshold, UsageBytes: used, LimitBytes: limit,
		UsageBytesFormatted: formatQuotaBytes(used), LimitBytesFormatted: formatQuotaBytes(limit)}
	if limit > 0 {
		d.UsagePercent = used * 100 / limit
	}
	return d
}

// formatQuotaBytes is Quay's formatting of the quota events' sizes: two
// decimals in 1024-based units named KB, MB, GB, TB.
func formatQuotaBytes(n int64) string {
	units := []string{"bytes", "KB", "MB", "GB", "TB", "PB"}
	f, u := float64(n), 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.2f %s", f, units[u])
}

// thresholdBytes is a threshold's share of a limit in bytes.
func thresholdBytes(limit, percent int64) int64 {
	return limit/100*percent + limit%100*percent/100
}

// quotaRefusal is the error of a push refused by a namespace's Reject
// threshold; it carries what the quota_error event needs.
type quotaRefusal struct {
	err        *core.Error
	nsID       int64
	attempted  int64
	limitBytes int64
	threshold  int64
}

func (e *quotaRefusal) Error() string { return e.err.Error() }
func (e *quotaRefusal) Unwrap() error { return e.err }

// usageGrew is called in the transaction that made a namespace's usage
// grow: it refuses the change above the Reject threshold (checkQuota) and
// raises quota_warning when usage has just passed a Warning threshold (once
// per crossing: raised again only after usage fell back under it).
func (db *DB) usageGrew(ctx context.Context, t *tx, nsID int64) error {
	if db.quota.Disabled {
		return nil
	}
	if err := db.checkQuota(ctx, t, nsID, 0); err != nil {
		return err
	}
	q, found, err := namespaceQuota(ctx, t, core.Namespace{ID: nsID})
	if err != nil || !found {
		return err
	}
	used, err := usageOf(ctx, t, nsID)
	if err != nil {
		return err
	}
	var top int64
	for _, l := range q.Limits {
		if l.Kind != core.QuotaWarning || used <= thresholdBytes(q.LimitBytes, l.ThresholdPercent) {
			continue
		}
		claimed, err := claimQuotaNotification(ctx, t, nsID, core.QuotaWarning, l.ThresholdPercent)
		if err != nil {
			return err
		}
		if claimed && l.ThresholdPercent > top {
			top = l.ThresholdPercent
		}
	}
	if top == 0 {
		return nil
	}
	return db.emitNamespaceNotification(ctx, t, nsID, EventQuotaWarning, quotaEventData(top, used, q.LimitBytes))
}

// claimQuotaNotification records that a namespace is notified of a
// threshold; false when it already was (since usage last fell under it).
func claimQuotaNotification(ctx context.Context, t *tx, nsID int64, kind string, percent int64) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO quota_notification_state (namespace_id, kind, threshold_percent, notified_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (namespace_id, kind, threshold_percent) DO NOTHING`, nsID, kind, percent, t.now)
	if err != nil {
		return false, fmt.Errorf("quota notification state: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("quota notification state: %w", err)
	}
	return n == 1, nil
}

// usageShrank re-arms the quota events of a namespace whose usage went
// down: Warning thresholds it is now under, and every Reject one (a refused
// push may fit now).
func usageShrank(ctx context.Context, t *tx, nsID int64) error {
	var n int
	if err := t.queryRow(ctx, `SELECT COUNT(*) FROM quota_notification_state WHERE namespace_id = ?`, nsID).Scan(&n); err != nil {
		return fmt.Errorf("quota notification state: %w", err)
	}
	if n == 0 {
		return nil
	}
	q, found, err := namespaceQuota(ctx, t, core.Namespace{ID: nsID})
	if err != nil {
		return err
	}
	if !found {
		return clearQuotaNotifications(ctx, t, nsID)
	}
	used, err := usageOf(ctx, t, nsID)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM quota_notification_state WHERE namespace_id = ? AND kind = ?`, nsID, core.QuotaReject); err != nil {
		return fmt.Errorf("quota notification state: %w", err)
	}
	for _, l := range q.Limits {
		if l.Kind == core.QuotaWarning && used <= thresholdBytes(q.LimitBytes, l.ThresholdPercent) {
			if _, err := t.exec(ctx, `DELETE FROM quota_notification_state WHERE namespace_id = ? AND kind = ? AND threshold_percent = ?`,
				nsID, core.QuotaWarning, l.ThresholdPercent); err != nil {
				return fmt.Errorf("quota notification state: %w", err)
			}
		}
	}
	return nil
}

// clearQuotaNotifications forgets what a namespace was notified of (its
// quota changed).
func clearQuotaNotifications(ctx context.Context, t *tx, nsID int64) error {
	if _, err := t.exec(ctx, `DELETE FROM quota_notification_state WHERE namespace_id = ?`, nsID); err != nil {
		return fmt.Errorf("clear quota notification state: %w", err)
	}
	return nil
}

// noteQuotaRefusal raises quota_error, in a transaction of its own, when
// err is a push refused by a Reject threshold (the refused change itself
// rolled back); once until the namespace's usage goes down. It returns err.
func (db *DB) noteQuotaRefusal(ctx context.Context, err error) error {
	var qr *quotaRefusal
	if !errors.As(err, &qr) {
		return err
	}
	werr := db.write(context.WithoutCancel(ctx), func(t *tx) error {
		claimed, err := claimQuotaNotification(ctx, t, qr.nsID, core.QuotaReject, qr.threshold)
		if err != nil || !claimed {
			return err
		}
		return db.emitNamespaceNotification(ctx, t, qr.nsID, EventQuotaError, quotaEventData(qr.threshold, qr.attempted, qr.limitBytes))
	})
	if werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// emitNamespaceNotification emits event to every config for it on the
// repositories of a namespace (Wharf keeps notification configs on
// repositories; a namespace event goes to each that subscribes).
func (db *DB) emitNamespaceNotification(ctx context.Context, t *tx, nsID int64, event string, data any) error {
	rows, err := t.query(ctx, `SELECT DISTINCT r.id, r.full_name FROM repository_notifications rn
		JOIN repositories r ON r.id = rn.repository_id WHERE r.namespace_id = ? AND rn.event = ? ORDER BY r.id`, nsID, event)
	if err != nil {
		return fmt.Errorf("emit %s: %w", event, err)
	}
	type repo struct {
		id   int64
		name string
	}
	var repos []repo
	for rows.Next() {
		var r repo
		if err := rows.Scan(&r.id, &r.name); err != nil {
			rows.Close()
			return fmt.Errorf("emit %s: %w", event, err)
		}
		repos = append(repos, r)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("emit %s: %w", event, err)
	}
	for _, r := range repos {
		if err := db.emitNotification(ctx, t, r.id, r.name, event, data); err != nil {
			return err
		}
	}
	return nil
}

func clearQuotaNotificationsOf(ctx context.Context, t *tx, namespace string) error {
	n, err := getNamespace(ctx, t, namespace)
	if err != nil {
		return err
	}
	return clearQuotaNotifications(ctx, t, n.ID)
}

// SystemQuotaBytes is the limit of namespaces without a quota of their
// own (QuotaOptions.SystemRejectBytes; 0: none, or enforcement off).
func (db *DB) SystemQuotaBytes() int64 {
	if db.quota.Disabled {
		return 0
	}
	return db.quota.SystemRejectBytes
}
