package api

import (
	"testing"
)

func TestOrgAutoprunePolicies(t *testing.T) {
	e, alice, writer, _ := tagFixture(t)
	base := "/api/v1/organization/acme/autoprunepolicy/"

	e.do("GET", base, "", nil).expect(401)
	e.do("GET", base, writer, nil).expect(403)
	e.do("POST", base, writer, map[string]any{"method": "number_of_tags", "value": 5}).expect(403)
	e.do("GET", "/api/v1/organization/nobody/autoprunepolicy/", alice, nil).expect(404)
	for _, bad := range []map[string]any{
		{},
		{"method": "number_of_tags"},
		{"method": "number_of_tags", "value": 0},
		{"method": "number_of_tags", "value": 2.5},
		{"method": "number_of_tags", "value": "2w"},
		{"method": "creation_date", "value": 7},
		{"method": "creation_date", "value": "7 days"},
		{"method": "by_size", "value": 7},
		{"method": "creation_date", "value": "7d", "tagPattern": "("},
	} {
		e.do("POST", base, alice, bad).expect(400)
	}

	uuid, _ := e.do("POST", base, alice, map[string]any{"method": "number_of_tags", "value": 10}).expect(201).json()["uuid"].(string)
	if uuid == "" {
		t.Fatal("no uuid")
	}
	e.do("POST", base, alice, map[string]any{"method": "number_of_tags", "value": 10}).expect(400) // duplicate
	other := e.do("POST", base, alice, map[string]any{"method": "creation_date", "value": "2w", "tagPattern": "dev-.*", "tagPatternMatches": false}).
		expect(201).json()["uuid"].(string)

	ps := fxList(t, e.do("GET", base, alice, nil).expect(200).json()["policies"], "policies")
	if len(ps) != 2 {
		t.Fatalf("list: %v", ps)
	}
	first, second := fxMap(t, ps[0], "policy"), fxMap(t, ps[1], "policy")
	if first["uuid"] != uuid || first["method"] != "number_of_tags" || first["value"] != float64(10) || first["tagPattern"] != nil {
		t.Fatalf("first policy: %v", first)
	}
	if second["uuid"] != other || second["value"] != "2w" || second["tagPattern"] != "dev-.*" || second["tagPatternMatches"] != false {
		t.Fatalf("second policy: %v", second)
	}

	e.do("PUT", base+uuid, alice, map[string]any{"method": "creation_date", "value": "1y", "tagPattern": "v.*"}).expect(204)
	got := e.do("GET", base+uuid, alice, nil).expect(200).json()
	if got["method"] != "creation_date" || got["value"] != "1y" || got["tagPattern"] != "v.*" || got["tagPatternMatches"] != true {
		t.Fatalf("after update: %v", got)
	}
	e.do("PUT", base+uuid, alice, map[string]any{"method": "creation_date", "value": "nope"}).expect(400)
	e.do("GET", base+"nope", alice, nil).expect(404)
	e.do("PUT", base+"nope", alice, map[string]any{"method": "number_of_tags", "value": 1}).expect(404)
	e.do("DELETE", base+uuid, writer, nil).expect(403)
	if del := e.do("DELETE", base+uuid, alice, nil).expect(200).json(); del["uuid"] != uuid {
		t.Fatalf("delete answered %v", del)
	}
	e.do("DELETE", base+uuid, alice, nil).expect(404)
	// A repository's own list does not show the namespace's policies.
	if ps := fxList(t, e.do("GET", "/api/v1/repository/acme/app/autoprunepolicy/", alice, nil).expect(200).json()["policies"], "policies"); len(ps) != 0 {
		t.Fatalf("repository list: %v", ps)
	}
}

func TestRepoAndUserAutoprunePolicies(t *testing.T) {
	e, alice, writer, _ := tagFixture(t)
	base := "/api/v1/repository/acme/app/autoprunepolicy/"
	e.do("GET", base, writer, nil).expect(403) // repository admins only
	e.do("GET", "/api/v1/repository/acme/none/autoprunepolicy/", alice, nil).expect(404)
	uuid := e.do("POST", base, alice, map[string]any{"method": "number_of_tags", "value": 3}).expect(201).json()["uuid"].(string)
	got := e.do("GET", base+uuid, alice, nil).expect(200).json()
	if got["uuid"] != uuid || got["value"] != float64(3) {
		t.Fatalf("repository policy: %v", got)
	}
	// Not visible as a namespace policy.
	e.do("GET", "/api/v1/organization/acme/autoprunepolicy/"+uuid, alice, nil).expect(404)
	e.do("DELETE", base+uuid, alice, nil).expect(200)

	// /user/ is the caller's own namespace.
	ubase := "/api/v1/user/autoprunepolicy/"
	e.do("GET", ubase, "", nil).expect(401)
	u := e.do("POST", ubase, writer, map[string]any{"method": "creation_date", "value": "30d"}).expect(201).json()["uuid"].(string)
	if ps := fxList(t, e.do("GET", ubase, writer, nil).expect(200).json()["policies"], "policies"); len(ps) != 1 {
		t.Fatalf("user list: %v", ps)
	}
	e.do("GET", ubase+u, alice, nil).expect(404) // another user's namespace
	e.do("DELETE", ubase+u, writer, nil).expect(200)
}
