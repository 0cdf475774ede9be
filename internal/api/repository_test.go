package api

import "testing"

func TestRepositoryLifecycle(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)

	e.repo("alice/app", "private", alice)
	e.do("POST", "/api/v1/repository", alice, map[string]any{"repository": "app", "visibility": "private"}).expect(400)

	got := e.do("GET", "/api/v1/repository/alice/app", alice, nil).expect(200).json()
	if got["name"] != "app" || got["namespace"] != "alice" || got["is_public"] != false || got["can_admin"] != true {
		t.Fatalf("repository view: %v", got)
	}
	// Private: invisible to bob and to anonymous callers.
	e.do("GET", "/api/v1/repository/alice/app", bob, nil).expect(403)
	e.do("GET", "/api/v1/repository/alice/app", "", nil).expect(401)
	list := e.do("GET", "/api/v1/repository?namespace=alice", bob, nil).expect(200).json()
	if n := len(list["repositories"].([]any)); n != 0 {
		t.Fatalf("bob sees %d private repositories", n)
	}
	// Bob cannot change it; alice can.
	e.do("PUT", "/api/v1/repository/alice/app", bob, map[string]any{"description": "x"}).expect(403)
	e.do("PUT", "/api/v1/repository/alice/app", alice, map[string]any{"description": "hello"}).expect(200)
	e.do("POST", "/api/v1/repository/alice/app/changevisibility", bob, map[string]any{"visibility": "public"}).expect(403)
	e.do("POST", "/api/v1/repository/alice/app/changevisibility", alice, map[string]any{"visibility": "public"}).expect(200)
	got = e.do("GET", "/api/v1/repository/alice/app", "", nil).expect(200).json()
	if got["is_public"] != true || got["description"] != "hello" || got["can_write"] != false {
		t.Fatalf("public view: %v", got)
	}
	list = e.do("GET", "/api/v1/repository?public=true", "", nil).expect(200).json()
	if n := len(list["repositories"].([]any)); n != 1 {
		t.Fatalf("public list has %d entries", n)
	}
	e.do("DELETE", "/api/v1/repository/alice/app", bob, nil).expect(403)
	e.do("DELETE", "/api/v1/repository/alice/app", alice, nil).expect(204)
	e.do("GET", "/api/v1/repository/alice/app", alice, nil).expect(404)
	// Bob may not create in alice's namespace.
	e.do("POST", "/api/v1/repository", bob, map[string]any{"namespace": "alice", "repository": "x", "visibility": "public"}).expect(403)
	e.do("GET", "/api/v1/repository", alice, nil).expect(400)
}

func TestReadOnlyTokenScope(t *testing.T) {
	e := newTestEnv(t)
	e.user("carol", false)
	u, err := e.db.User(t.Context(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	ro := e.tokenFor(u.ID, "repo:read")
	e.do("POST", "/api/v1/repository", ro, map[string]any{"repository": "x", "visibility": "public"}).expect(403)
}

func TestInitialize(t *testing.T) {
	e := newTestEnv(t)
	res := e.do("POST", "/api/v1/user/initialize", "", map[string]any{"username": "root", "password": "rootpassword", "email": "r@example.com", "access_token": true}).expect(200).json()
	tok, _ := res["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access token: %v", res)
	}
	me := e.do("GET", "/api/v1/user/", tok, nil).expect(200).json()
	if me["username"] != "root" || me["super_user"] != true {
		t.Fatalf("user view: %v", me)
	}
	// Only once.
	e.do("POST", "/api/v1/user/initialize", "", map[string]any{"username": "again", "password": "rootpassword", "access_token": true}).expect(400)
	e.do("GET", "/api/v1/user/", "not-a-token", nil).expect(401)
	e.do("GET", "/api/v1/nonexistent", tok, nil).expect(404)
}
