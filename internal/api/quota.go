package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

// Quay's namespace quotas: one storage limit per organization with Warning
// and Reject thresholds. Members read them; superusers change them.
//
// Quay's superuser quota endpoints (/superuser/users/{namespace}/quota and
// /superuser/organization/{namespace}/quota) manage the quota of any
// namespace, a user's included, for superusers only; /user/quota lists the
// caller's own.
func (h *Handler) quotaRoutes() {
	for _, base := range []string{"/organization/{orgname}/quota", "/superuser/users/{orgname}/quota", "/superuser/organization/{orgname}/quota"} {
		wrap := func(fn handlerFunc) handlerFunc { return fn }
		if strings.HasPrefix(base, "/superuser/") {
			wrap = superuserQuota
		}
		h.rt.handle("GET", base, wrap(h.listQuotas))
		h.rt.handle("POST", base, wrap(h.createQuota))
		h.rt.handle("GET", base+"/{quota_id}", wrap(h.getQuota))
		h.rt.handle("PUT", base+"/{quota_id}", wrap(h.updateQuota))
		h.rt.handle("DELETE", base+"/{quota_id}", wrap(h.deleteQuota))
		h.rt.handle("POST", base+"/{quota_id}/recalculate", wrap(h.recalculateQuota))
		h.rt.handle("GET", base+"/{quota_id}/limit", wrap(h.listQuotaLimits))
		h.rt.handle("POST", base+"/{quota_id}/limit", wrap(h.createQuotaLimit))
		h.rt.handle("GET", base+"/{quota_id}/limit/{limit_id}", wrap(h.getQuotaLimit))
		h.rt.handle("PUT", base+"/{quota_id}/limit/{limit_id}", wrap(h.updateQuotaLimit))
		h.rt.handle("DELETE", base+"/{quota_id}/limit/{limit_id}", wrap(h.deleteQuotaLimit))
	}
	h.rt.handle("GET", "/user/quota", h.listOwnQuotas)
	h.rt.handle("GET", "/user/quota/{quota_id}", h.getOwnQuota)
}

// superuserParam marks a request that came through a superuser quota
// route (set by the route, never from the path: path parameters are
// names in braces).
const superuserParam = "superuser route"

// superuserQuota marks the request as a superuser route: any namespace,
// superusers only.
func superuserQuota(fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) error {
		p[superuserParam] = "1"
		return fn(w, r, p)
	}
}

// listOwnQuotas is GET /user/quota: the caller's own namespace's quota.
func (h *Handler) listOwnQuotas(w http.ResponseWriter, r *http.Request, _ params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	qs, err := h.db.Quotas(r.Context(), id.User.Username)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.quotaList(qs))
	return nil
}

// getOwnQuota is GET /user/quota/{quota_id}.
func (h *Handler) getOwnQuota(w http.ResponseWriter, r *http.Request, p params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	qid, err := pathID(p, "quota_id")
	if err != nil {
		return err
	}
	q, err := h.db.Quota(r.Context(), id.User.Username, qid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.quotaView(q))
	return nil
}

func quotaLimitView(l core.QuotaLimit) map[string]any {
	return map[string]any{"id": l.ID, "type": l.Kind, "limit_percent": l.ThresholdPercent}
}

// quotaView is Quay's quota view; default_config_exists says a system
// default quota (DEFAULT_SYSTEM_REJECT_QUOTA_BYTES) is configured.
func (h *Handler) quotaView(q core.Quota) map[string]any {
	limits := make([]map[string]any, 0, len(q.Limits))
	for _, l := range q.Limits {
		limits = append(limits, quotaLimitView(l))
	}
	return map[string]any{"id": q.ID, "limit_bytes": q.LimitBytes, "limit": core.FormatByteSize(q.LimitBytes),
		"default_config": false, "default_config_exists": h.db.SystemQuotaBytes() > 0, "limits": limits}
}

// quotaList is Quay's quota list of a namespace: its quota or, without
// one, the system default (default_config true, no id, no limits).
func (h *Handler) quotaList(qs []core.Quota) []map[string]any {
	out := make([]map[string]any, 0, len(qs))
	for _, q := range qs {
		out = append(out, h.quotaView(q))
	}
	if sys := h.db.SystemQuotaBytes(); len(out) == 0 && sys > 0 {
		out = append(out, map[string]any{"id": nil, "limit_bytes": sys, "limit": core.FormatByteSize(sys),
			"default_config": true, "default_config_exists": true, "limits": []map[string]any{}})
	}
	return out
}

// quotaReport is the organization view's quota_report.
func (h *Handler) quotaReport(ctx context.Context, ns string) (map[string]any, error) {
	used, q, err := h.db.NamespaceUsage(ctx, ns)
	if err != nil {
		return nil, err
	}
	report := map[string]any{"quota_bytes": used, "configured_quota": nil, "running_backfill": "complete", "backfill_status": "complete"}
	if q != nil {
		report["configured_quota"] = q.LimitBytes
	} else if sys := h.db.SystemQuotaBytes(); sys > 0 {
		report["configured_quota"] = sys
	}
	return report, nil
}

// quotaReader checks that the caller may read an organization's quota: a
// member or a superuser (401 anonymous, 404 unknown, 403 otherwise); on a
// superuser route, any namespace's, for superusers only.
func (h *Handler) quotaReader(r *http.Request, p params) error {
	if p[superuserParam] != "" {
		return h.quotaEditor(r, p)
	}
	ns := p["orgname"]
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if _, err := h.requireOrg(r.Context(), ns); err != nil {
		return err
	}
	if id.Superuser {
		return nil
	}
	role, err := h.authz.NamespaceRole(r.Context(), id, ns)
	if err != nil {
		return err
	}
	if role == "" {
		return errForbidden()
	}
	return nil
}

// quotaEditor checks that the caller is a superuser (FEATURE_EDIT_QUOTA is
// theirs in Quay) and the organization exists (on a superuser route, the
// namespace, a user's or an organization).
func (h *Handler) quotaEditor(r *http.Request, p params) error {
	ns := p["orgname"]
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if !id.Superuser {
		return errForbidden()
	}
	if p[superuserParam] != "" {
		_, err = h.db.Namespace(r.Context(), ns)
		return err
	}
	_, err = h.requireOrg(r.Context(), ns)
	return err
}

func pathID(p params, key string) (int64, error) {
	id, err := strconv.ParseInt(p[key], 10, 64)
	if err != nil {
		return 0, core.Errorf(core.CodeNotFound, "%s %q not found", key, p[key])
	}
	return id, nil
}

// decodeQuotaLimit reads {limit_bytes} or {limit: "10 GiB"}.
func decodeQuotaLimit(r *http.Request) (int64, error) {
	var req struct {
		LimitBytes json.RawMessage `json:"limit_bytes"`
		Limit      *string         `json:"limit"`
	}
	if err := decode(r, &req); err != nil {
		return 0, err
	}
	if len(req.LimitBytes) > 0 && string(req.LimitBytes) != "null" {
		var n int64
		if err := json.Unmarshal(req.LimitBytes, &n); err != nil || n <= 0 {
			return 0, errInvalid("limit_bytes must be a positive integer")
		}
		return n, nil
	}
	if req.Limit != nil {
		return core.ParseByteSize(*req.Limit)
	}
	return 0, errInvalid("limit_bytes or limit is required")
}

func (h *Handler) listQuotas(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.quotaReader(r, p); err != nil {
		return err
	}
	qs, err := h.db.Quotas(r.Context(), p["orgname"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.quotaList(qs))
	return nil
}

func (h *Handler) createQuota(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.quotaEditor(r, p); err != nil {
		return err
	}
	limit, err := decodeQuotaLimit(r)
	if err != nil {
		return err
	}
	if _, err := h.db.CreateQuota(r.Context(), p["orgname"], limit); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, "Created")
	return nil
}

func (h *Handler) getQuota(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := h.quotaOf(r, p, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.quotaView(q))
	return nil
}

func (h *Handler) updateQuota(w http.ResponseWriter, r *http.Request, p params) error {
	id, err := h.quotaID(r, p, true)
	if err != nil {
		return err
	}
	limit, err := decodeQuotaLimit(r)
	if err != nil {
		return err
	}
	if err := h.db.UpdateQuota(r.Context(), p["orgname"], id, limit); err != nil {
		return err
	}
	q, err := h.db.Quota(r.Context(), p["orgname"], id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.quotaView(q))
	return nil
}

func (h *Handler) deleteQuota(w http.ResponseWriter, r *http.Request, p params) error {
	id, err := h.quotaID(r, p, true)
	if err != nil {
		return err
	}
	if err := h.db.DeleteQuota(r.Context(), p["orgname"], id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recalculateQuota asks the job system to rebuild the namespace's usage
// from its manifests (202); reads and pushes go on meanwhile.
func (h *Handler) recalculateQuota(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := h.quotaOf(r, p, true); err != nil {
		return err
	}
	if err := h.db.RequestUsageRecount(r.Context(), p["orgname"]); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"namespace": p["orgname"], "status": "queued"})
	return nil
}

// quotaID checks the caller (quotaReader, or quotaEditor when edit) and
// returns the quota id of the path.
func (h *Handler) quotaID(r *http.Request, p params, edit bool) (int64, error) {
	check := h.quotaReader
	if edit {
		check = h.quotaEditor
	}
	if err := check(r, p); err != nil {
		return 0, err
	}
	return pathID(p, "quota_id")
}

// quotaOf is quotaID and the quota it names.
func (h *Handler) quotaOf(r *http.Request, p params, edit bool) (core.Quota, error) {
	id, err := h.quotaID(r, p, edit)
	if err != nil {
		return core.Quota{}, err
	}
	return h.db.Quota(r.Context(), p["orgname"], id)
}

func (h *Handler) listQuotaLimits(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := h.quotaOf(r, p, false)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(q.Limits))
	for _, l := range q.Limits {
		out = append(out, quotaLimitView(l))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decodeLimit reads {type: Warning|Reject, threshold_percent}.
func decodeLimit(r *http.Request) (core.QuotaLimit, error) {
	var req struct {
		Type             string `json:"type"`
		ThresholdPercent int64  `json:"threshold_percent"`
	}
	if err := decode(r, &req); err != nil {
		return core.QuotaLimit{}, err
	}
	return core.QuotaLimit{Kind: req.Type, ThresholdPercent: req.ThresholdPercent}, nil
}

func (h *Handler) createQuotaLimit(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := h.quotaOf(r, p, true)
	if err != nil {
		return err
	}
	l, err := decodeLimit(r)
	if err != nil {
		return err
	}
	if _, err := h.db.CreateQuotaLimit(r.Context(), p["orgname"], q.ID, l.Kind, l.ThresholdPercent); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, "Created")
	return nil
}

func (h *Handler) limitOf(q core.Quota, p params) (core.QuotaLimit, error) {
	id, err := pathID(p, "limit_id")
	if err != nil {
		return core.QuotaLimit{}, err
	}
	for _, l := range q.Limits {
		if l.ID == id {
			return l, nil
		}
	}
	return core.QuotaLimit{}, core.Errorf(core.CodeNotFound, "quota limit %d not found", id)
}

func (h *Handler) getQuotaLimit(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := h.quotaOf(r, p, false)
	if err != nil {
		return err
	}
	l, err := h.limitOf(q, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, quotaLimitView(l))
	return nil
}

func (h *Handler) updateQuotaLimit(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := h.quotaOf(r, p, true)
	if err != nil {
		return err
	}
	old, err := h.limitOf(q, p)
	if err != nil {
		return err
	}
	l, err := decodeLimit(r)
	if err != nil {
		return err
	}
	if l.Kind == "" {
		l.Kind = old.Kind
	}
	l.ID = old.ID
	if err := h.db.UpdateQuotaLimit(r.Context(), p["orgname"], q.ID, l); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, quotaLimitView(l))
	return nil
}

func (h *Handler) deleteQuotaLimit(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := h.quotaOf(r, p, true)
	if err != nil {
		return err
	}
	l, err := h.limitOf(q, p)
	if err != nil {
		return err
	}
	if err := h.db.DeleteQuotaLimit(r.Context(), p["orgname"], q.ID, l.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
