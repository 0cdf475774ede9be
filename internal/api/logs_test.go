package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// logsFixture: alice owns organization acme with repository acme/app and
// her own alice/own; bob is in acme's devs team (member) with write on
// acme/app; carol owns organization other; root is a superuser.
type logsFixture struct {
	e                       *testEnv
	alice, bob, carol, root string
}

func newLogsFixture(t *testing.T) *logsFixture {
	t.Helper()
	e := newTestEnv(t)
	f := &logsFixture{e: e, alice: e.user("alice", false), bob: e.user("bob", false), carol: e.user("carol", false), root: e.user("root", true)}
	e.org("acme", f.alice)
	e.org("other", f.carol)
	e.repo("acme/app", "private", f.alice)
	e.repo("alice/own", "private", f.alice)
	e.do("PUT", "/api/v1/organization/acme/team/devs", f.alice, map[string]any{"role": "member"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/devs/members/bob", f.alice, nil).expect(200)
	e.do("PUT", "/api/v1/repository/acme/app/permissions/user/bob", f.alice, map[string]any{"role": "write"}).expect(200)
	return f
}

// logs lists a log endpoint, following next_page, and returns every entry
// and the number of pages.
func (f *logsFixture) logs(path, token, query string) ([]map[string]any, int) {
	f.e.t.Helper()
	var all []map[string]any
	pages := 0
	next := ""
	for {
		q := query
		if next != "" {
			q += "&next_page=" + url.QueryEscape(next)
		}
		got := f.e.do("GET", path+"?"+q, token, nil).expect(200).json()
		pages++
		for _, l := range got["logs"].([]any) {
			all = append(all, l.(map[string]any))
		}
		if got["start_time"] == nil || got["end_time"] == nil {
			f.e.t.Fatalf("no start_time/end_time: %v", got)
		}
		n, _ := got["next_page"].(string)
		if n == "" {
			return all, pages
		}
		if len(got["logs"].([]any)) != logsPerPage {
			f.e.t.Fatalf("a page with next_page has %d entries", len(got["logs"].([]any)))
		}
		if pages > 100 {
			f.e.t.Fatal("paging does not end")
		}
		next = n
	}
}

func kindsOfLogs(logs []map[string]any) map[string]int {
	out := map[string]int{}
	for _, l := range logs {
		out[l["kind"].(string)]++
	}
	return out
}

func TestLogsListShapeAndScopes(t *testing.T) {
	f := newLogsFixture(t)
	repoLogs, _ := f.logs("/api/v1/repository/acme/app/logs", f.alice, "")
	kinds := kindsOfLogs(repoLogs)
	if kinds[core.LogCreateRepo] != 1 || kinds[core.LogAddRepoPermission] != 1 || len(kinds) != 2 {
		t.Fatalf("repository kinds %v", kinds)
	}
	// Quay's entry shape.
	l := repoLogs[0]
	if l["kind"] != core.LogAddRepoPermission || l["ip"] == "" || l["metadata"].(map[string]any)["username"] != "bob" {
		t.Fatalf("entry %v", l)
	}
	if _, err := time.Parse(time.RFC1123Z, l["datetime"].(string)); err != nil {
		t.Fatalf("datetime %q: %v", l["datetime"], err)
	}
	p := l["performer"].(map[string]any)
	if p["name"] != "alice" || p["kind"] != "user" || p["is_robot"] != false || p["avatar"] == nil {
		t.Fatalf("performer %v", p)
	}
	if _, ok := l["namespace"]; ok {
		t.Fatalf("repository logs carry the namespace: %v", l)
	}

	orgLogs, _ := f.logs("/api/v1/organization/acme/logs", f.alice, "")
	kinds = kindsOfLogs(orgLogs)
	for _, k := range []string{core.LogOrgCreate, core.LogCreateRepo, core.LogOrgCreateTeam, core.LogOrgAddTeamMember, core.LogAddRepoPermission} {
		if kinds[k] != 1 {
			t.Fatalf("organization kinds %v: want one %s", kinds, k)
		}
	}
	for _, l := range orgLogs {
		if md := l["metadata"].(map[string]any); md["namespace"] != "acme" {
			t.Fatalf("organization log of another namespace: %v", l)
		}
	}

	// The user's logs: their namespace, with the namespace in each entry.
	userLogs, _ := f.logs("/api/v1/user/logs", f.alice, "")
	kinds = kindsOfLogs(userLogs)
	if kinds[core.LogUserCreate] != 1 || kinds[core.LogCreateRepo] != 1 || kinds[core.LogOrgCreate] != 0 {
		t.Fatalf("user kinds %v", kinds)
	}
	if ns := userLogs[0]["namespace"].(map[string]any); ns["name"] != "alice" || ns["kind"] != "user" {
		t.Fatalf("user log namespace %v", ns)
	}

	// Superusers see everything.
	all, _ := f.logs("/api/v1/superuser/logs", f.root, "")
	kinds = kindsOfLogs(all)
	if kinds[core.LogOrgCreate] != 2 || kinds[core.LogUserCreate] != 4 {
		t.Fatalf("superuser kinds %v", kinds)
	}
}

func TestLogsAuthorization(t *testing.T) {
	f := newLogsFixture(t)
	readOnly := f.e.tokenFor(userID(t, f.e, "alice"), "repo:read user:read")
	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"anonymous repository", "GET", "/api/v1/repository/acme/app/logs", "", 401},
		{"anonymous organization", "GET", "/api/v1/organization/acme/logs", "", 401},
		{"anonymous user", "GET", "/api/v1/user/logs", "", 401},
		{"anonymous superuser", "GET", "/api/v1/superuser/logs", "", 401},
		{"writer is not admin", "GET", "/api/v1/repository/acme/app/logs", f.bob, 403},
		{"writer aggregate", "GET", "/api/v1/repository/acme/app/aggregatelogs", f.bob, 403},
		{"writer export", "POST", "/api/v1/repository/acme/app/exportlogs", f.bob, 403},
		{"member is not org admin", "GET", "/api/v1/organization/acme/logs", f.bob, 403},
		{"member aggregate", "GET", "/api/v1/organization/acme/aggregatelogs", f.bob, 403},
		{"member export", "POST", "/api/v1/organization/acme/exportlogs", f.bob, 403},
		{"another org's owner", "GET", "/api/v1/organization/acme/logs", f.carol, 403},
		{"another org's owner on a repository", "GET", "/api/v1/repository/acme/app/logs", f.carol, 403},
		{"owner of acme on other", "GET", "/api/v1/organization/other/logs", f.alice, 403},
		{"someone else's user repository", "GET", "/api/v1/repository/alice/own/logs", f.carol, 403},
		{"not a superuser", "GET", "/api/v1/superuser/logs", f.alice, 403},
		{"not a superuser aggregate", "GET", "/api/v1/superuser/aggregatelogs", f.alice, 403},
		{"token without org:admin", "GET", "/api/v1/organization/acme/logs", readOnly, 403},
		{"token without repo:admin", "GET", "/api/v1/repository/acme/app/logs", readOnly, 403},
		{"token without user:admin", "GET", "/api/v1/user/logs", readOnly, 403},
		{"missing repository", "GET", "/api/v1/repository/acme/nope/logs", f.alice, 404},
		{"no update endpoint", "PUT", "/api/v1/organization/acme/logs", f.alice, 405},
		{"no delete endpoint", "DELETE", "/api/v1/organization/acme/logs", f.alice, 405},
		{"no superuser export", "POST", "/api/v1/superuser/exportlogs", f.root, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.method == "POST" {
				body = map[string]any{"callback_url": "http://127.0.0.1:1/"}
			}
			f.e.do(c.method, c.path, c.token, body).expect(c.want)
		})
	}
	// Allowed, for contrast.
	f.e.do("GET", "/api/v1/organization/other/logs", f.carol, nil).expect(200)
}

func userID(t *testing.T, e *testEnv, name string) int64 {
	t.Helper()
	u, err := e.db.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestLogsFiltersPagingAggregate(t *testing.T) {
	f := newLogsFixture(t)
	ctx := context.Background()
	// 45 login entries in acme: 15 failures by nobody, 30 successes by bob.
	for i := 0; i < 45; i++ {
		kind, actor := core.LogLoginSuccess, core.Actor{Username: "bob", IP: "10.1.2.3"}
		if i%3 == 0 {
			kind, actor = core.LogLoginFailure, core.Actor{IP: "10.9.9.9"}
		}
		if err := f.e.db.LogAction(core.WithActor(ctx, actor), kind, "acme", "", map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	const path = "/api/v1/organization/acme/logs"
	all, pages := f.logs(path, f.alice, "")
	if len(all) != 45+5 || pages != 3 {
		t.Fatalf("%d entries in %d pages", len(all), pages)
	}
	seen := map[string]bool{}
	for _, l := range all {
		key := fmt.Sprint(l["kind"], l["metadata"])
		if seen[key] {
			t.Fatalf("entry listed twice: %v", l)
		}
		seen[key] = true
	}
	bobs, _ := f.logs(path, f.alice, "performer=bob")
	if len(bobs) != 30 {
		t.Fatalf("performer=bob: %d", len(bobs))
	}
	for _, l := range bobs {
		if l["performer"].(map[string]any)["name"] != "bob" || l["ip"] != "10.1.2.3" {
			t.Fatalf("performer filter: %v", l)
		}
	}
	fails, _ := f.logs(path, f.alice, "kind=login_failure")
	if len(fails) != 15 || fails[0]["performer"] != nil {
		t.Fatalf("kind=login_failure: %d %v", len(fails), fails[0])
	}
	both, _ := f.logs(path, f.alice, "kind=login_failure,org_create")
	if len(both) != 16 {
		t.Fatalf("two kinds: %d", len(both))
	}
	today := time.Now().UTC()
	day := func(t time.Time) string { return t.Format("01/02/2006") }
	if got, _ := f.logs(path, f.alice, "starttime="+day(today)+"&endtime="+day(today)); len(got) != 50 {
		t.Fatalf("today: %d", len(got))
	}
	if got, _ := f.logs(path, f.alice, "starttime="+day(today.Add(48*time.Hour))+"&endtime="+day(today.Add(72*time.Hour))); len(got) != 0 {
		t.Fatalf("the future: %d", len(got))
	}
	if got, _ := f.logs(path, f.alice, "endtime="+day(today.Add(-48*time.Hour))); len(got) != 0 {
		t.Fatalf("up to two days ago: %d", len(got))
	}
	res := f.e.do("GET", path+"?starttime="+url.QueryEscape(day(today)), f.alice, nil).expect(200).json()
	if st, err := time.Parse(time.RFC1123Z, res["start_time"].(string)); err != nil || !st.Equal(today.Truncate(24*time.Hour)) {
		t.Fatalf("start_time %v: %v", res["start_time"], err)
	}

	agg := f.e.do("GET", "/api/v1/organization/acme/aggregatelogs", f.alice, nil).expect(200).json()["aggregated"].([]any)
	counts := map[string]float64{}
	for _, a := range agg {
		m := a.(map[string]any)
		if _, err := time.Parse(time.RFC1123Z, m["datetime"].(string)); err != nil {
			t.Fatalf("aggregate datetime %v", m)
		}
		counts[m["kind"].(string)] += m["count"].(float64)
	}
	if counts[core.LogLoginSuccess] != 30 || counts[core.LogLoginFailure] != 15 || counts[core.LogOrgCreate] != 1 {
		t.Fatalf("aggregate %v", counts)
	}
	agg = f.e.do("GET", "/api/v1/organization/acme/aggregatelogs/?performer=bob", f.alice, nil).expect(200).json()["aggregated"].([]any)
	if len(agg) != 1 || agg[0].(map[string]any)["count"] != 30.0 {
		t.Fatalf("aggregate for bob %v", agg)
	}

	for _, q := range []string{"starttime=02/01/2024&endtime=01/01/2024",
		"next_page=***", "next_page=" + base64.RawURLEncoding.EncodeToString([]byte("x.y"))} {
		f.e.do("GET", path+"?"+q, f.alice, nil).expect(400)
	}
	// As Quay does, dates that do not parse fall back to their defaults,
	// and a kind the log never writes matches nothing.
	total := len(f.e.do("GET", path, f.alice, nil).expect(200).json()["logs"].([]any))
	for _, q := range []string{"starttime=13/45/2020", "endtime=yesterday", "starttime=2024-01-01&endtime=soon"} {
		if n := len(f.e.do("GET", path+"?"+q, f.alice, nil).expect(200).json()["logs"].([]any)); n != total {
			t.Errorf("%s: %d entries, want the default window's %d", q, n, total)
		}
	}
	if logs := f.e.do("GET", path+"?kind=no_such_kind", f.alice, nil).expect(200).json()["logs"].([]any); len(logs) != 0 {
		t.Errorf("kind=no_such_kind: %d entries", len(logs))
	}
}

func TestLogsExportValidation(t *testing.T) {
	f := newLogsFixture(t)
	for _, body := range []any{
		map[string]any{},
		map[string]any{"callback_url": "ftp://example.com/x"},
		map[string]any{"callback_url": "not a url"},
		map[string]any{"callback_email": "not an address"},
		"just a string",
	} {
		f.e.do("POST", "/api/v1/organization/acme/exportlogs", f.alice, body).expect(400)
	}
}

func TestParseLogQuery(t *testing.T) {
	now := time.Date(2024, 3, 10, 15, 4, 5, 0, time.UTC)
	cases := []struct {
		query      string
		start, end time.Time
		kinds      int
		ok         bool
	}{
		{"", now.Add(-7 * 24 * time.Hour), now, 0, true},
		{"starttime=03/01/2024", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), now, 0, true},
		{"starttime=03/01/2024&endtime=03/02/2024", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 3, 0, 0, 0, 0, time.UTC), 0, true},
		{"kind=push_repo&kind=pull_repo,delete_tag", now.Add(-7 * 24 * time.Hour), now, 3, true},
		{"kind=,", now.Add(-7 * 24 * time.Hour), now, 0, true},
		{"starttime=2024-03-01", now.Add(-7 * 24 * time.Hour), now, 0, true},
		{"starttime=03/01/1900", now.Add(-7 * 24 * time.Hour), now, 0, true},
		{"endtime=02/30/2024", now.Add(-7 * 24 * time.Hour), now, 0, true},
		{"starttime=03/01/2024&endtime=never", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), now, 0, true},
		{"starttime=03/05/2024&endtime=03/01/2024", time.Time{}, time.Time{}, 0, false},
		{"starttime=03/11/2024", time.Time{}, time.Time{}, 0, false},
		{"kind=PUSH_REPO", now.Add(-7 * 24 * time.Hour), now, 1, true},
		{"kind=PUSH_REPO,push_repo,push_repo&kind=nope", now.Add(-7 * 24 * time.Hour), now, 1, true},
		{"performer=" + strings.Repeat("x", 300), time.Time{}, time.Time{}, 0, false},
	}
	for _, c := range cases {
		v, _ := url.ParseQuery(c.query)
		q, err := parseLogQuery(v, now)
		if (err == nil) != c.ok {
			t.Fatalf("%q: err %v, want ok %v", c.query, err, c.ok)
		}
		if !c.ok {
			if !core.IsCode(err, core.CodeInvalid) {
				t.Fatalf("%q: error %v is not invalid_request", c.query, err)
			}
			continue
		}
		if !q.start.Equal(c.start) || !q.end.Equal(c.end) || len(q.kinds) != c.kinds {
			t.Fatalf("%q: %v..%v %v", c.query, q.start, q.end, q.kinds)
		}
	}
}

func TestLogCursorRoundTrip(t *testing.T) {
	for _, c := range []store.AuditCursor{{Time: 0, ID: 1}, {Time: 1710000000000, ID: 987654321}} {
		got, err := parseLogCursor(formatLogCursor(c))
		if err != nil || got != c {
			t.Fatalf("%v: %v %v", c, got, err)
		}
	}
	for _, bad := range []string{"", ".", "1.", ".1", "1.0", "-1.5", "a.b", "1.2.3", "99999999999999999999.1"} {
		if _, err := parseLogCursor(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}

func FuzzParseLogQuery(f *testing.F) {
	for _, s := range []string{"starttime=03/01/2024&endtime=03/02/2024", "kind=push_repo,pull_repo", "next_page=MTcxMDAwMDAwMDAwMC4x", "performer=bob"} {
		f.Add(s)
	}
	now := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseLogQuery(v, now)
		if err != nil {
			if !core.IsCode(err, core.CodeInvalid) {
				t.Fatalf("%q: error %v is not invalid_request", raw, err)
			}
			return
		}
		if q.start.After(q.end) {
			t.Fatalf("%q: start after end", raw)
		}
		if len(q.kinds) > len(core.AuditKinds())+1 {
			t.Fatalf("%q: %d kinds", raw, len(q.kinds))
		}
		if q.after != nil && (q.after.ID <= 0 || q.after.Time < 0) {
			t.Fatalf("%q: cursor %v", raw, q.after)
		}
	})
}

// Signing in and out through the API is logged in the user's namespace;
// a failed sign-in names the account, not a performer.
func TestLogsSignInOut(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bad, err := http.Post(e.srv.URL+"/api/v1/signin", "application/json", strings.NewReader(`{"username":"alice","password":"wrong"}`))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != 403 {
		t.Fatalf("failed sign-in: %d", bad.StatusCode)
	}
	res := e.do("POST", "/api/v1/signin", "", map[string]any{"username": "alice", "password": "password-alice"}).expect(200)
	csrf, _ := res.json()["csrf_token"].(string)
	var cookie string
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == sessionCookie {
			cookie = c.Value
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/signout", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("signout: %d", resp.StatusCode)
	}
	logs, _ := (&logsFixture{e: e}).logs("/api/v1/user/logs", alice, "kind=login_success,login_failure,logout_success")
	var kinds []string
	for _, l := range logs {
		kinds = append(kinds, l["kind"].(string))
	}
	if strings.Join(kinds, ",") != "logout_success,login_success,login_failure" {
		t.Fatalf("kinds %q", kinds)
	}
	if logs[0]["performer"].(map[string]any)["auth"] != "session" || logs[1]["performer"].(map[string]any)["auth"] != "password" ||
		logs[2]["performer"] != nil || logs[2]["metadata"].(map[string]any)["username"] != "alice" || logs[2]["ip"] != "127.0.0.1" {
		t.Fatalf("entries %v", logs)
	}
}
