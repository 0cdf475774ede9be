package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/pgtest"
)

// drainJobs waits until the queue has nothing left to run.
func drainJobs(t *testing.T, a *App) {
	t.Helper()
	waitFor(t, "the job queue to drain", func() bool {
		st, err := a.jobs.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st["available"]+st["running"]+st["retryable"]+st["scheduled"] == 0
	})
}

// bodiesOf returns the received bodies once n have arrived and the queue
// is idle (so that a further, unwanted delivery would have arrived too).
func bodiesOf(t *testing.T, a *App, recv *hookReceiver, n int) []map[string]any {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d deliveries", n), func() bool { _, b := recv.received(); return len(b) >= n })
	drainJobs(t, a)
	_, b := recv.received()
	if len(b) != n {
		t.Fatalf("%d deliveries, want %d: %v", len(b), n, b)
	}
	return b
}

// vulnIDs returns the vulnerability ids of vulnerability_found bodies,
// sorted.
func vulnIDs(bodies []map[string]any) []string {
	var out []string
	for _, b := range bodies {
		out = append(out, b["vulnerability"].(map[string]any)["id"].(string))
	}
	sort.Strings(out)
	return out
}

// vulnerability_found: a scan with no data raises nothing; an import
// brings vulnerabilities, whose rescan (a job) raises one event per new
// vulnerability at or above the config's level (Quay's index: 2 = High),
// with Quay's payload; a second import raises only what is new; a rescan
// finding nothing new raises nothing.
func TestVulnerabilityFoundEvent(t *testing.T) { testVulnerabilityFoundEvent(t, nil) }

func testVulnerabilityFoundEvent(t *testing.T, mod func(*config.Config)) {
	s := startNotifyServer(t, func(c *config.Config) {
		c.SecurityScanner = true
		if mod != nil {
			mod(c)
		}
	})
	alice := apiToken(t, s.a, "alice")
	recv := &hookReceiver{}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	d := pushImage(t, s.host, "alice/app:v1", tarBytes(t, dirFiles(t, filepath.Join(scannerFixtures, "npm-vulnerable"), "app/")))
	s.call(alice, "POST", "/api/v1/repository/alice/app/notification/", map[string]any{"event": "vulnerability_found", "method": "webhook",
		"config": map[string]any{"url": hook.URL}, "eventConfig": map[string]any{"level": 2}}, 201)
	waitScanned(t, s.host, alice, "alice/app", d)
	drainJobs(t, s.a)
	if n, _ := recv.received(); n != 0 {
		t.Fatalf("%d deliveries before any vulnerability data", n)
	}

	// First import: lodash's High and Medium advisories.
	first := t.TempDir()
	for _, f := range []string{"GHSA-35jh-r3h4-6jhm.json", "GHSA-29mw-wpgm-hmr9.json"} {
		b, err := os.ReadFile(filepath.Join(vulnData, "osv", "npm", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(first, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.a.ImportVulnerabilities(t.Context(), []string{first})
	if err != nil || st.Rescanned != 1 || !st.RescanQueued {
		t.Fatalf("import: %+v %v", st, err)
	}
	bodies := bodiesOf(t, s.a, recv, 1)
	b := bodies[0]
	v := b["vulnerability"].(map[string]any)
	if b["repository"] != "alice/app" || b["namespace"] != "alice" || b["name"] != "app" || b["docker_url"] != s.host+"/alice/app" ||
		b["homepage"] != "http://"+s.host+"/repository/alice/app" || fmt.Sprint(b["tags"]) != "[v1]" {
		t.Fatalf("payload %v", b)
	}
	if v["id"] != "GHSA-35jh-r3h4-6jhm" || v["priority"] != "High" || v["has_fix"] != true ||
		v["link"] != "https://osv.dev/vulnerability/GHSA-35jh-r3h4-6jhm" || v["description"] == "" || len(v) != 5 {
		t.Fatalf("vulnerability %v", v)
	}

	// Second import: every npm record. Only the new ones at High or above
	// are raised, as the report shows them.
	if _, err := s.a.ImportVulnerabilities(t.Context(), []string{filepath.Join(vulnData, "osv", "npm")}); err != nil {
		t.Fatal(err)
	}
	var want []string
	waitFor(t, "the second rescan", func() bool {
		want = want[:0]
		all := 0
		for _, f := range findings(t, getSecurity(t, s.host, alice, "alice/app", d, 200)) {
			all++
			if (f.severity == "High" || f.severity == "Critical") && f.vuln != "GHSA-35jh-r3h4-6jhm" && !slices.Contains(want, f.vuln) {
				want = append(want, f.vuln)
			}
		}
		return all > 2
	})
	sort.Strings(want)
	if len(want) == 0 {
		t.Fatal("the second import brings no High or Critical finding")
	}
	bodies = bodiesOf(t, s.a, recv, 1+len(want))
	if got := vulnIDs(bodies[1:]); !slices.Equal(got, want) {
		t.Fatalf("second import raised %v, want %v", got, want)
	}

	// Nothing new: nothing raised.
	if n, err := s.a.RescanAll(t.Context()); err != nil || n != 1 {
		t.Fatalf("rescan: %d %v", n, err)
	}
	bodiesOf(t, s.a, recv, 1+len(want))
}

// repo_image_expiry: the periodic job announces the tags expiring within
// each config's days, once per tag and config, to that config only, with
// Quay's payload.
func TestImageExpiryEvent(t *testing.T) { testImageExpiryEvent(t, nil) }

func testImageExpiryEvent(t *testing.T, mod func(*config.Config)) {
	s := startNotifyServer(t, mod)
	alice := apiToken(t, s.a, "alice")
	for _, tag := range []string{"v1", "v2", "v3"} {
		s.push("alice/app:" + tag)
	}
	week, fortnight := &hookReceiver{}, &hookReceiver{}
	hw, hf := httptest.NewServer(week), httptest.NewServer(fortnight)
	defer hw.Close()
	defer hf.Close()
	const path = "/api/v1/repository/alice/app/notification/"
	weekUUID := s.call(alice, "POST", path, map[string]any{"event": "repo_image_expiry", "method": "webhook",
		"config": map[string]any{"url": hw.URL}, "eventConfig": map[string]any{"days": 7}}, 201)["uuid"].(string)
	fortnightUUID := s.call(alice, "POST", path, map[string]any{"event": "repo_image_expiry", "method": "webhook",
		"config": map[string]any{"url": hf.URL}, "eventConfig": map[string]any{"days": 14}}, 201)["uuid"].(string)
	day := 24 * time.Hour
	expire := func(tag string, in time.Duration) {
		s.call(alice, "PUT", "/api/v1/repository/alice/app/tag/"+tag, map[string]any{"expiration": time.Now().Add(in).Unix()}, 201)
	}
	run := func() {
		t.Helper()
		if err := s.a.notifyExpiringTags(t.Context(), jobs.Job{}); err != nil {
			t.Fatal(err)
		}
	}
	expire("v1", 2*day)
	expire("v2", 10*day)
	run()
	wb := bodiesOf(t, s.a, week, 1)[0]
	fb := bodiesOf(t, s.a, fortnight, 1)[0]
	if wb["notification_uuid"] != weekUUID || fmt.Sprint(wb["tags"]) != "[v1]" || wb["expiring_in"] != "7 days" ||
		wb["repository"] != "alice/app" || wb["docker_url"] != s.host+"/alice/app" || wb["homepage"] != "http://"+s.host+"/repository/alice/app" {
		t.Fatalf("7-day payload %v", wb)
	}
	if fb["notification_uuid"] != fortnightUUID || fmt.Sprint(fb["tags"]) != "[v1 v2]" || fb["expiring_in"] != "14 days" {
		t.Fatalf("14-day payload %v", fb)
	}
	// Again: nothing new to announce.
	run()
	bodiesOf(t, s.a, week, 1)
	bodiesOf(t, s.a, fortnight, 1)
	// v2 moves into the week; v3 gets an expiry beyond both horizons.
	expire("v2", 3*day)
	expire("v3", 30*day)
	run()
	if wb := bodiesOf(t, s.a, week, 2)[1]; fmt.Sprint(wb["tags"]) != "[v2]" {
		t.Fatalf("second 7-day payload %v", wb)
	}
	bodiesOf(t, s.a, fortnight, 1)
}

// quota_warning and quota_error: a push that takes the namespace past a
// Warning threshold raises quota_warning to every config of the namespace's
// repositories, once per crossing; a push refused by the Reject threshold
// raises quota_error once; usage falling back re-arms both.
func TestQuotaEvents(t *testing.T) { testQuotaEvents(t, nil) }

func testQuotaEvents(t *testing.T, mod func(*config.Config)) {
	s := startNotifyServer(t, mod)
	ctx := t.Context()
	alice := apiToken(t, s.a, "alice")
	auth := remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"})
	push := func(ref string) (string, error) {
		img, err := random.Image(8192, 1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(s.host+"/"+ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String(), remote.Write(r, img, auth)
	}
	if _, err := push("alice/app:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := push("alice/other:v1"); err != nil {
		t.Fatal(err)
	}
	used, _, err := s.a.db.NamespaceUsage(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	one := used / 2 // one image
	limit := one * 7 / 2
	q, err := s.a.db.CreateQuota(ctx, "alice", limit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.a.db.CreateQuotaLimit(ctx, "alice", q.ID, core.QuotaWarning, 70); err != nil {
		t.Fatal(err)
	}
	if _, err := s.a.db.CreateQuotaLimit(ctx, "alice", q.ID, core.QuotaReject, 100); err != nil {
		t.Fatal(err)
	}
	warn, quotaErr := &hookReceiver{}, &hookReceiver{}
	hw, he := httptest.NewServer(warn), httptest.NewServer(quotaErr)
	defer hw.Close()
	defer he.Close()
	for _, repo := range []string{"alice/app", "alice/other"} {
		s.call(alice, "POST", "/api/v1/repository/"+repo+"/notification/", map[string]any{"event": "quota_warning", "method": "webhook",
			"config": map[string]any{"url": hw.URL}, "eventConfig": map[string]any{}}, 201)
	}
	s.call(alice, "POST", "/api/v1/repository/alice/app/notification/", map[string]any{"event": "quota_error", "method": "webhook",
		"config": map[string]any{"url": he.URL}, "eventConfig": map[string]any{}}, 201)

	// Three images: 3/3.5 = 86% > 70%: one warning, to both repositories.
	v2, err := push("alice/app:v2")
	if err != nil {
		t.Fatal(err)
	}
	used, _, err = s.a.db.NamespaceUsage(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bodies := bodiesOf(t, s.a, warn, 2)
	for _, b := range bodies {
		if b["namespace"] != "alice" || b["homepage"] != "http://"+s.host+"/organization/alice" || b["repository"] != nil ||
			b["threshold_percent"] != 70.0 || b["usage_bytes"] != float64(used) || b["limit_bytes"] != float64(limit) ||
			b["usage_percent"] != float64(used*100/limit) || b["usage_bytes_formatted"] == "" || b["limit_bytes_formatted"] == "" {
			t.Fatalf("quota_warning payload %v (usage %d, limit %d)", b, used, limit)
		}
	}
	// Four images do not fit: refused, one quota_error; refused again,
	// no second one; no second warning either.
	for range 2 {
		_, err := push("alice/app:v3")
		wantRegistryError(t, err, 403, "DENIED", "Quota has been exceeded on namespace alice")
	}
	eb := bodiesOf(t, s.a, quotaErr, 1)[0]
	attempted := int64(eb["usage_bytes"].(float64))
	if eb["namespace"] != "alice" || eb["threshold_percent"] != 100.0 || eb["limit_bytes"] != float64(limit) || attempted <= limit ||
		eb["usage_percent"] != float64(attempted*100/limit) {
		t.Fatalf("quota_error payload %v", eb)
	}
	bodiesOf(t, s.a, warn, 2)

	// Deleting v2 takes usage under 70%: the next crossing warns again.
	ref, err := name.ParseReference(s.host+"/alice/app@"+v2, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref, auth); err != nil {
		t.Fatal(err)
	}
	if _, err := push("alice/app:v4"); err != nil {
		t.Fatal(err)
	}
	bodiesOf(t, s.a, warn, 4)
	bodiesOf(t, s.a, quotaErr, 1)
}

// The events on PostgreSQL: each is emitted inside the transaction of the
// change through River's pgx driver.
func TestEventsPostgres(t *testing.T) {
	srv := pgtest.ForTest(t, pgtest.Options{})
	for name, fn := range map[string]func(*testing.T, func(*config.Config)){
		"vulnerability_found": testVulnerabilityFoundEvent, "repo_image_expiry": testImageExpiryEvent, "quota": testQuotaEvents,
	} {
		t.Run(name, func(t *testing.T) {
			dsn, err := srv.CreateDatabase(t.Context(), strings.ReplaceAll(name, "_", ""))
			if err != nil {
				t.Fatal(err)
			}
			fn(t, func(c *config.Config) { c.DBURI = dsn })
		})
	}
}

// The rescan after an import is a job committed with the data: an import
// made while no worker runs (as `wharf admin vulndb import` in its own
// process) is rescanned once workers start.
func TestRescanAfterImportIsDurable(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), func(c *config.Config) { c.SecurityScanner = true })
	ctx := t.Context()
	img := pushImageAs(t, s, "acme/app:v1", tarBytes(t, dirFiles(t, filepath.Join(scannerFixtures, "npm-vulnerable"), "app/")))
	alice := s.api["alice"]
	runner, err := s.app.jobs.Start(ctx, s.app.workers())
	if err != nil {
		t.Fatal(err)
	}
	waitScanned(t, s.host, alice, "acme/app", img)
	if err := runner.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.app.ImportVulnerabilities(ctx, []string{filepath.Join(vulnData, "osv", "npm")})
	if err != nil || !st.RescanQueued || st.Rescanned != 1 {
		t.Fatalf("import %+v %v", st, err)
	}
	if got := findings(t, getSecurity(t, s.host, alice, "acme/app", img, 200)); len(got) != 0 {
		t.Fatalf("findings before any worker ran: %v", got)
	}
	runner, err = s.app.jobs.Start(ctx, s.app.workers())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = runner.Stop(context.WithoutCancel(ctx)) }()
	waitFor(t, "the rescan", func() bool { return len(findings(t, getSecurity(t, s.host, alice, "acme/app", img, 200))) > 0 })
}

// pushImageAs pushes an image of the given uncompressed layers to a
// lifecycle server (as alice) and returns its manifest digest.
func pushImageAs(t *testing.T, s *lifecycleServer, ref string, layers ...[]byte) string {
	t.Helper()
	img, d := layeredImage(t, layers...)
	if err := s.push(ref, img); err != nil {
		t.Fatal(err)
	}
	return d
}
