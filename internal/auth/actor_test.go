package auth

import (
	"testing"

	"github.com/wharfhq/wharf/internal/core"
)

func TestIdentityActor(t *testing.T) {
	robot := Identity{User: core.User{ID: 7, Username: "acme+ci", Kind: core.UserKindRobot}, Method: MethodRobot}
	if a := robot.Actor("10.0.0.1:1234"); a.UserID != 7 || a.Username != "acme+ci" || a.Kind != core.UserKindRobot || a.Auth != MethodRobot || a.IP != "10.0.0.1" {
		t.Fatalf("robot actor %+v", a)
	}
	person := Identity{User: core.User{ID: 3, Username: "alice", Kind: core.UserKindUser}, Method: MethodAppToken}
	if a := person.Actor("[::1]:80"); a.UserID != 3 || a.Kind != core.UserKindUser || a.Auth != MethodAppToken || a.IP != "::1" {
		t.Fatalf("person actor %+v", a)
	}
	if a := Anonymous.Actor("10.0.0.2"); a.UserID != 0 || a.Username != "" || a.Kind != "" || a.IP != "10.0.0.2" {
		t.Fatalf("anonymous actor %+v", a)
	}
	for in, want := range map[string]string{"alice": "alice", "acme+ci": "acme", "+x": "", "$app": "$app", "": ""} {
		if got := LoginNamespace(in); got != want {
			t.Errorf("LoginNamespace(%q) = %q, want %q", in, got, want)
		}
	}
}
