package auth

import "github.com/wharfhq/wharf/internal/core"

// Actor is the identity as the audit log records it, calling from addr: an
// app token or OAuth token stands for the user owning it, and Auth keeps
// which credential was used.
func (id Identity) Actor(addr string) core.Actor {
	a := core.Actor{IP: core.HostOnly(addr), Auth: id.Method}
	if id.IsAnonymous() {
		return a
	}
	a.UserID, a.Username, a.Kind = id.User.ID, id.User.Username, core.UserKindUser
	if id.User.IsRobot() {
		a.Kind = core.UserKindRobot
	}
	return a
}

// LoginNamespace is the namespace a login attempt as username concerns: the
// user's own, or a robot's organization or user namespace.
func LoginNamespace(username string) string {
	for i := 0; i < len(username); i++ {
		if username[i] == '+' {
			return username[:i]
		}
	}
	return username
}
