package api

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// rfc2822 formats times as Quay does in its API.
func rfc2822(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700")
}

// avatar is Quay's avatar object (a colour and a hash; no external service).
func avatar(name, kind string) map[string]any {
	sum := md5.Sum([]byte(name))
	h := hex.EncodeToString(sum[:])
	return map[string]any{"name": name, "hash": h, "color": "#" + h[:6], "kind": kind}
}

// userView is Quay's short user/robot entity view.
func userView(u core.User) map[string]any {
	kind := "user"
	if u.IsRobot() {
		kind = "robot"
	}
	return map[string]any{"name": u.Username, "kind": kind, "is_robot": u.IsRobot(), "avatar": avatar(u.Username, kind)}
}

// repoView is Quay's repository entry in lists.
func repoView(r core.Repository) map[string]any {
	return map[string]any{
		"namespace":     r.Namespace,
		"name":          r.Name,
		"description":   r.Description,
		"is_public":     r.Visibility == core.VisibilityPublic,
		"kind":          "image",
		"state":         r.State,
		"last_modified": r.CreatedAt.Unix(),
	}
}

// splitRobot splits "ns+short" into its parts.
func splitRobot(name string) (ns, short string, ok bool) {
	return strings.Cut(name, "+")
}
