package api

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestOrgQuota(t *testing.T) {
	e, alice, writer, _ := tagFixture(t)
	root := e.user("root", true)
	outsider := e.user("olga", false)
	base := "/api/v1/organization/acme/quota"

	e.do("GET", base, "", nil).expect(401)
	e.do("GET", base, outsider, nil).expect(403)
	e.do("GET", base, writer, nil).expect(403) // repository permissions make no member
	e.do("GET", "/api/v1/organization/nobody/quota", root, nil).expect(404)
	if got := e.do("GET", base, alice, nil).expect(200).list(); len(got) != 0 {
		t.Fatalf("quotas before: %v", got)
	}
	e.do("POST", base, alice, map[string]any{"limit_bytes": 1000}).expect(403) // superusers only
	e.do("POST", base, root, map[string]any{}).expect(400)
	e.do("POST", base, root, map[string]any{"limit_bytes": -1}).expect(400)
	e.do("POST", base, root, map[string]any{"limit": "ten"}).expect(400)
	e.do("POST", base, root, map[string]any{"limit": "10 GiB"}).expect(201)
	e.do("POST", base, root, map[string]any{"limit_bytes": 1000}).expect(400) // one per namespace

	qs := e.do("GET", base, alice, nil).expect(200).list()
	if len(qs) != 1 {
		t.Fatalf("quotas: %v", qs)
	}
	q := fxMap(t, qs[0], "quota")
	if q["limit_bytes"] != float64(10<<30) || q["limit"] != "10.0 GiB" {
		t.Fatalf("quota view: %v", q)
	}
	qbase := fmt.Sprintf("%s/%v", base, q["id"])
	e.do("PUT", qbase, alice, map[string]any{"limit_bytes": 5000}).expect(403)
	if got := e.do("PUT", qbase, root, map[string]any{"limit_bytes": 5000}).expect(200).json(); got["limit_bytes"] != float64(5000) {
		t.Fatalf("after update: %v", got)
	}
	e.do("GET", base+"/999", root, nil).expect(404)

	e.do("POST", qbase+"/limit", alice, map[string]any{"type": "Reject", "threshold_percent": 100}).expect(403)
	e.do("POST", qbase+"/limit", root, map[string]any{"type": "Soft", "threshold_percent": 100}).expect(400)
	e.do("POST", qbase+"/limit", root, map[string]any{"type": "Reject", "threshold_percent": 100}).expect(201)
	e.do("POST", qbase+"/limit", root, map[string]any{"type": "Warning", "threshold_percent": 80}).expect(201)
	limits := e.do("GET", qbase+"/limit", alice, nil).expect(200).list()
	if len(limits) != 2 {
		t.Fatalf("limits: %v", limits)
	}
	l := fxMap(t, limits[0], "limit")
	if l["type"] != "Reject" || l["limit_percent"] != float64(100) {
		t.Fatalf("limit view: %v", l)
	}
	lpath := fmt.Sprintf("%s/limit/%v", qbase, l["id"])
	if got := e.do("PUT", lpath, root, map[string]any{"threshold_percent": 90}).expect(200).json(); got["limit_percent"] != float64(90) || got["type"] != "Reject" {
		t.Fatalf("after limit update: %v", got)
	}
	if got := e.do("GET", qbase, alice, nil).expect(200).json(); len(got["limits"].([]any)) != 2 {
		t.Fatalf("quota with limits: %v", got)
	}

	// The organization view reports usage and the configured quota.
	e.pushImage("acme/app", "one", nil, "latest")
	org := e.do("GET", "/api/v1/organization/acme", alice, nil).expect(200).json()
	report := fxMap(t, org["quota_report"], "quota_report")
	if report["configured_quota"] != float64(5000) || report["quota_bytes"].(float64) <= 0 {
		t.Fatalf("quota_report: %v", report)
	}
	if _, ok := e.do("GET", "/api/v1/organization/acme", outsider, nil).expect(200).json()["quota_report"]; ok {
		t.Fatal("quota_report shown to a non-member")
	}
	e.do("POST", qbase+"/recalculate", alice, nil).expect(403)
	e.do("POST", qbase+"/recalculate", root, nil).expect(202)

	e.do("DELETE", lpath, root, nil).expect(204)
	e.do("DELETE", lpath, root, nil).expect(404)
	e.do("DELETE", qbase, alice, nil).expect(403)
	e.do("DELETE", qbase, root, nil).expect(204)
	e.do("GET", qbase, root, nil).expect(404)
}

// list decodes a body that is a JSON array.
func (r *result) list() []any {
	r.t.Helper()
	var l []any
	if err := json.Unmarshal(r.body, &l); err != nil {
		r.t.Fatalf("%s %s: body is not a JSON array: %v: %s", r.method, r.path, err, r.body)
	}
	return l
}
