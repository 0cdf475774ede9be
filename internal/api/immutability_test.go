package api

import (
	"strings"
	"testing"
)

func TestOrgImmutabilityPolicies(t *testing.T) {
	e, alice, writer, _ := tagFixture(t)
	d1 := e.pushImage("acme/app", "one", nil, "v1.0", "latest")
	d2 := e.pushImage("acme/app", "two", nil)
	base := "/api/v1/organization/acme/immutabilitypolicy/"

	e.do("GET", base, "", nil).expect(401)
	e.do("GET", base, writer, nil).expect(403)
	e.do("POST", base, writer, map[string]any{"tagPattern": "v.*"}).expect(403)
	e.do("GET", "/api/v1/organization/nobody/immutabilitypolicy/", alice, nil).expect(404)
	e.do("POST", base, alice, map[string]any{}).expect(400)
	e.do("POST", base, alice, map[string]any{"tagPattern": 5}).expect(400)
	e.do("POST", base, alice, map[string]any{"tagPattern": "("}).expect(400)

	// tagPatternMatches defaults to true: matching tags are immutable.
	created := e.do("POST", base, alice, map[string]any{"tagPattern": `v\d+\.\d+`}).expect(201).json()
	uuid, _ := created["uuid"].(string)
	if uuid == "" {
		t.Fatalf("create answered %v", created)
	}
	e.do("POST", base, alice, map[string]any{"tagPattern": `v\d+\.\d+`, "tagPatternMatches": false}).expect(400) // same pattern
	list := e.do("GET", base, alice, nil).expect(200).json()
	ps := fxList(t, list["policies"], "policies")
	if len(ps) != 1 || fxMap(t, ps[0], "policy")["tagPattern"] != `v\d+\.\d+` || fxMap(t, ps[0], "policy")["tagPatternMatches"] != true {
		t.Fatalf("list: %v", list)
	}
	res := e.do("PUT", "/api/v1/repository/acme/app/tag/v1.0", writer, map[string]any{"manifest_digest": d2}).expect(409)
	if msg := res.json()["detail"].(string); !strings.Contains(msg, uuid) || !strings.Contains(msg, `matching "v\d+\.\d+"`) {
		t.Fatalf("refusal does not name the policy: %s", msg)
	}
	e.do("PUT", "/api/v1/repository/acme/app/tag/latest", writer, map[string]any{"manifest_digest": d2}).expect(201)
	for _, tg := range e.tags("acme/app", writer, "onlyActiveTags=true") {
		if want := tg["name"] == "v1.0"; tg["immutable"] != want {
			t.Fatalf("immutable flag in the list: %v", tg)
		}
	}

	// Reversed: every tag but the matching ones is immutable.
	e.do("PUT", base+uuid, alice, map[string]any{"tagPattern": "dev-.*", "tagPatternMatches": false}).expect(204)
	got := e.do("GET", base+uuid, alice, nil).expect(200).json()
	if got["uuid"] != uuid || got["tagPattern"] != "dev-.*" || got["tagPatternMatches"] != false {
		t.Fatalf("after update: %v", got)
	}
	e.do("PUT", "/api/v1/repository/acme/app/tag/latest", writer, map[string]any{"manifest_digest": d1}).expect(409)
	e.do("PUT", "/api/v1/repository/acme/app/tag/dev-1", writer, map[string]any{"manifest_digest": d1}).expect(201)
	e.do("PUT", "/api/v1/repository/acme/app/tag/dev-1", writer, map[string]any{"manifest_digest": d2}).expect(201)
	e.do("DELETE", "/api/v1/repository/acme/app/tag/v1.0", writer, nil).expect(409)

	e.do("GET", base+"nope", alice, nil).expect(404)
	e.do("PUT", base+"nope", alice, map[string]any{"tagPattern": "x"}).expect(404)
	e.do("DELETE", base+uuid, writer, nil).expect(403)
	del := e.do("DELETE", base+uuid, alice, nil).expect(200).json()
	if del["uuid"] != uuid {
		t.Fatalf("delete answered %v", del)
	}
	e.do("DELETE", base+uuid, alice, nil).expect(404)
	e.do("DELETE", "/api/v1/repository/acme/app/tag/v1.0", writer, nil).expect(204)
}

func TestRepoImmutabilityPolicies(t *testing.T) {
	e, alice, writer, _ := tagFixture(t)
	e.repo("acme/other", "private", alice)
	d1 := e.pushImage("acme/app", "one", nil, "release-1")
	d2 := e.pushImage("acme/app", "two", nil)
	e.pushImage("acme/other", "one", nil, "release-1")
	base := "/api/v1/repository/acme/app/immutabilitypolicy/"

	e.do("GET", base, writer, nil).expect(403) // repository admins only
	e.do("GET", "/api/v1/repository/acme/none/immutabilitypolicy/", alice, nil).expect(404)
	uuid := e.do("POST", base, alice, map[string]any{"tagPattern": "release-.*", "tagPatternMatches": true}).expect(201).json()["uuid"].(string)
	e.do("PUT", "/api/v1/repository/acme/app/tag/release-1", writer, map[string]any{"manifest_digest": d2}).expect(409)
	// Only this repository.
	e.do("DELETE", "/api/v1/repository/acme/other/tag/release-1", alice, nil).expect(204)
	// Not visible as an organization policy, nor from another repository.
	if ps := fxList(t, e.do("GET", "/api/v1/organization/acme/immutabilitypolicy/", alice, nil).expect(200).json()["policies"], "policies"); len(ps) != 0 {
		t.Fatalf("organization policies: %v", ps)
	}
	e.do("GET", "/api/v1/repository/acme/other/immutabilitypolicy/"+uuid, alice, nil).expect(404)
	if ps := fxList(t, e.do("GET", base, alice, nil).expect(200).json()["policies"], "policies"); len(ps) != 1 {
		t.Fatalf("repository policies: %v", ps)
	}
	e.do("PUT", base+uuid, alice, map[string]any{"tagPattern": "release-.*", "tagPatternMatches": false}).expect(204)
	e.do("PUT", "/api/v1/repository/acme/app/tag/release-1", writer, map[string]any{"manifest_digest": d2}).expect(201)
	e.do("PUT", "/api/v1/repository/acme/app/tag/latest", writer, map[string]any{"manifest_digest": d1}).expect(201)
	e.do("PUT", "/api/v1/repository/acme/app/tag/latest", writer, map[string]any{"manifest_digest": d2}).expect(409)
	e.do("GET", base+uuid, alice, nil).expect(200)
	e.do("DELETE", base+uuid, alice, nil).expect(200)
	e.do("PUT", "/api/v1/repository/acme/app/tag/latest", writer, map[string]any{"manifest_digest": d2}).expect(201)
}
