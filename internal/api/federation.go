package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Keyless robot federation (Quay 3.13): which external OIDC identities may
// exchange their tokens for a robot's token. The configuration is managed
// per robot under …/robots/{robot_shortname}/federation; the exchange itself
// is FederationTokenHandler.

// Limits of a federation configuration.
const (
	maxFederationEntries = 100
	maxFederationIssuer  = 2048
	maxFederationField   = 1024
)

func (h *Handler) robotFederationRoutes() {
	for _, m := range []string{"GET", "POST", "DELETE"} {
		h.rt.handle(m, "/user/robots/{robot_shortname}/federation", h.robotFederationHandler(false))
		h.rt.handle(m, "/organization/{orgname}/robots/{robot_shortname}/federation", h.robotFederationHandler(true))
	}
}

// federationEntryView is one entry as the API shows and accepts it.
type federationEntryView struct {
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	Audience string `json:"audience,omitempty"`
}

// robotFederationHandler checks access as Quay does — user robots need the
// user:admin scope, organization robots org:admin and organization
// administration, for reading too — then reads, replaces or clears the
// robot's federation entries.
func (h *Handler) robotFederationHandler(org bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) error {
		id, err := requireUser(r)
		if err != nil {
			return err
		}
		if id.User.IsRobot() {
			return errForbidden()
		}
		ns := id.User.Username
		if !org {
			if err := requireScope(id, auth.ScopeUserAdmin); err != nil {
				return err
			}
		} else {
			if err := requireScope(id, auth.ScopeOrgAdmin); err != nil {
				return err
			}
			n, err := h.requireOrg(r.Context(), p["orgname"])
			if err != nil {
				return err
			}
			if err := h.requireNamespaceAdmin(r.Context(), id, n.Name); err != nil {
				return err
			}
			ns = n.Name
		}
		robot, err := h.robotLookup(r.Context(), ns, p["robot_shortname"])
		if err != nil {
			return err
		}
		switch r.Method {
		case http.MethodGet:
			entries, err := h.db.RobotFederation(r.Context(), robot.ID)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, federationViews(entries))
			return nil
		case http.MethodPost:
			entries, err := parseFederationConfig(r)
			if err != nil {
				return err
			}
			if err := h.db.SetRobotFederation(r.Context(), robot.ID, entries); err != nil {
				if core.IsCode(err, core.CodeConflict) {
					return errInvalid("Duplicate federation config entry")
				}
				return err
			}
			h.log.InfoContext(r.Context(), "create_robot_federation", "robot", robot.Username, "entries", len(entries), "performer", id.Name())
			writeJSON(w, http.StatusOK, federationViews(entries))
			return nil
		default:
			if err := h.db.SetRobotFederation(r.Context(), robot.ID, nil); err != nil {
				return err
			}
			h.log.InfoContext(r.Context(), "delete_robot_federation", "robot", robot.Username, "performer", id.Name())
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
}

func federationViews(entries []store.FederationEntry) []federationEntryView {
	out := make([]federationEntryView, 0, len(entries))
	for _, e := range entries {
		out = append(out, federationEntryView(e))
	}
	return out
}

// parseFederationConfig reads the body of a POST: a JSON array of
// {"issuer", "subject"[, "audience"]} objects. The issuer must be an http(s)
// URL; a repeated (issuer, subject) pair is refused.
func parseFederationConfig(r *http.Request) ([]store.FederationEntry, error) {
	var raw json.RawMessage
	if err := decode(r, &raw); err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' {
		return nil, errInvalid("the federation configuration must be a JSON array of {issuer, subject} objects")
	}
	var items []*federationEntryView
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errInvalid("malformed federation configuration: " + truncate(err.Error(), 200))
	}
	if len(items) > maxFederationEntries {
		return nil, errInvalid("too many federation config entries")
	}
	entries := make([]store.FederationEntry, 0, len(items))
	seen := map[[2]string]bool{}
	for _, it := range items {
		if it == nil || it.Issuer == "" || it.Subject == "" {
			return nil, errInvalid("Missing one or more required fields (issuer, subject)")
		}
		if len(it.Issuer) > maxFederationIssuer || len(it.Subject) > maxFederationField || len(it.Audience) > maxFederationField {
			return nil, errInvalid("federation config entry too long")
		}
		u, err := url.Parse(it.Issuer)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, errInvalid("Issuer must be a URL (http:// or https://)")
		}
		k := [2]string{it.Issuer, it.Subject}
		if seen[k] {
			return nil, errInvalid("Duplicate federation config entry")
		}
		seen[k] = true
		entries = append(entries, store.FederationEntry(*it))
	}
	return entries, nil
}

// maxFederationToken bounds the external token of an exchange.
const maxFederationToken = 16 << 10

// FederationTokenHandler serves GET and POST /oauth2/federation/robot/token:
// HTTP Basic credentials "namespace+robot:<external OIDC token>" are
// exchanged for {"token": "<robot token>"}, a JWT valid for an hour that the
// robot uses as its password. Every failure is a 401 {"error": "..."}; the
// reason is logged (never the token) and, with an auditor, written to the
// audit log as Quay's login_failure.
type FederationTokenHandler struct {
	fed      *auth.Federation
	log      *slog.Logger
	hostname string
	audit    FederationAuditor
}

// FederationAuditor writes refused exchanges to the audit log
// (store.DB.LogAction).
type FederationAuditor interface {
	LogAction(ctx context.Context, kind, namespace, repository string, meta map[string]any) error
}

// Reason classes of a refused exchange, as the audit log records them.
const (
	federationNoCredentials = "missing_credentials"
	federationTooLarge      = "credentials_too_large"
	federationRefused       = "refused"
	federationError         = "error"
)

// NewFederationTokenHandler returns the exchange endpoint. hostname is
// SERVER_HOSTNAME, the audience of issued tokens; empty means each
// request's Host.
func NewFederationTokenHandler(fed *auth.Federation, log *slog.Logger, hostname string) *FederationTokenHandler {
	return &FederationTokenHandler{fed: fed, log: log, hostname: hostname}
}

// WithAudit makes h write refused exchanges to a (nil: none, as with
// ACTION_LOG_AUDIT_LOGINS off) and returns h.
func (h *FederationTokenHandler) WithAudit(a FederationAuditor) *FederationTokenHandler {
	h.audit = a
	return h
}

// ServeHTTP implements http.Handler.
func (h *FederationTokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	ctx := r.Context()
	robot, token, ok := r.BasicAuth()
	if !ok || robot == "" || token == "" {
		h.log.InfoContext(ctx, "federated robot token exchange refused", "remote", r.RemoteAddr, "reason", "no basic credentials")
		h.logRefusal(r, robot, federationNoCredentials, "")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing auth: send HTTP Basic credentials robot-name:OIDC-token"})
		return
	}
	if len(token) > maxFederationToken || len(robot) > 300 {
		h.log.InfoContext(ctx, "federated robot token exchange refused", "remote", r.RemoteAddr, "reason", "credentials too large")
		h.logRefusal(r, "", federationTooLarge, "")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "token too large"})
		return
	}
	audience := h.hostname
	if audience == "" {
		audience = r.Host
	}
	tok, _, err := h.fed.Exchange(ctx, robot, token, audience)
	if err != nil {
		msg := "token exchange failed"
		var ce *core.Error
		if errors.As(err, &ce) && ce.Code == core.CodeUnauthorized && ce.Msg != "" {
			msg = ce.Msg
			h.log.InfoContext(ctx, "federated robot token exchange refused", "robot", robot, "remote", r.RemoteAddr, "reason", err.Error())
			h.logRefusal(r, robot, federationRefused, msg)
		} else {
			h.log.ErrorContext(ctx, "federated robot token exchange failed", "robot", robot, "remote", r.RemoteAddr, "err", err)
			h.logRefusal(r, robot, federationError, "")
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// logRefusal writes a refused exchange to the audit log: Quay's
// login_failure without performer (the robot's name is only claimed), in
// the claimed robot's namespace, with the reason class and the message the
// client got (which never quotes the token).
func (h *FederationTokenHandler) logRefusal(r *http.Request, robot, class, message string) {
	if h.audit == nil {
		return
	}
	ctx := core.WithActor(context.WithoutCancel(r.Context()), auth.Anonymous.Actor(clientAddr(r)))
	meta := map[string]any{"type": "federated", "kind": core.UserKindRobot, "reason": class, "useragent": truncate(r.UserAgent(), 256)}
	ns := ""
	if robot != "" {
		meta["username"] = robot
		ns = auth.LoginNamespace(robot)
	}
	if message != "" {
		meta["message"] = truncate(message, 512)
	}
	if err := h.audit.LogAction(ctx, core.LogLoginFailure, ns, "", meta); err != nil {
		h.log.WarnContext(ctx, "audit log: federated token exchange", "err", err)
	}
}
