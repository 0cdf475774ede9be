package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Notifications validates notification configs (events, methods and their
// settings) and knows when a config counts as disabled; internal/notify
// implements it. A nil Notifications turns the notification API off.
type Notifications interface {
	Validate(ctx context.Context, repo core.Repository, event, method string, config, eventConfig map[string]any) error
	SampleData(event string, eventConfig map[string]any) any
	MaxFailures() int
}

// Quay's repository notification API, and the in-app notifications of
// users (method quay_notification).
func (h *Handler) notificationRoutes() {
	h.rt.handle("GET", "/repository/{repo}/notification/", h.listNotifications)
	h.rt.handle("POST", "/repository/{repo}/notification/", h.createNotification)
	h.rt.handle("GET", "/repository/{repo}/notification/{uuid}", h.getNotification)
	h.rt.handle("DELETE", "/repository/{repo}/notification/{uuid}", h.deleteNotification)
	h.rt.handle("POST", "/repository/{repo}/notification/{uuid}", h.resetNotification)
	h.rt.handle("POST", "/repository/{repo}/notification/{uuid}/test", h.testNotification)
	h.rt.handle("GET", "/repository/{repo}/notification/{uuid}/deliveries", h.notificationDeliveries)
	h.rt.handle("GET", "/user/notifications", h.userNotifications)
}

// notificationAdmin checks the feature, the scope and repository admin.
func (h *Handler) notificationAdmin(r *http.Request, p params) (core.Repository, error) {
	if h.opts.Notifications == nil {
		return core.Repository{}, errNotFound("notifications are not enabled")
	}
	return h.accessRepo(r, p, auth.ScopeRepoAdmin, core.RoleAdmin)
}

// notificationView is Quay's view of a config; "disabled" says that it
// failed too often and is no longer delivered until reset.
func (h *Handler) notificationView(n store.Notification) map[string]any {
	var cfg, ecfg map[string]any
	if json.Unmarshal(n.Config, &cfg) != nil || cfg == nil {
		cfg = map[string]any{}
	}
	if json.Unmarshal(n.EventConfig, &ecfg) != nil || ecfg == nil {
		ecfg = map[string]any{}
	}
	if _, ok := cfg["secret"]; ok {
		cfg["secret"] = "********"
	}
	return map[string]any{
		"uuid":               n.UUID,
		"title":              n.Title,
		"event":              n.Event,
		"method":             n.Method,
		"config":             cfg,
		"event_config":       ecfg,
		"number_of_failures": n.NumberOfFailures,
		"disabled":           n.NumberOfFailures >= h.opts.Notifications.MaxFailures(),
	}
}

func (h *Handler) listNotifications(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.notificationAdmin(r, p)
	if err != nil {
		return err
	}
	ns, err := h.db.Notifications(r.Context(), repo.FullName)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(ns))
	for _, n := range ns {
		views = append(views, h.notificationView(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": views})
	return nil
}

func (h *Handler) createNotification(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.notificationAdmin(r, p)
	if err != nil {
		return err
	}
	var body struct {
		Event       string         `json:"event"`
		Method      string         `json:"method"`
		Config      map[string]any `json:"config"`
		EventConfig map[string]any `json:"eventConfig"`
		Title       string         `json:"title"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	switch {
	case body.Event == "":
		return errInvalid("'event' is a required property")
	case body.Method == "":
		return errInvalid("'method' is a required property")
	case body.Config == nil:
		return errInvalid("'config' is a required property")
	case body.EventConfig == nil:
		return errInvalid("'eventConfig' is a required property")
	}
	if err := h.opts.Notifications.Validate(r.Context(), repo, body.Event, body.Method, body.Config, body.EventConfig); err != nil {
		return err
	}
	cfg, _ := json.Marshal(body.Config)
	ecfg, _ := json.Marshal(body.EventConfig)
	n, err := h.db.CreateNotification(r.Context(), repo.FullName, store.NewNotification{
		Title: strings.TrimSpace(body.Title), Event: body.Event, Method: body.Method, Config: cfg, EventConfig: ecfg})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, h.notificationView(n))
	return nil
}

func (h *Handler) notificationByUUID(r *http.Request, p params) (store.Notification, error) {
	repo, err := h.notificationAdmin(r, p)
	if err != nil {
		return store.Notification{}, err
	}
	return h.db.Notification(r.Context(), repo.FullName, p["uuid"])
}

func (h *Handler) getNotification(w http.ResponseWriter, r *http.Request, p params) error {
	n, err := h.notificationByUUID(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.notificationView(n))
	return nil
}

func (h *Handler) deleteNotification(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.notificationAdmin(r, p)
	if err != nil {
		return err
	}
	if err := h.db.DeleteNotification(r.Context(), repo.FullName, p["uuid"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resetNotification sets the failure count to zero (Quay's
// resetRepositoryNotificationFailures), enabling a disabled config.
func (h *Handler) resetNotification(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.notificationAdmin(r, p)
	if err != nil {
		return err
	}
	if _, err := h.db.ResetNotificationFailures(r.Context(), repo.FullName, p["uuid"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testNotification queues a delivery of the event's sample data.
func (h *Handler) testNotification(w http.ResponseWriter, r *http.Request, p params) error {
	n, err := h.notificationByUUID(r, p)
	if err != nil {
		return err
	}
	var ecfg map[string]any
	_ = json.Unmarshal(n.EventConfig, &ecfg)
	if err := h.db.TestNotification(r.Context(), n.Repository, n.UUID, h.opts.Notifications.SampleData(n.Event, ecfg)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// notificationDeliveries lists a config's last delivery attempts.
func (h *Handler) notificationDeliveries(w http.ResponseWriter, r *http.Request, p params) error {
	n, err := h.notificationByUUID(r, p)
	if err != nil {
		return err
	}
	ds, err := h.db.NotificationDeliveries(r.Context(), n.ID)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		v := map[string]any{"event": d.Event, "attempt": d.Attempt, "success": d.Success, "test": d.Test,
			"created": rfc2822(d.At), "created_ts": d.At.Unix()}
		if d.Error != "" {
			v["error"] = d.Error
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": views})
	return nil
}

// userNotifications lists the caller's in-app notifications (Quay's
// GET /api/v1/user/notifications).
func (h *Handler) userNotifications(w http.ResponseWriter, r *http.Request, _ params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := requireScope(id, auth.ScopeUserRead); err != nil {
		return err
	}
	ns, err := h.db.UserNotifications(r.Context(), id.User.ID)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(ns))
	for _, n := range ns {
		var md any
		if json.Unmarshal(n.Metadata, &md) != nil {
			md = map[string]any{}
		}
		m, _ := md.(map[string]any)
		org, _ := m["namespace"].(string)
		views = append(views, map[string]any{
			"id": n.UUID, "kind": n.Kind, "created": rfc2822(n.CreatedAt), "metadata": md,
			"dismissed": n.Dismissed, "organization": org,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": views})
	return nil
}
