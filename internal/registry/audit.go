package registry

import (
	"context"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Auditor writes audit log entries that no store change carries (logins).
type Auditor interface {
	LogAction(ctx context.Context, kind, namespace, repository string, meta map[string]any) error
}

// PullRecorder logs pulls off the request path (store.PullLog).
type PullRecorder interface {
	Record(ctx context.Context, repository string, meta map[string]any)
}

// clientAddr is the caller's address as the HTTP edge determined it.
func clientAddr(r *http.Request) string {
	if a := auth.ClientAddr(r.Context()); a != "" {
		return a
	}
	return r.RemoteAddr
}

// withActor puts the performer of the request into its context for the
// audit log: the identity of Basic credentials, or the subject of a token
// (known by name only, so no lookup happens on the request path).
func withActor(r *http.Request, ra *requestAuth) *http.Request {
	addr := clientAddr(r)
	var a core.Actor
	switch {
	case ra != nil && ra.basic != nil:
		a = ra.basic.Actor(addr)
	case ra != nil && ra.claims != nil && ra.claims.Subject != "" && ra.claims.Context.EntityKind != "anonymous":
		a = core.Actor{Username: ra.claims.Subject, Kind: core.UserKindUser, Auth: "registry_token", IP: addr}
		if ra.claims.Context.EntityKind == core.UserKindRobot {
			a.Kind = core.UserKindRobot
		}
	default:
		a = auth.Anonymous.Actor(addr)
	}
	return r.WithContext(core.WithActor(r.Context(), a))
}

// recordPull logs a manifest pull (Quay's pull_repo) through the pull
// recorder, if any.
func (h *Handler) recordPull(ctx context.Context, repo string, ref oci.Reference, d digest.Digest) {
	if h.opts.Pulls == nil {
		return
	}
	meta := map[string]any{"manifest_digest": string(d)}
	if !ref.IsDigest() {
		meta["tag"] = ref.Tag
	}
	h.opts.Pulls.Record(ctx, repo, meta)
}

// logLogin records a token request's login (login_success) or a failed
// one (login_failure, without performer: the name is only claimed).
func (h *Handler) logLogin(r *http.Request, id auth.Identity, username string, loginErr error) {
	if h.opts.Audit == nil {
		return
	}
	ctx := r.Context()
	meta := map[string]any{"type": "v2auth", "useragent": r.UserAgent(), "username": username}
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
	if err := h.opts.Audit.LogAction(context.WithoutCancel(ctx), kind, auth.LoginNamespace(username), "", meta); err != nil {
		h.log.WarnContext(ctx, "audit log: login", "err", err)
	}
}
