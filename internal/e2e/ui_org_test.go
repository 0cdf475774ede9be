package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Script payloads in descriptions, which must render as text.
const (
	teamXSS  = `<script>window.__xss = 'team'</script>`
	robotXSS = `<img src=x onerror="window.__xss = 'robot'">`
)

// checkInert fails if a payload became markup or ran.
func checkInert(b *browser) {
	b.t.Helper()
	if ran := eval[string](b, `String(window.__xss || '')`); ran != "" {
		b.fail("the %s payload ran", ran)
	}
	if n := b.count(`main img[src="x"], main script`); n != 0 {
		b.fail("%d payload elements in the page", n)
	}
}

// dockerLoginRe parses the docker login line the robot page shows.
var dockerLoginRe = regexp.MustCompile(`^docker login -u='([^']+)' -p='([^']+)' (\S+)$`)

// selectOption sets the <select> matched by the CSS selector to value, as
// a user choosing an option does (the change event fires).
func selectOption(b *browser, selector, value string) {
	b.t.Helper()
	b.waitVisible(selector)
	sel, _ := json.Marshal(selector)
	val, _ := json.Marshal(value)
	ok := eval[bool](b, `(() => {
  const el = document.querySelector(`+string(sel)+`);
  if (!el || ![...el.options].some((o) => o.value === `+string(val)+`)) return false;
  el.value = `+string(val)+`;
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
})()`)
	if !ok {
		b.fail("select %s has no option %q", selector, value)
	}
}

// waitJS waits until a JavaScript expression is true.
func waitJS(b *browser, expr, what string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.PollFunction[bool]("() => "+expr, chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		b.fail("waiting for %s: %v", what, err)
	}
}

// signInForm fills and submits the sign-in form in one step, once it is
// on the page.
func signInForm(b *browser, user, password string) {
	b.t.Helper()
	u, _ := json.Marshal(user)
	p, _ := json.Marshal(password)
	ctx, cancel := b.step()
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](`() => {
  const u = document.querySelector('[data-test=signin-username]');
  const p = document.querySelector('[data-test=signin-password]');
  if (!u || !p || !u.form) return false;
  u.value = `+string(u)+`;
  p.value = `+string(p)+`;
  u.form.requestSubmit();
  return true;
}`, chromedp.WithPollingTimeout(stepTimeout)))
	if err != nil {
		b.fail("signing in: %v", err)
	}
}

// closeDialog closes the open dialog with its Close button.
func closeDialog(b *browser) {
	b.t.Helper()
	b.click("dialog [data-action=Close]")
	b.waitGone("dialog")
}

// TestUIOrg walks the administration journey in the web
// UI: create an organization, a team and a robot; copy the robot's docker
// login line from the page; give the robot read, so a podman push is
// refused; grant write in the UI, so the push is accepted; create an
// auto-prune policy; read the usage log; open the repository settings and
// the superuser panel. Every page is saved as a screenshot.
func TestUIOrg(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t)
	const adminPass = "admin-password-ui-4821"
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": adminPass, "email": "admin@example.com", "access_token": true}, 200)
	if init["access_token"] == nil {
		t.Fatalf("initialize: %v", init)
	}

	// Sign in.
	b.visit(srv.URL + "/signin")
	signInForm(b, "admin", adminPass)
	b.waitText("[data-test=username]", "admin")

	// Create the organization.
	b.visit(srv.URL + "/organization")
	b.fillLabel("Organization name", "acme")
	b.clickText("button", "Create organization")
	b.waitText("[data-test=org-name]", "acme")
	b.screenshot("organization")

	// The administrator pushes acme/app:1, so the organization has a
	// repository to grant roles on.
	ref, err := name.ParseReference(srv.Host+"/acme/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPass}), remote.WithContext(t.Context())); err != nil {
		t.Fatalf("admin push: %v", err)
	}

	// A team.
	b.visit(srv.URL + "/organization/acme?tab=teams")
	b.fillLabel("Team name", "deployers")
	b.fillLabel("Team description", teamXSS)
	b.clickText("button", "Create team")
	b.waitText("[data-test=teams-table]", "deployers")
	b.waitText("[data-test=teams-table]", teamXSS)
	checkInert(b)
	b.screenshot("teams")

	// A robot; its credentials dialog opens at once.
	b.visit(srv.URL + "/organization/acme?tab=robots")
	b.fillLabel("Robot name", "ci")
	b.fillLabel("Description", robotXSS)
	b.clickText("button", "Create robot")
	b.waitVisible("[data-test=robot-credentials]")
	line := strings.TrimSpace(b.text("[data-test=robot-docker-login]"))
	b.click(`button[aria-label="Copy docker login"]`)
	b.waitText("dialog", "Copied")
	if got := strings.TrimSpace(b.clipboard()); got != line {
		t.Fatalf("the clipboard holds %q, want the login line %q", got, line)
	}
	m := dockerLoginRe.FindStringSubmatch(line)
	if m == nil || m[1] != "acme+ci" || len(m[2]) != 64 || m[3] != srv.Host {
		t.Fatalf("docker login line %q", line)
	}
	robotUser, robotToken := m[1], m[2]
	secret := b.text("[data-test=robot-k8s-secret]")
	checkPullSecret(t, secret, srv.Host, robotUser, robotToken)
	b.screenshot("robot-credentials")
	closeDialog(b)
	b.waitText("[data-test=robots-table]", "acme+ci")
	// Descriptions are text, never markup.
	b.waitText("[data-test=robots-table]", robotXSS)
	checkInert(b)

	// Read on acme/app.
	b.clickText("button", "Permissions of acme+ci")
	b.clickText("dialog button", "Add permission")
	b.waitText("[data-test=robot-permissions]", "app")
	b.screenshot("robot-read")
	closeDialog(b)

	// podman logs in with the copied credentials and pulls; its push is
	// refused.
	c := newClientRun(t, srv, robotUser, robotToken)
	c.login(t, "podman", append(c.podmanFlags(), "login", "--tls-verify=false", "-u", robotUser, "--password-stdin", srv.Host)...)
	c.podman(t, "pull", "--tls-verify=false", srv.Host+"/acme/app:1")
	c.podman(t, "tag", srv.Host+"/acme/app:1", srv.Host+"/acme/app:robot")
	out, err := c.execTool(t, clientCmdOpt{}, "podman", append(c.podmanFlags(), "push", "--tls-verify=false", srv.Host+"/acme/app:robot")...)
	if err == nil {
		t.Fatalf("a robot with read pushed: %s", out)
	}
	if low := strings.ToLower(err.Error()); !strings.Contains(low, "denied") && !strings.Contains(low, "unauthorized") {
		t.Fatalf("push refused without saying why: %v", err)
	}

	// Grant write in the UI; the push is accepted.
	b.clickText("button", "Permissions of acme+ci")
	selectOption(b, `dialog select[aria-label="Role of acme+ci on app"]`, "write")
	b.waitText(".toast", "now has write on app")
	closeDialog(b)
	c.podman(t, "push", "--tls-verify=false", srv.Host+"/acme/app:robot")
	b.visit(srv.URL + "/organization/acme?tab=robots")
	b.waitText("[data-test=robots-table]", "app")
	b.screenshot("robots")

	// Keyless federation: one issuer/subject row, saved and read back.
	b.clickText("button", "Federation of acme+ci")
	b.fillLabel("Issuer URL 1", "https://token.actions.githubusercontent.com")
	b.fillLabel("Subject 1", "repo:acme/app:ref:refs/heads/main")
	b.clickText("dialog button", "Save federation")
	b.waitGone("dialog")
	fed := apiJSONList(t, srv, initToken(t, init), "/api/v1/organization/acme/robots/ci/federation")
	if len(fed) != 1 || fed[0]["issuer"] != "https://token.actions.githubusercontent.com" || fed[0]["subject"] != "repo:acme/app:ref:refs/heads/main" {
		t.Fatalf("federation after saving: %v", fed)
	}
	b.clickText("button", "Federation of acme+ci")
	b.waitVisible("dialog [name=subject]")
	if v := eval[string](b, `document.querySelector('dialog [name=subject]').value`); v != "repo:acme/app:ref:refs/heads/main" {
		b.fail("the federation dialog shows subject %q", v)
	}
	b.screenshot("robot-federation")
	closeDialog(b)

	// The robot joins the team.
	b.visit(srv.URL + "/organization/acme?tab=teams")
	b.clickText("button", "Manage team deployers")
	b.fillLabel("User or robot to add", "acme+ci")
	b.clickText("dialog button", "Add member")
	b.waitText("[data-test=team-members]", "acme+ci")
	b.screenshot("team-members")
	closeDialog(b)
	b.waitText("[data-test=teams-table]", "deployers")

	// A default permission: new repositories give the team read.
	b.visit(srv.URL + "/organization/acme?tab=defaults")
	selectOption(b, b.labelled("Team"), "deployers")
	b.clickText("button", "Add default permission")
	b.waitText("[data-test=prototypes-table]", "deployers (team)")
	b.screenshot("default-permissions")

	// A quota (the administrator is a superuser) and the usage bar.
	b.visit(srv.URL + "/organization/acme?tab=quota")
	b.fillLabel("Quota", "10 GiB")
	b.clickText("button", "Save quota")
	b.waitText("[data-test=usage-text]", "of 10 GiB used")
	b.waitVisible("meter.usage-meter")
	b.screenshot("quota")

	// An auto-prune policy.
	b.visit(srv.URL + "/organization/acme?tab=policies")
	b.fillLabel("Value", "5")
	b.clickText("button", "Create policy")
	b.waitText("[data-test=prune-table]", "Keep the newest 5 tags")
	b.screenshot("policies")

	// The usage log: the chart and the entries of what happened above.
	b.visit(srv.URL + "/organization/acme?tab=logs")
	b.waitVisible("[data-test=log-chart]")
	b.waitText("[data-test=logs-table]", "create_robot")
	b.waitText("[data-test=logs-table]", "push_repo")
	if n := b.count("[data-test=log-chart] rect.bar[data-count]:not([data-count='0'])"); n == 0 {
		b.fail("the chart has no bar for today")
	}
	b.screenshot("usage-logs")
	selectOption(b, b.labelled("Action"), "create_robot")
	b.clickText("button", "Filter")
	waitJS(b, `(() => {
  const kinds = [...document.querySelectorAll('[data-test=logs-table] [data-test=log-kind]')].map((e) => e.textContent);
  return kinds.length > 0 && kinds.every((k) => k === 'create_robot');
})()`, "the log filtered to create_robot")

	// Repository settings: the permissions, and a webhook notification for
	// vulnerabilities of High or worse, whose test delivery arrives.
	b.visit(srv.URL + "/repository/acme/app/settings")
	b.waitText("[data-test=repo-permissions]", "acme+ci")
	b.screenshot("repository-settings")
	hooks := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hooks <- string(body)
	}))
	t.Cleanup(hook.Close)
	b.visit(srv.URL + "/repository/acme/app/settings?tab=notifications")
	b.fillLabel("Title", "security hook")
	selectOption(b, b.labelled("When this happens"), "vulnerability_found")
	selectOption(b, b.labelled("Minimum severity"), "2")
	b.fillLabel("URL", hook.URL+"/hook")
	b.clickText("button", "Create notification")
	b.waitText("[data-test=notifications-table]", "Vulnerability found (High or worse)")
	b.clickText("button", "Test notification security hook")
	select {
	case body := <-hooks:
		if !strings.Contains(body, "acme/app") {
			t.Fatalf("test notification payload: %s", body)
		}
	case <-time.After(stepTimeout):
		b.fail("the test notification never arrived")
	}
	b.screenshot("repository-notifications")

	// Mirroring: the repository switches to the MIRROR state and gets a
	// (disabled) mirror configuration, whose status shows.
	b.visit(srv.URL + "/repository/acme/app/settings?tab=state")
	selectOption(b, b.labelled("Repository state"), "MIRROR")
	b.clickText("button", "Change state")
	b.waitText("[data-test=repo-state]", "MIRROR")
	b.visit(srv.URL + "/repository/acme/app/settings?tab=mirroring")
	b.fillLabel("Source repository", "127.0.0.1:9/upstream/app")
	b.fillLabel("Tags to mirror (comma-separated globs)", "latest, v*")
	b.fillLabel("Robot that pushes", "acme+ci")
	b.click(b.labelled("Enabled"))
	b.clickText("button", "Save mirroring")
	b.waitText("[data-test=mirror-status]", "Enabled")
	if got := b.text("[data-test=mirror-status]"); !strings.Contains(got, "EnabledNo") {
		b.fail("mirror status: %q", got)
	}
	b.screenshot("repository-mirroring")

	// The superuser panel and the account page.
	b.visit(srv.URL + "/superuser?tab=storage")
	b.waitText("[data-test=su-storage]", "Repositories")
	b.screenshot("superuser-storage")
	b.visit(srv.URL + "/superuser?tab=users")
	b.waitText("[data-test=su-users]", "admin")
	b.fillLabel("Username", "bob")
	b.clickText("button", "Create user")
	b.waitVisible("[data-test=new-user-password]")
	bobPass := strings.TrimSpace(b.text("[data-test=new-user-password]"))
	closeDialog(b)
	if code := v2AuthStatus(t, srv, "bob", bobPass); code != http.StatusOK {
		t.Fatalf("the generated password of bob: HTTP %d", code)
	}
	b.clickText("button", "Disable bob")
	b.waitText("[data-test=su-users]", "Disabled")
	// (Sign-in checks at once; the registry may honour a password it
	// verified a moment ago for a few seconds more.)
	if code := signinStatus(t, srv, "bob", bobPass); code == http.StatusOK {
		t.Fatalf("a disabled user signs in: HTTP %d", code)
	}
	b.screenshot("superuser-users")
	b.visit(srv.URL + "/superuser?tab=state")
	b.waitText("[data-test=registry-state]", "accepting writes")
	b.click("#registry-readonly")
	b.waitText("[data-test=registry-state]", "read-only")
	b.screenshot("superuser-readonly")
	b.click("#registry-readonly")
	b.waitText("[data-test=registry-state]", "accepting writes")
	b.visit(srv.URL + "/superuser?tab=jobs")
	b.waitText("[data-test=su-jobs]", "completed")
	b.screenshot("superuser-jobs")
	b.visit(srv.URL + "/user/admin")
	b.waitText("[data-test=account]", "Superuser")
	b.screenshot("account")
	b.visit(srv.URL + "/user/admin?tab=robots")
	b.fillLabel("Robot name", "mybot")
	b.clickText("button", "Create robot")
	b.waitText("[data-test=robot-docker-login]", "-u='admin+mybot'")
	closeDialog(b)
	b.waitText("[data-test=robots-table]", "admin+mybot")
	b.visit(srv.URL + "/user/admin?tab=tokens")
	b.fillLabel("Token title", "laptop")
	b.clickText("button", "Create token")
	b.waitText("dialog", "docker login -u='$app'")
	closeDialog(b)
	b.waitText("[data-test=app-tokens]", "laptop")
	b.screenshot("account-tokens")

	// Regenerating the robot's token shows the new credentials; the old
	// token stops working.
	b.visit(srv.URL + "/organization/acme?tab=robots")
	b.clickText("button", "Regenerate token of acme+ci")
	b.clickText("dialog button", "Regenerate token")
	b.waitVisible("[data-test=robot-credentials]")
	fresh := strings.TrimSpace(b.text("[data-test=robot-token]"))
	if len(fresh) != 64 || fresh == robotToken {
		b.fail("regenerated token %q (old %q)", fresh, robotToken)
	}
	closeDialog(b)
	if code := v2AuthStatus(t, srv, robotUser, robotToken); code != http.StatusUnauthorized {
		t.Fatalf("the old robot token still authenticates: HTTP %d", code)
	}
	if code := v2AuthStatus(t, srv, robotUser, fresh); code != http.StatusOK {
		t.Fatalf("the new robot token: HTTP %d", code)
	}

	// The organization's tabs follow the keyboard.
	b.visit(srv.URL + "/organization/acme")
	b.waitVisible("#tab-repositories[aria-selected=true]")
	b.click("#tab-repositories")
	b.press(kb.ArrowRight)
	b.waitVisible("#tab-teams[aria-selected=true]")
	if focused := eval[string](b, "document.activeElement.id"); focused != "tab-teams" {
		b.fail("focus is on %q after ArrowRight, want the teams tab", focused)
	}
	b.press(kb.End)
	b.waitVisible("#tab-settings[aria-selected=true]")
	if loc := b.location(); !strings.HasSuffix(loc, "?tab=settings") {
		b.fail("the selected tab is not in the URL: %s", loc)
	}

	if ex := b.exceptions(); len(ex) > 0 {
		t.Fatalf("uncaught JavaScript exceptions: %v", ex)
	}
}

// v2AuthStatus asks the registry token service for a token with basic
// credentials and returns the HTTP status.
func v2AuthStatus(t *testing.T, srv *server, user, password string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v2/auth?service="+srv.Host, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signinStatus tries a password sign-in on the API and returns the status.
func signinStatus(t *testing.T, srv *server, user, password string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/v1/signin", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// initToken is the OAuth token POST /api/v1/user/initialize returned.
func initToken(t *testing.T, init map[string]any) string {
	t.Helper()
	tok, _ := init["access_token"].(string)
	if tok == "" {
		t.Fatalf("initialize returned no access token: %v", init)
	}
	return tok
}

// apiJSONList GETs an API path that answers a JSON array.
func apiJSONList(t *testing.T, srv *server, token, path string) []map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %v", path, resp.StatusCode, err)
	}
	return out
}

// checkPullSecret decodes the Kubernetes pull secret the page shows.
func checkPullSecret(t *testing.T, yaml, host, user, token string) {
	t.Helper()
	if !strings.Contains(yaml, "type: kubernetes.io/dockerconfigjson") || !strings.Contains(yaml, "kind: Secret") {
		t.Fatalf("pull secret:\n%s", yaml)
	}
	var data string
	for _, l := range strings.Split(yaml, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), ".dockerconfigjson: "); ok {
			data = v
		}
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("pull secret data %q: %v", data, err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("pull secret JSON %s: %v", raw, err)
	}
	want := base64.StdEncoding.EncodeToString([]byte(user + ":" + token))
	if cfg.Auths[host].Auth != want {
		t.Fatalf("pull secret auth for %s: %s", host, raw)
	}
}

// The pure helpers of the administration pages: the robot's login line and
// pull secret, and the per-day sums of the usage chart.
func TestUIAdminModules(t *testing.T) {
	b, base := uiModules(t)
	type result struct {
		Login  string   `json:"login"`
		Secret string   `json:"secret"`
		Days   []string `json:"days"`
		Bars   int      `json:"bars"`
		Title  string   `json:"title"`
	}
	r := eval[result](b, `(async () => {
  const robots = await import('`+base+`pages/org-robots.js');
  const logs = await import('`+base+`pages/org-logs.js');
  const now = new Date(Date.UTC(2026, 0, 10, 12));
  const days = logs.perDay([
    { kind: 'push_repo', count: 2, datetime: 'Sat, 10 Jan 2026 00:00:00 -0000' },
    { kind: 'pull_repo', count: 5, datetime: 'Sat, 10 Jan 2026 00:00:00 -0000' },
    { kind: 'create_robot', count: 1, datetime: 'Thu, 08 Jan 2026 00:00:00 -0000' },
    { kind: 'push_repo', count: 9, datetime: 'Mon, 01 Dec 2025 00:00:00 -0000' },
    { kind: 'odd', count: 3, datetime: 'not a date' },
  ], 3, now);
  const svg = logs.chart(days);
  return {
    login: robots.loginCommand('acme+ci', 'TOKEN', 'registry.example:5000'),
    secret: robots.pullSecretYAML('acme+ci', 'TOKEN', 'registry.example:5000'),
    days: days.map((d) => d.day + '=' + d.count + ' ' + JSON.stringify(d.kinds)),
    bars: svg.querySelectorAll('rect.bar').length,
    title: svg.querySelector('title').textContent,
  };
})()`)
	if r.Login != "docker login -u='acme+ci' -p='TOKEN' registry.example:5000" {
		t.Errorf("login line %q", r.Login)
	}
	checkPullSecret(t, r.Secret, "registry.example:5000", "acme+ci", "TOKEN")
	if !strings.Contains(r.Secret, "name: acme-ci-pull-secret") {
		t.Errorf("pull secret name:\n%s", r.Secret)
	}
	want := []string{`2026-01-08=1 {"create_robot":1}`, `2026-01-09=0 {}`, `2026-01-10=7 {"push_repo":2,"pull_repo":5}`}
	if strings.Join(r.Days, "\n") != strings.Join(want, "\n") {
		t.Errorf("per day:\n%s\nwant\n%s", strings.Join(r.Days, "\n"), strings.Join(want, "\n"))
	}
	if r.Bars != 3 || r.Title != "Actions per day over the last 3 days: 8 in total" {
		t.Errorf("chart: %d bars, title %q", r.Bars, r.Title)
	}
}

// A member who is not an administrator sees the organization without the
// administration tabs, robots without their credentials, and no superuser
// panel.
func TestUIOrgMember(t *testing.T) {
	srv := startServer(t)
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": "admin-password-ui-9034", "email": "admin@example.com", "access_token": true}, 200)
	token := initToken(t, init)
	apiJSON(t, srv, token, "POST", "/api/v1/organization/", map[string]any{"name": "acme"}, 201)
	carol := apiJSON(t, srv, token, "POST", "/api/v1/superuser/users/", map[string]any{"username": "carol"}, 200)
	carolPass, _ := carol["password"].(string)
	apiJSON(t, srv, token, "PUT", "/api/v1/organization/acme/team/deployers", map[string]any{"role": "member"}, 200)
	apiJSON(t, srv, token, "PUT", "/api/v1/organization/acme/team/deployers/members/carol", map[string]any{}, 200)
	apiJSON(t, srv, token, "PUT", "/api/v1/organization/acme/robots/ci", map[string]any{}, 201)

	b := newBrowser(t)
	b.visit(srv.URL + "/signin")
	signInForm(b, "carol", carolPass)
	b.waitText("[data-test=username]", "carol")
	b.visit(srv.URL + "/organization/acme?tab=settings")
	b.waitText("[data-test=org-name]", "acme")
	b.waitVisible("#tab-repositories[aria-selected=true]") // no settings tab: the first one
	tabs := eval[[]string](b, `[...document.querySelectorAll('[role=tab]')].map((t) => t.textContent)`)
	if strings.Join(tabs, ",") != "Repositories,Teams and members,Robot accounts,Quota" {
		t.Fatalf("a member's tabs: %v", tabs)
	}
	b.visit(srv.URL + "/organization/acme?tab=teams")
	b.waitText("[data-test=teams-table]", "deployers")
	if n := b.count(`button[aria-label="Manage team deployers"]`); n != 1 {
		b.fail("carol cannot open her own team (%d buttons)", n)
	}
	if n := b.count(`button[aria-label="Manage team owners"], button[aria-label^="Delete team"]`); n != 0 {
		b.fail("a member sees %d administration buttons for teams", n)
	}
	b.visit(srv.URL + "/organization/acme?tab=robots")
	b.waitText("[data-test=robots-table]", "acme+ci")
	if n := b.count(`button[aria-label="Show credentials of acme+ci"]`); n != 0 {
		b.fail("a member can open the robot's credentials")
	}
	b.screenshot("member-robots")
	b.visit(srv.URL + "/superuser")
	b.waitText("main", "Only superusers may open this page.")
	if ex := b.exceptions(); len(ex) > 0 {
		t.Fatalf("uncaught JavaScript exceptions: %v", ex)
	}
}
