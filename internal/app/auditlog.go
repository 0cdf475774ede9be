package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/notify"
	"github.com/wharfhq/wharf/internal/registry"
	"github.com/wharfhq/wharf/internal/store"
)

// The audit log's wiring: the pull logger (ACTION_LOG_PULLS), the export
// job (POST …/exportlogs) and retention (FEATURE_ACTION_LOG_ROTATION).

const (
	// jobAuditRetention deletes entries older than
	// ACTION_LOG_ROTATION_THRESHOLD, in bounded batches.
	jobAuditRetention = "audit_log_retention"
	// auditRetentionInterval is how often retention runs.
	auditRetentionInterval = time.Hour
	// auditRetentionBatch bounds one delete transaction; a run stops after
	// auditRetentionMaxBatches and the next run continues.
	auditRetentionBatch      = 1000
	auditRetentionMaxBatches = 100
	// exportMaxEntries bounds one export; exportTimeout one delivery.
	exportMaxEntries = 100000
	exportTimeout    = 30 * time.Second
)

// newPullLog starts the pull logger of ACTION_LOG_PULLS (nil when off or
// for worker processes, which serve no pulls).
func (a *App) newPullLog() *store.PullLog {
	return a.db.NewPullLog(store.PullLogOptions{Mode: a.cfg.ActionLogPulls, SampleRate: a.cfg.ActionLogPullSampleRate, Log: a.log})
}

// logFederatedExchange records a robot federation token exchange
// (auth.FederationOptions.OnExchange).
func (a *App) logFederatedExchange(ctx context.Context, e auth.FederationEvent) {
	actor := core.Actor{Username: e.Robot, Kind: core.UserKindRobot, Auth: auth.MethodFederated, IP: auth.ClientAddr(ctx)}
	if u, err := a.db.User(ctx, e.Robot); err == nil {
		actor.UserID = u.ID
	}
	ctx = core.WithActor(context.WithoutCancel(ctx), actor)
	meta := map[string]any{"robot": e.Robot, "issuer": e.Issuer, "subject": e.Subject}
	if err := a.db.LogAction(ctx, core.LogFederatedRobotTx, e.Namespace, "", meta); err != nil {
		a.log.WarnContext(ctx, "audit log: federated token exchange", "err", err)
	}
}

// federationAuditor is what logs refused federated token exchanges (as
// failed logins): the store, or nothing with ACTION_LOG_AUDIT_LOGINS off.
func federationAuditor(cfg config.Config, db *store.DB) api.FederationAuditor {
	if !cfg.ActionLogAuditLogins {
		return nil
	}
	return db
}

// auditWorkers adds the audit log's jobs to w.
func (a *App) auditWorkers(w *jobs.Workers) {
	w.Handlers[store.JobExportLogs] = a.exportLogs
	if a.cfg.ActionLogRotation {
		w.Handlers[jobAuditRetention] = a.rotateAuditLogs
		w.Periodic = append(w.Periodic, jobs.Periodic{Kind: jobAuditRetention, Interval: auditRetentionInterval})
	}
}

// rotateAuditLogs deletes entries older than the threshold, a batch per
// transaction.
func (a *App) rotateAuditLogs(ctx context.Context, _ jobs.Job) error {
	before := time.Now().Add(-a.cfg.ActionLogRotationThreshold.Std())
	total := 0
	for i := 0; i < auditRetentionMaxBatches; i++ {
		n, err := a.db.DeleteAuditLogsBefore(ctx, before, auditRetentionBatch)
		if err != nil {
			return err
		}
		total += n
		if n < auditRetentionBatch {
			break
		}
	}
	if total > 0 {
		a.log.InfoContext(ctx, "audit log rotation", "deleted", total, "before", before.UTC().Format(time.RFC3339))
	}
	return nil
}

// exportLogs is the handler of store.JobExportLogs: it collects the
// entries and delivers them, POSTed as JSON to the callback URL and/or
// attached to an email to the callback address (MAIL_* settings). A failed
// delivery is retried by the queue; an export by email on a registry
// without MAIL_SERVER fails once, without retries.
func (a *App) exportLogs(ctx context.Context, j jobs.Job) error {
	var args store.ExportLogsArgs
	if err := j.Decode(&args); err != nil {
		return err
	}
	if args.CallbackURL == "" && args.CallbackEmail == "" {
		return fmt.Errorf("export %s: no callback URL or email", args.ExportID)
	}
	body, err := exportBody(ctx, a.db, args)
	if err != nil {
		return err
	}
	if args.CallbackURL != "" {
		if err := postExport(ctx, args.CallbackURL, body); err != nil {
			a.logExport(ctx, args, core.LogExportLogsFailure, map[string]any{"error": err.Error(), "attempt": j.Attempt})
			return fmt.Errorf("export %s: deliver: %w", args.ExportID, err)
		}
	}
	if args.CallbackEmail != "" {
		m, err := mailServer(a.cfg)
		if err == nil && m.Server == "" {
			a.logExport(ctx, args, core.LogExportLogsFailure, map[string]any{"error": "no mail server configured (MAIL_SERVER)"})
			return nil
		}
		if err == nil {
			err = m.Send(ctx, exportTimeout, time.Now(), exportMail(args, body))
		}
		if err != nil {
			a.logExport(ctx, args, core.LogExportLogsFailure, map[string]any{"error": err.Error(), "attempt": j.Attempt})
			return fmt.Errorf("export %s: email: %w", args.ExportID, err)
		}
	}
	a.logExport(ctx, args, core.LogExportLogsSuccess, nil)
	a.log.InfoContext(ctx, "audit logs exported", "export_id", args.ExportID, "scope", args.Scope)
	return nil
}

// postExport POSTs the export document to a callback URL.
func postExport(ctx context.Context, callbackURL string, body []byte) error {
	cctx, cancel := context.WithTimeout(ctx, exportTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, callbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: exportTimeout}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// exportMail is the email of an export: a short text and the export
// document attached.
func exportMail(args store.ExportLogsArgs, body []byte) notify.MailMessage {
	start, end := time.UnixMilli(args.Start).UTC(), time.UnixMilli(args.End).UTC()
	return notify.MailMessage{
		To:      args.CallbackEmail,
		Subject: "Usage logs export of " + args.Scope,
		Text: fmt.Sprintf("The usage logs of %s from %s to %s, requested by %s, are attached (export %s).\r\n",
			args.Scope, start.Format(time.RFC1123Z), end.Format(time.RFC1123Z), args.Requester, args.ExportID),
		Attachment: body, AttachmentName: "export-" + args.ExportID + ".json", AttachmentType: "application/json",
	}
}

// logExport records the outcome of an export delivery, performed by the
// user who asked for it, in the exported repository or namespace.
func (a *App) logExport(ctx context.Context, args store.ExportLogsArgs, kind string, meta map[string]any) {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["export_id"] = args.ExportID
	if args.CallbackURL != "" {
		meta["callback_url"] = args.CallbackURL
	}
	if args.CallbackEmail != "" {
		meta["callback_email"] = args.CallbackEmail
	}
	ns, repo := args.Scope, ""
	if args.RepositoryID != 0 {
		ns, repo = "", args.Scope
	}
	ctx = core.WithActor(context.WithoutCancel(ctx), core.Actor{Username: args.Requester, IP: args.RequesterIP})
	if err := a.db.LogAction(ctx, kind, ns, repo, meta); err != nil {
		a.log.WarnContext(ctx, "audit log: export", "err", err)
	}
}

// exportBody is the delivered document: Quay's export file (export_id,
// details, logs, terminator) with the status of the export.
func exportBody(ctx context.Context, db *store.DB, args store.ExportLogsArgs) ([]byte, error) {
	f := store.AuditFilter{RepositoryID: args.RepositoryID, NamespaceID: args.NamespaceID,
		Start: time.UnixMilli(args.Start), End: time.UnixMilli(args.End), Limit: 500}
	if f.RepositoryID == 0 && f.NamespaceID == 0 {
		return nil, fmt.Errorf("export %s: no repository or namespace", args.ExportID)
	}
	logs := []map[string]any{}
	for len(logs) < exportMaxEntries {
		entries, next, err := db.AuditLogs(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			logs = append(logs, api.AuditEntryView(e, true))
		}
		if next == nil {
			break
		}
		f.After = next
	}
	return json.Marshal(map[string]any{
		"export_id": args.ExportID,
		"status":    "success",
		"details": map[string]any{
			"scope": args.Scope, "requester": args.Requester,
			"start_time": time.UnixMilli(args.Start).UTC().Format(time.RFC1123Z),
			"end_time":   time.UnixMilli(args.End).UTC().Format(time.RFC1123Z),
		},
		"logs":       logs,
		"terminator": "--",
	})
}

// pullSink hands the registry's pulls to the app's pull logger, which
// starts last in New (nothing to stop if New fails).
type pullSink struct{ a *App }

func (s pullSink) Record(ctx context.Context, repository string, meta map[string]any) {
	s.a.pulls.Record(ctx, repository, meta)
}

// loginAuditor is what logs the registry's logins: the store, or nothing
// with ACTION_LOG_AUDIT_LOGINS off.
func loginAuditor(cfg config.Config, db *store.DB) registry.Auditor {
	if !cfg.ActionLogAuditLogins {
		return nil
	}
	return db
}
