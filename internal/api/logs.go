package api

import (
	"context"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// The audit log API, as Quay's (endpoints/api/logs.py):
//
//	GET  /repository/{repo}/logs | aggregatelogs, POST …/exportlogs   repository admins
//	GET  /organization/{org}/logs | aggregatelogs, POST …/exportlogs  organization admins
//	GET  /user/logs | aggregatelogs, POST /user/exportlogs            the caller's own namespace
//	GET  /superuser/logs | aggregatelogs                              superusers
//
// Query parameters: starttime and endtime (MM/DD/YYYY, UTC; the end day is
// included; defaults: the last 7 days up to now), performer (a username),
// kind (comma-separated kinds, a Wharf addition) and next_page. Entries are
// listed newest first, logsPerPage at a time. The log is append-only: there
// is no endpoint to change or delete entries.

// logsPerPage is Quay's LOGS_PER_PAGE.
const logsPerPage = 20

// logDateLayout is Quay's starttime/endtime format.
const logDateLayout = "01/02/2006"

func (h *Handler) logRoutes() {
	h.rt.handle("GET", "/repository/{repo}/logs", h.repoLogs)
	h.rt.handle("GET", "/repository/{repo}/aggregatelogs", h.repoLogs)
	h.rt.handle("POST", "/repository/{repo}/exportlogs", h.repoLogs)
	h.rt.handle("GET", "/organization/{orgname}/logs", h.orgLogs)
	h.rt.handle("GET", "/organization/{orgname}/aggregatelogs", h.orgLogs)
	h.rt.handle("POST", "/organization/{orgname}/exportlogs", h.orgLogs)
	h.rt.handle("GET", "/user/logs", h.userLogs)
	h.rt.handle("GET", "/user/aggregatelogs", h.userLogs)
	h.rt.handle("POST", "/user/exportlogs", h.userLogs)
	h.rt.handle("GET", "/superuser/logs", h.superuserLogs)
	h.rt.handle("GET", "/superuser/aggregatelogs", h.superuserLogs)
}

// logScope is what a log request reads: one repository, one namespace, or
// (superusers) everything.
type logScope struct {
	repoID, nsID int64
	name         string // the repository or namespace, for exports
	// withNamespace adds the namespace to each entry (Quay: user and
	// superuser logs).
	withNamespace bool
}

func (h *Handler) repoLogs(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.accessRepo(r, p, auth.ScopeRepoAdmin, core.RoleAdmin)
	if err != nil {
		return err
	}
	return h.serveLogs(w, r, logScope{repoID: repo.ID, name: repo.FullName})
}

func (h *Handler) orgLogs(w http.ResponseWriter, r *http.Request, p params) error {
	_, n, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	return h.serveLogs(w, r, logScope{nsID: n.ID, name: n.Name})
}

func (h *Handler) userLogs(w http.ResponseWriter, r *http.Request, _ params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := requireScope(id, auth.ScopeUserAdmin); err != nil {
		return err
	}
	if id.User.IsRobot() {
		return errForbidden()
	}
	n, err := h.db.Namespace(r.Context(), id.User.Username)
	if err != nil {
		return err
	}
	return h.serveLogs(w, r, logScope{nsID: n.ID, name: n.Name, withNamespace: true})
}

func (h *Handler) superuserLogs(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	return h.serveLogs(w, r, logScope{withNamespace: true})
}

// serveLogs answers a list, an aggregation or an export, by the path's last
// segment.
func (h *Handler) serveLogs(w http.ResponseWriter, r *http.Request, s logScope) error {
	q, err := parseLogQuery(r.URL.Query(), h.now())
	if err != nil {
		return err
	}
	f := store.AuditFilter{RepositoryID: s.repoID, NamespaceID: s.nsID, Start: q.start, End: q.end,
		Performer: q.performer, Kinds: q.kinds, After: q.after, Limit: logsPerPage}
	// The route's last segment says which (a repository name can have
	// any segments before it).
	path := strings.TrimRight(r.URL.Path, "/")
	switch {
	case strings.HasSuffix(path, "/aggregatelogs"):
		counts, err := h.db.AggregateAuditLogs(r.Context(), f)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(counts))
		for _, c := range counts {
			out = append(out, map[string]any{"kind": c.Kind, "count": c.Count, "datetime": rfc2822(c.Day)})
		}
		writeJSON(w, http.StatusOK, map[string]any{"aggregated": out})
		return nil
	case strings.HasSuffix(path, "/exportlogs"):
		return h.exportLogs(w, r, s, q)
	}
	entries, next, err := h.db.AuditLogs(r.Context(), f)
	if err != nil {
		return err
	}
	logs := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		logs = append(logs, AuditEntryView(e, s.withNamespace))
	}
	out := map[string]any{"start_time": rfc2822(q.start), "end_time": rfc2822(q.end), "logs": logs}
	if next != nil {
		out["next_page"] = encodePageToken(formatLogCursor(*next))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// exportLogs enqueues an export of the selected entries to a callback URL
// (POSTed as JSON) or an email address, and answers its id.
func (h *Handler) exportLogs(w http.ResponseWriter, r *http.Request, s logScope, q logQuery) error {
	var req struct {
		CallbackURL   string `json:"callback_url"`
		CallbackEmail string `json:"callback_email"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateExportTarget(req.CallbackURL, req.CallbackEmail); err != nil {
		return err
	}
	exportID := auth.RandomString(32, "abcdefghijklmnopqrstuvwxyz0123456789")
	args := store.ExportLogsArgs{ExportID: exportID, RepositoryID: s.repoID, NamespaceID: s.nsID, Scope: s.name,
		Start: q.start.UnixMilli(), End: q.end.UnixMilli(), CallbackURL: req.CallbackURL, CallbackEmail: req.CallbackEmail,
		Requester: caller(r).Name(), RequesterIP: core.HostOnly(clientAddr(r))}
	if err := h.db.EnqueueLogExport(r.Context(), args); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"export_id": exportID})
	return nil
}

// validateExportTarget checks an export's callback: an absolute http(s)
// URL or an email address, at least one of them.
func validateExportTarget(callbackURL, email string) error {
	if callbackURL == "" && email == "" {
		return errInvalid("Must specify either callback_url or callback_email")
	}
	if callbackURL != "" {
		u, err := url.Parse(callbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(callbackURL) > 2048 {
			return errInvalid("Invalid callback URL")
		}
	}
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			return errInvalid("Invalid email address")
		}
	}
	return nil
}

// AuditEntryView is Quay's log entry view: kind, metadata, ip, datetime,
// the performer and (withNamespace) the namespace.
func AuditEntryView(e core.AuditEntry, withNamespace bool) map[string]any {
	meta := e.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	v := map[string]any{"kind": e.Kind, "metadata": meta, "ip": e.IP, "datetime": rfc2822(e.Time)}
	if e.PerformerName != "" {
		robot := e.PerformerKind == core.UserKindRobot
		kind := "user"
		if robot {
			kind = "robot"
		}
		v["performer"] = map[string]any{"kind": "user", "name": e.PerformerName, "is_robot": robot,
			"avatar": avatar(e.PerformerName, kind), "auth": e.PerformerAuth}
	}
	if withNamespace && e.Namespace != "" {
		kind := "user"
		if e.NamespaceKind == core.NamespaceOrg {
			kind = "org"
		}
		v["namespace"] = map[string]any{"kind": kind, "name": e.Namespace, "avatar": avatar(e.Namespace, kind)}
	}
	return v
}

// logQuery is a parsed log request.
type logQuery struct {
	start, end time.Time
	performer  string
	kinds      []string
	after      *store.AuditCursor
}

// parseLogQuery parses starttime, endtime, performer, kind and next_page.
// As Quay does, a starttime or endtime that does not parse is replaced by
// its default (a week ago, now) rather than refused; a start after the end
// is refused.
func parseLogQuery(v url.Values, now time.Time) (logQuery, error) {
	var q logQuery
	now = now.UTC()
	q.start, q.end = now.Add(-7*24*time.Hour), now
	if t, err := parseLogDate(v.Get("starttime")); err == nil {
		q.start = t
	}
	if t, err := parseLogDate(v.Get("endtime")); err == nil {
		q.end = t.Add(24 * time.Hour) // the end day is included
	}
	if q.start.After(q.end) {
		return q, errInvalid("starttime must not be after endtime")
	}
	q.performer = v.Get("performer")
	if len(q.performer) > 255 {
		return q, errInvalid("invalid performer")
	}
	q.kinds = parseLogKinds(v["kind"])
	if tok := v.Get("next_page"); tok != "" {
		raw, err := pageToken(tok)
		if err != nil {
			return q, err
		}
		c, err := parseLogCursor(raw)
		if err != nil {
			return q, err
		}
		q.after = &c
	}
	return q, nil
}

// parseLogDate parses Quay's MM/DD/YYYY (UTC midnight); "" and dates
// before 1970 are errors.
func parseLogDate(s string) (time.Time, error) {
	t, err := time.ParseInLocation(logDateLayout, strings.TrimSpace(s), time.UTC)
	if err != nil || t.Year() < 1970 {
		return time.Time{}, errInvalid("invalid date " + strconv.Quote(truncate(s, 40)) + ": want MM/DD/YYYY")
	}
	return t, nil
}

// parseLogKinds parses kind filters (repeated or comma-separated), a Wharf
// extension. Quay refuses no query parameter, so neither does this: the
// kinds the log writes are kept (once each); kinds it never writes match
// nothing, so they are dropped unless nothing else is left, when one of
// them stays (cut short) and the filter matches no entry. The result is
// bounded by the number of kinds.
func parseLogKinds(values []string) []string {
	var out []string
	seen := map[string]bool{}
	unknown := ""
	for _, v := range values {
		for _, k := range strings.Split(v, ",") {
			k = strings.TrimSpace(k)
			switch {
			case k == "" || seen[k]:
			case core.IsAuditKind(k):
				seen[k] = true
				out = append(out, k)
			case unknown == "":
				unknown = truncate(k, 64)
			}
		}
	}
	if len(out) == 0 && unknown != "" {
		out = []string{unknown}
	}
	return out
}

// formatLogCursor and parseLogCursor encode a listing position as
// "<unix ms>.<id>" (inside the opaque next_page token).
func formatLogCursor(c store.AuditCursor) string {
	return strconv.FormatInt(c.Time, 10) + "." + strconv.FormatInt(c.ID, 10)
}

func parseLogCursor(s string) (store.AuditCursor, error) {
	ts, id, ok := strings.Cut(s, ".")
	t, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || t < 0 || n <= 0 {
		return store.AuditCursor{}, errInvalid("invalid next_page token")
	}
	return store.AuditCursor{Time: t, ID: n}, nil
}

// logLogin records a sign-in (login_success) or a failed one
// (login_failure, without performer: the name is only claimed) in a
// transaction of its own.
func (h *Handler) logLogin(r *http.Request, id auth.Identity, username string, loginErr error) {
	if h.opts.NoLoginAudit {
		return
	}
	ctx := r.Context()
	meta := map[string]any{"type": "quayauth", "useragent": r.UserAgent(), "username": username}
	kind := core.LogLoginSuccess
	if loginErr != nil {
		kind = core.LogLoginFailure
		meta["message"] = loginErr.Error()
		ctx = core.WithActor(ctx, auth.Anonymous.Actor(clientAddr(r)))
	} else {
		meta["kind"] = id.Kind()
		meta["auth"] = id.Method
		ctx = core.WithActor(ctx, id.Actor(clientAddr(r)))
	}
	if err := h.db.LogAction(context.WithoutCancel(ctx), kind, auth.LoginNamespace(username), "", meta); err != nil {
		h.log.WarnContext(ctx, "audit log: login", "err", err)
	}
}

// logLogout records the end of a signed-in session (logout_success).
func (h *Handler) logLogout(r *http.Request) {
	id := caller(r)
	if id.IsAnonymous() || h.opts.NoLoginAudit {
		return
	}
	meta := map[string]any{"type": "quayauth", "username": id.User.Username}
	if err := h.db.LogAction(context.WithoutCancel(r.Context()), core.LogLogoutSuccess, id.User.Username, "", meta); err != nil {
		h.log.WarnContext(r.Context(), "audit log: logout", "err", err)
	}
}

// clientAddr is the caller's address as the HTTP edge determined it.
func clientAddr(r *http.Request) string {
	if a := auth.ClientAddr(r.Context()); a != "" {
		return a
	}
	return r.RemoteAddr
}
