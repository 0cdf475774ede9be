package api

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Quay's tag API: history (the time machine), moves, expiry, immutability.
func (h *Handler) tagRoutes() {
	h.rt.handle("GET", "/repository/{repo}/tag/", h.listTags)
	h.rt.handle("PUT", "/repository/{repo}/tag/{tag}", h.changeTag)
	h.rt.handle("DELETE", "/repository/{repo}/tag/{tag}", h.deleteTag)
	h.rt.handle("POST", "/repository/{repo}/tag/{tag}/restore", h.restoreTag)
	h.rt.handle("POST", "/repository/{repo}/tag/{tag}/expire", h.expireTag)
}

// namespaceWindow is a namespace's time-machine window: its own choice, or
// the configured default (also for names that are not namespaces).
func (h *Handler) namespaceWindow(ctx context.Context, name string) (time.Duration, error) {
	n, err := h.db.Namespace(ctx, name)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return h.opts.TagExpirationDefault, nil
		}
		return 0, err
	}
	if n.TagExpirationS < 0 {
		return h.opts.TagExpirationDefault, nil
	}
	return time.Duration(n.TagExpirationS) * time.Second, nil
}

// tagView is Quay's tag entry. end_ts and expiration are the end of an
// ended row, or the expiry of a current one.
func tagView(tg core.Tag) map[string]any {
	isList := oci.IsIndexType(tg.ManifestMediaType)
	v := map[string]any{
		"name":             tg.Name,
		"reversion":        tg.Reversion,
		"start_ts":         tg.Start.Unix(),
		"manifest_digest":  tg.ManifestDigest,
		"is_manifest_list": isList,
		"size":             tg.LayersSize,
		"last_modified":    rfc2822(tg.Start),
		"immutable":        tg.Immutable,
	}
	if isList {
		v["size"] = nil
	}
	end := tg.End
	if end.IsZero() {
		end = tg.Expires
	}
	if !end.IsZero() {
		v["end_ts"] = end.Unix()
		v["expiration"] = rfc2822(end)
	}
	return v
}

// truthy parses Quay's boolean query parameters.
func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "y", "on":
		return true
	}
	return false
}

// intParam parses an optional integer query parameter.
func intParam(q map[string][]string, name string, def int) (int, error) {
	vs := q[name]
	if len(vs) == 0 || vs[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil {
		return 0, errInvalid(name + " must be an integer")
	}
	return n, nil
}

func (h *Handler) listTags(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.accessRepo(r, p, noScope, core.RoleRead)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := intParam(q, "page", 1)
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 50)
	if err != nil {
		return err
	}
	hq := store.TagHistoryQuery{
		ActiveOnly: truthy(q.Get("onlyActiveTags")),
		Name:       q.Get("specificTag"),
		Page:       max(1, page),
		Limit:      min(100, max(1, limit)),
	}
	if f := q.Get("filter_tag_name"); f != "" {
		op, value, ok := strings.Cut(f, ":")
		switch {
		case ok && op == "like":
			hq.NameLike = value
		case ok && op == "eq":
			hq.NameEq = value
		default:
			return errInvalid("Unsupported syntax for filter_tag_name. Expected <operation>:<tag_name> where <operation> can be 'like' or 'eq'.")
		}
	}
	if hq.Window, err = h.namespaceWindow(r.Context(), repo.Namespace); err != nil {
		return err
	}
	tags, more, err := h.db.TagHistory(r.Context(), repo.FullName, hq)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(tags))
	for _, tg := range tags {
		views = append(views, tagView(tg))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": views, "page": hq.Page, "has_additional": more})
	return nil
}

// tagWriter checks what every tag change needs: a valid tag name, write
// permission (an unknown repository is 404) and a repository in the NORMAL
// state (503 otherwise, as Quay). It returns the repository and the caller's
// role.
func (h *Handler) tagWriter(r *http.Request, p params) (core.Repository, string, error) {
	name, err := repoName(p)
	if err != nil {
		return core.Repository{}, "", err
	}
	if err := oci.ValidateTag(p["tag"]); err != nil {
		return core.Repository{}, "", err
	}
	repo, role, err := h.repoRoleAtLeast(r.Context(), caller(r), name, core.RoleWrite)
	if err != nil {
		return repo, "", err
	}
	if err := auth.RepositoryWritable(repo); err != nil {
		return repo, "", err
	}
	if err := h.refuseInProxyCache(r.Context(), repo.Namespace); err != nil {
		return repo, "", err
	}
	return repo, role, nil
}

// parseDigest parses a manifest digest from a request; a malformed one
// names no manifest (404), as Quay answers.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", core.Errorf(core.CodeManifestUnknown, "manifest %q not found", truncate(s, 100))
	}
	return d, nil
}

// changeTag is Quay's PUT …/tag/{tag}: any of manifest_digest (create or
// move), expiration (epoch seconds in the future, or null to clear) and
// immutable (setting needs write, clearing needs admin).
func (h *Handler) changeTag(w http.ResponseWriter, r *http.Request, p params) error {
	repo, role, err := h.tagWriter(r, p)
	if err != nil {
		return err
	}
	var req map[string]json.RawMessage
	if err := decode(r, &req); err != nil {
		return err
	}
	c := store.TagChange{MayClearImmutable: role == core.RoleAdmin}
	if raw, ok := req["manifest_digest"]; ok && string(raw) != "null" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return errInvalid("manifest_digest must be a string")
		}
		if c.Manifest, err = parseDigest(s); err != nil {
			return err
		}
	}
	if raw, ok := req["expiration"]; ok {
		at, err := h.parseExpiration(raw)
		if err != nil {
			return err
		}
		c.Expiration = &at
	}
	if raw, ok := req["immutable"]; ok {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return errInvalid("immutable must be a boolean")
		}
		c.Immutable = &b
	}
	if err := h.db.ChangeTag(r.Context(), repo.FullName, p["tag"], c); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, "Updated")
	return nil
}

// parseExpiration reads Quay's expiration: null clears it (zero time), a
// number is epoch seconds that must lie in the future.
func (h *Handler) parseExpiration(raw json.RawMessage) (time.Time, error) {
	if string(raw) == "null" {
		return time.Time{}, nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil || math.IsNaN(secs) || secs > 1e11 {
		return time.Time{}, errInvalid("expiration must be a number of seconds since the epoch, or null")
	}
	at := time.UnixMilli(int64(secs * 1000))
	if !at.After(h.now()) {
		return time.Time{}, errInvalid("expiration must be in the future")
	}
	return at, nil
}

func (h *Handler) deleteTag(w http.ResponseWriter, r *http.Request, p params) error {
	repo, _, err := h.tagWriter(r, p)
	if err != nil {
		return err
	}
	if err := h.db.DeleteTag(r.Context(), repo.FullName, p["tag"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// restoreTag points a tag back at a manifest from the time machine.
func (h *Handler) restoreTag(w http.ResponseWriter, r *http.Request, p params) error {
	repo, _, err := h.tagWriter(r, p)
	if err != nil {
		return err
	}
	var req struct {
		ManifestDigest *string `json:"manifest_digest"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.ManifestDigest == nil || *req.ManifestDigest == "" {
		return errInvalid("Missing manifest_digest")
	}
	d, err := parseDigest(*req.ManifestDigest)
	if err != nil {
		return err
	}
	window, err := h.namespaceWindow(r.Context(), repo.Namespace)
	if err != nil {
		return err
	}
	if err := h.db.RestoreTag(r.Context(), repo.FullName, p["tag"], d, window); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// expireTag takes a tag out of the time machine (Quay's "permanently
// delete"): with is_alive, the current tag ends; otherwise its ended rows
// that pointed at manifest_digest are no longer restorable.
func (h *Handler) expireTag(w http.ResponseWriter, r *http.Request, p params) error {
	repo, _, err := h.tagWriter(r, p)
	if err != nil {
		return err
	}
	var req struct {
		ManifestDigest      string `json:"manifest_digest"`
		IsAlive             bool   `json:"is_alive"`
		IncludeSubmanifests bool   `json:"include_submanifests"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	var d digest.Digest
	if !req.IsAlive {
		if req.ManifestDigest == "" {
			return errInvalid("manifest_digest required when is_alive set to false")
		}
		if d, err = parseDigest(req.ManifestDigest); err != nil {
			return err
		}
	}
	window, err := h.namespaceWindow(r.Context(), repo.Namespace)
	if err != nil {
		return err
	}
	if _, err := h.db.PurgeTag(r.Context(), repo.FullName, p["tag"], d, req.IsAlive, window); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "")
	return nil
}
