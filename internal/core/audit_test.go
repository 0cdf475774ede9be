package core

import (
	"context"
	"regexp"
	"testing"
)

func TestAuditKinds(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]bool{}
	for _, k := range AuditKinds() {
		if !snake.MatchString(k) {
			t.Errorf("kind %q is not snake_case", k)
		}
		if seen[k] {
			t.Errorf("kind %q listed twice", k)
		}
		seen[k] = true
		if !IsAuditKind(k) {
			t.Errorf("IsAuditKind(%q) = false", k)
		}
	}
	for _, k := range []string{"", "PUSH_REPO", "push", "push_repo "} {
		if IsAuditKind(k) {
			t.Errorf("IsAuditKind(%q) = true", k)
		}
	}
}

func TestActorContext(t *testing.T) {
	if _, ok := ActorFrom(context.Background()); ok {
		t.Fatal("actor in an empty context")
	}
	for addr, want := range map[string]string{"192.0.2.1:5000": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "192.0.2.1": "192.0.2.1", "": ""} {
		a, ok := ActorFrom(WithActor(context.Background(), Actor{Username: "alice", IP: addr}))
		if !ok || a.Username != "alice" || a.IP != want {
			t.Errorf("%q: %+v %v", addr, a, ok)
		}
	}
}
