package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// configLabelPayloads are image config labels (config.Labels) carrying
// script payloads; the labels view must show them as text.
var configLabelPayloads = map[string]string{
	"maintainer":                     `<script>window.__xss = 'config-1'</script>`,
	"org.opencontainers.image.url":   `<img src=x onerror="window.__xss = 'config-2'">`,
	`<svg onload="window.__xss=3">`:  "key payload",
	"com.example.description":        `"><b onmouseover="window.__xss = 'config-4'">bold</b>`,
	"org.opencontainers.image.title": "from the config",
}

// pushConfigImage pushes a random image whose config has labels and
// returns its digest.
func pushConfigImage(t *testing.T, srv *server, user, password, repo string, labels map[string]string) string {
	t.Helper()
	ref, err := name.ParseReference(srv.Host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: password}), remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", repo, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// setInput sets an <input>'s value as a user does (input and change
// events fire); for controls such as datetime-local that typing cannot
// fill portably.
func setInput(b *browser, selector, value string) {
	b.t.Helper()
	b.waitVisible(selector)
	sel, _ := json.Marshal(selector)
	val, _ := json.Marshal(value)
	eval[bool](b, `(() => {
  const el = document.querySelector(`+string(sel)+`);
  el.value = `+string(val)+`;
  el.dispatchEvent(new Event('input', { bubbles: true }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
})()`)
}

// The repository page: an anonymous visit does not ask for the user (no
// 401 from GET /api/v1/user/); the labels view lists the image config's
// labels, payloads as text; a tag's expiry is set and cleared in the edit
// dialog.
func TestUIConfigLabelsAndTagExpiry(t *testing.T) {
	srv := startServer(t)
	const pass = "admin-password-ui-7731"
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": pass, "email": "admin@example.com", "access_token": true}, 200)
	token := initToken(t, init)
	d := pushConfigImage(t, srv, "admin", pass, "admin/app:v1", configLabelPayloads)

	b := newBrowser(t)
	// Anonymous: the page loads without asking GET /user/.
	b.visit(srv.URL + "/repository")
	b.waitText("h1", "Repositories")
	b.waitText(".user-menu a", "Sign in")
	asked := eval[[]string](b, `performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.startsWith('/api/'))`)
	for _, p := range asked {
		if strings.HasPrefix(p, "/api/v1/user") {
			t.Errorf("an anonymous page load asked %s (all API requests: %v)", p, asked)
		}
	}
	for _, m := range b.consoleErrors() {
		if strings.Contains(m, "401") {
			t.Errorf("an anonymous page load logged %s", m)
		}
	}

	b.visit(srv.URL + "/signin?next=/repository/admin/app")
	signInForm(b, "admin", pass)
	b.waitText("h1", "admin/app")
	row := `.tags-table tr[data-tag="v1"]`
	b.waitText(row+" [data-test=tag-digest]", d[:19])

	// Config labels, payloads inert.
	b.clickText(row+" button", "Details of v1")
	b.waitText("dialog .labels-table", "org.opencontainers.image.title")
	b.waitText("dialog .labels-table", "from the config")
	for k, v := range configLabelPayloads {
		b.waitText("dialog .labels-table", k)
		b.waitText("dialog .labels-table", v)
	}
	noXSS(t, b, "config labels")
	b.screenshot("config-labels")
	closeDialog(b)

	// Set an expiry a year ahead (local time in the field), then clear it.
	when := time.Now().AddDate(1, 0, 0)
	local := fmt.Sprintf("%04d-%02d-%02dT10:30", when.Year(), when.Month(), when.Day())
	b.clickText(row+" button", "Edit v1")
	setInput(b, "[data-test=tagedit-expiration]", local)
	b.screenshot("tag-expiry-edit")
	b.clickText("dialog button", "Save")
	b.waitGone("dialog")
	want := eval[string](b, `new Date(`+jsString(local)+`).toISOString()`)
	waitJS(b, `(() => { const t = document.querySelector('`+row+` td[data-label="Expires"] time'); return !!t && t.getAttribute('datetime') === `+jsString(want)+`; })()`,
		"the expiry in the tag list")
	wantUnix := eval[int64](b, `Math.floor(new Date(`+jsString(local)+`).getTime() / 1000)`)
	tag := currentTag(t, srv, token, "admin/app", "v1")
	if end, _ := tag["end_ts"].(float64); int64(end) != wantUnix {
		t.Fatalf("after setting the expiry the tag is %v, want end_ts %d", tag, wantUnix)
	}
	b.screenshot("tag-expiry-set")
	b.clickText(row+" button", "Edit v1")
	setInput(b, "[data-test=tagedit-expiration]", "")
	b.clickText("dialog button", "Save")
	b.waitGone("dialog")
	b.waitText(row+` td[data-label="Expires"]`, "Never")
	if tag := currentTag(t, srv, token, "admin/app", "v1"); tag["end_ts"] != nil {
		t.Fatalf("after clearing the expiry the tag is %v", tag)
	}
	if ex := b.exceptions(); len(ex) != 0 {
		t.Errorf("uncaught exceptions: %v", ex)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// currentTag reads the current row of a tag.
func currentTag(t *testing.T, srv *server, token, repo, tag string) map[string]any {
	t.Helper()
	v := apiJSON(t, srv, token, "GET", "/api/v1/repository/"+repo+"/tag/?onlyActiveTags=true&specificTag="+tag, nil, 200)
	list, _ := v["tags"].([]any)
	if len(list) != 1 {
		t.Fatalf("tag %s of %s: %v", tag, repo, v)
	}
	return list[0].(map[string]any)
}

// The administration additions: the time-machine choices come from the
// server's TAG_EXPIRATION_OPTIONS; the organization's log is exported to a
// callback URL; a user's quota is set in the superuser panel and shown on
// the user's page; a mirror's architecture filter and proxy are saved.
func TestUIAdminExtras(t *testing.T) {
	srv := startServerEnv(t, []string{"WHARF_TAG_EXPIRATION_OPTIONS=0s,3d,2w,5w", "WHARF_DEFAULT_TAG_EXPIRATION=3d"})
	const pass = "admin-password-ui-5120"
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": pass, "email": "admin@example.com", "access_token": true}, 200)
	token := initToken(t, init)
	apiJSON(t, srv, token, "POST", "/api/v1/organization/", map[string]any{"name": "acme"}, 201)
	apiJSON(t, srv, token, "PUT", "/api/v1/organization/acme/robots/mirror", map[string]any{}, 201)
	pushConfigImage(t, srv, "admin", pass, "acme/app:1", map[string]string{"a": "b"})
	apiJSON(t, srv, token, "PUT", "/api/v1/repository/acme/app/permissions/user/acme+mirror", map[string]any{"role": "write"}, 200)
	carol := apiJSON(t, srv, token, "POST", "/api/v1/superuser/users/", map[string]any{"username": "carol"}, 200)
	carolPass, _ := carol["password"].(string)
	pushConfigImage(t, srv, "carol", carolPass, "carol/tool:1", map[string]string{"c": "d"})

	b := newBrowser(t)
	b.visit(srv.URL + "/signin")
	signInForm(b, "admin", pass)
	b.waitText("[data-test=username]", "admin")

	// The time machine offers the configured windows.
	b.visit(srv.URL + "/organization/acme?tab=settings")
	tm := b.labelled("Time machine (how long deleted tags stay restorable)")
	opts := eval[[]string](b, `[...document.querySelector('`+tm+`').options].map((o) => o.value + '=' + o.textContent)`)
	if got := strings.Join(opts, ","); got != "0=None,259200=3 days,1209600=2 weeks,3024000=5 weeks" {
		b.fail("time machine options %s", got)
	}
	if v := eval[string](b, `document.querySelector('`+tm+`').value`); v != "259200" {
		b.fail("the organization's window shows as %q, want the default 259200", v)
	}
	selectOption(b, tm, "3024000")
	b.clickText("button", "Save settings")
	b.waitText(".toast", "Settings saved")
	if org := apiJSON(t, srv, token, "GET", "/api/v1/organization/acme", nil, 200); org["tag_expiration_s"] != float64(3024000) {
		t.Fatalf("after saving: tag_expiration_s %v", org["tag_expiration_s"])
	}
	b.screenshot("time-machine")

	// Export the organization's log to a callback.
	got := make(chan string, 2)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- string(body)
	}))
	t.Cleanup(hook.Close)
	b.visit(srv.URL + "/organization/acme?tab=logs")
	b.fillLabel("Callback URL", hook.URL+"/logs")
	b.clickText("button", "Export logs")
	b.waitText("[data-test=export-status]", "started")
	b.screenshot("logs-export")
	select {
	case body := <-got:
		if !strings.Contains(body, "create_robot") {
			t.Fatalf("the export holds no create_robot entry: %.500s", body)
		}
	case <-time.After(30 * time.Second):
		b.fail("the log export never reached the callback")
	}

	// A user's quota, set by the superuser.
	b.visit(srv.URL + "/superuser?tab=users")
	b.clickText("button", "Quota of carol")
	b.waitVisible("dialog [data-test=su-user-quota]")
	b.waitText("dialog", "no quota configured")
	b.fillLabel("Quota of carol", "3 GiB")
	b.screenshot("superuser-user-quota")
	b.clickText("dialog button", "Save quota")
	b.waitGone("dialog")
	b.clickText("button", "Quota of carol")
	b.waitText("dialog [data-test=usage-text]", "of 3.0 GiB used")
	closeDialog(b)
	qs := apiJSONList(t, srv, token, "/api/v1/superuser/users/carol/quota")
	if len(qs) != 1 || qs[0]["limit_bytes"] != float64(3<<30) {
		t.Fatalf("carol's quota: %v", qs)
	}

	// Mirroring with an architecture filter and a proxy.
	apiJSON(t, srv, token, "PUT", "/api/v1/repository/acme/app/changestate", map[string]any{"state": "MIRROR"}, 200)
	b.visit(srv.URL + "/repository/acme/app/settings?tab=mirroring")
	b.fillLabel("Source repository", "127.0.0.1:9/upstream/app")
	b.fillLabel("Tags to mirror (comma-separated globs)", "latest")
	b.fillLabel("Robot that pushes", "acme+mirror")
	b.fillLabel("Architectures to mirror (comma-separated; empty: all)", "amd64, arm64")
	b.fillLabel("HTTP proxy", "http://proxy.example:3128")
	b.fillLabel("HTTPS proxy", "http://proxy.example:3129")
	b.fillLabel("No proxy for (comma-separated hosts)", "localhost")
	b.clickText("button", "Save mirroring")
	b.waitText("[data-test=mirror-architectures]", "amd64, arm64")
	b.waitText("[data-test=mirror-proxy]", "HTTP http://proxy.example:3128")
	b.screenshot("mirroring-proxy")
	m := apiJSON(t, srv, token, "GET", "/api/v1/repository/acme/app/mirror", nil, 200)
	proxy, _ := m["external_registry_config"].(map[string]any)["proxy"].(map[string]any)
	if fmt.Sprint(m["architecture_filter"]) != "[amd64 arm64]" || proxy["https_proxy"] != "http://proxy.example:3129" || proxy["no_proxy"] != "localhost" {
		t.Fatalf("mirror config %v", m)
	}

	// carol sees her usage against the quota on her page.
	b.click(`[data-test=signout]`)
	b.waitText("h1", "Sign in to Wharf")
	signInForm(b, "carol", carolPass)
	b.waitText("[data-test=username]", "carol")
	b.visit(srv.URL + "/user/carol")
	b.waitText("[data-test=user-usage] [data-test=usage-text]", "of 3.0 GiB used")
	b.waitVisible("[data-test=user-usage] meter")
	b.screenshot("user-quota")
	if ex := b.exceptions(); len(ex) != 0 {
		t.Errorf("uncaught exceptions: %v", ex)
	}
}

// unlabelledJS lists what a screen reader could not name on the page: form
// controls without a label, buttons and links without a name, tables
// without a caption or aria-label, dialogs without a title.
const unlabelledJS = `(() => {
  const named = (el) => {
    const aria = (el.getAttribute('aria-label') || '').trim();
    if (aria) return aria;
    const by = el.getAttribute('aria-labelledby');
    if (by) return by.split(/\s+/).map((id) => { const n = document.getElementById(id); return n ? n.textContent : ''; }).join(' ').trim();
    return '';
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.name ? '[name=' + el.name + ']' : '') +
    (el.dataset.test ? '[data-test=' + el.dataset.test + ']' : '') + ' near "' + (el.parentElement ? el.parentElement.textContent.trim().slice(0, 40) : '') + '"';
  const bad = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || el.getAttribute('aria-hidden') === 'true') continue;
    const byLabel = el.labels && [...el.labels].some((l) => l.textContent.trim() !== '');
    if (!byLabel && !named(el) && !(el.title || '').trim()) bad.push('unlabelled control ' + describe(el));
  }
  for (const el of document.querySelectorAll('button, a[href], [role=button], [role=tab]')) {
    if (!el.textContent.trim() && !named(el) && !(el.title || '').trim()) bad.push('nameless button or link ' + describe(el));
  }
  for (const el of document.querySelectorAll('table')) {
    if (!(el.caption && el.caption.textContent.trim()) && !named(el)) bad.push('table without caption or aria-label ' + describe(el));
  }
  for (const el of document.querySelectorAll('dialog')) {
    if (!named(el)) bad.push('dialog without a title');
  }
  return bad;
})()`

// checkLabelled fails the test for anything unlabelled on the page.
func checkLabelled(b *browser, where string) {
	b.t.Helper()
	b.waitGone(".loading")
	for _, p := range eval[[]string](b, unlabelledJS) {
		b.t.Errorf("%s: %s", where, p)
	}
}

// Every page and dialog of the UI names its controls, buttons, tables and
// dialogs; a dialog keeps the keyboard focus inside until it closes.
func TestUIAccessibility(t *testing.T) {
	srv := startServer(t)
	const pass = "admin-password-ui-6604"
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": pass, "email": "admin@example.com", "access_token": true}, 200)
	token := initToken(t, init)
	apiJSON(t, srv, token, "POST", "/api/v1/organization/", map[string]any{"name": "acme"}, 201)
	apiJSON(t, srv, token, "PUT", "/api/v1/organization/acme/robots/ci", map[string]any{}, 201)
	apiJSON(t, srv, token, "PUT", "/api/v1/organization/acme/team/deployers", map[string]any{"role": "member"}, 200)
	d := pushConfigImage(t, srv, "admin", pass, "acme/app:v1", map[string]string{"a": "b"})

	b := newBrowser(t)
	b.visit(srv.URL + "/signin")
	b.waitText("h1", "Sign in to Wharf")
	// The check notices an unlabelled field, a nameless button and a table
	// without a name.
	if got := eval[[]string](b, `(() => {
  const probe = document.createElement('div');
  probe.id = 'probe';
  probe.append(document.createElement('input'), document.createElement('button'), document.createElement('table'));
  document.querySelector('main').append(probe);
  const bad = `+unlabelledJS+`;
  probe.remove();
  return bad;
})()`); len(got) != 3 {
		t.Fatalf("the accessibility check found %q in the probe, want 3 problems", got)
	}
	checkLabelled(b, "sign-in")
	b.click(`[data-test=show-signup]`)
	b.waitVisible(`[data-test=signup-submit]`)
	checkLabelled(b, "sign-up")
	b.visit(srv.URL + "/signin")
	signInForm(b, "admin", pass)
	b.waitText("[data-test=username]", "admin")

	pages := []struct {
		path string
		tabs []string
	}{
		{"/repository", nil},
		{"/repository/acme/app", nil},
		{"/repository/acme/app/settings", []string{"permissions", "notifications", "mirroring", "state", "policies", "logs"}},
		{"/organization", nil},
		{"/organization/acme", []string{"repositories", "teams", "robots", "defaults", "quota", "policies", "logs", "settings"}},
		{"/superuser", []string{"users", "organizations", "state", "storage", "jobs", "logs"}},
		{"/user/admin", []string{"account", "tokens", "robots", "policies", "logs"}},
		{"/repository/acme/app/manifest/" + d + "/security", nil},
		{"/no/such/page", nil},
	}
	for _, p := range pages {
		if len(p.tabs) == 0 {
			b.visit(srv.URL + p.path)
			b.waitVisible("main h1")
			checkLabelled(b, p.path)
			continue
		}
		for _, tab := range p.tabs {
			b.visit(srv.URL + p.path + "?tab=" + tab)
			b.waitVisible("#tab-" + tab + "[aria-selected=true]")
			b.waitVisible(".tab-panel .tab-body")
			checkLabelled(b, p.path+"?tab="+tab)
		}
	}

	// Dialogs: a tag's details and edit dialogs, creating a repository.
	b.visit(srv.URL + "/repository/acme/app")
	row := `.tags-table tr[data-tag="v1"]`
	b.clickText(row+" button", "Details of v1")
	b.waitVisible("dialog .labels-table")
	checkLabelled(b, "details dialog")
	closeDialog(b)
	b.clickText(row+" button", "Edit v1")
	b.waitVisible("dialog [data-test=tagedit-expiration]")
	checkLabelled(b, "edit dialog")
	closeDialogWith(b, "Cancel")
	b.visit(srv.URL + "/organization/acme?tab=robots")
	b.clickText("button", "Permissions of acme+ci")
	b.waitVisible("dialog[open]")
	checkLabelled(b, "robot permissions dialog")
	closeDialog(b)
	b.visit(srv.URL + "/organization/acme?tab=teams")
	b.clickText("button", "Manage team deployers")
	b.waitVisible("dialog[open]")
	checkLabelled(b, "team dialog")
	closeDialog(b)
	b.visit(srv.URL + "/superuser?tab=users")
	b.clickText("button", "Quota of admin")
	b.waitVisible("dialog [data-test=su-user-quota]")
	checkLabelled(b, "quota dialog")
	closeDialog(b)
	b.visit(srv.URL + "/repository")
	b.click(`[data-test=create-repository]`)
	b.waitVisible("dialog[open]")
	checkLabelled(b, "create dialog")

	// Focus stays in the dialog: Tab past the last control comes back to
	// the first, Shift+Tab from the first goes to the last.
	n := eval[int](b, `[...document.querySelector('dialog').querySelectorAll('a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled])')].filter((e) => e.offsetParent !== null).length`)
	if n < 3 {
		b.fail("the create dialog has %d focusable elements", n)
	}
	first := eval[string](b, `document.activeElement.id || document.activeElement.textContent`)
	for i := 0; i < n+2; i++ {
		b.press(kb.Tab)
		if in := eval[bool](b, `document.activeElement !== null && document.activeElement.closest('dialog') !== null`); !in {
			b.fail("Tab %d moved the focus out of the dialog to %s", i+1, eval[string](b, `document.activeElement ? document.activeElement.outerHTML.slice(0, 80) : 'nothing'`))
		}
	}
	eval[bool](b, `(() => { document.querySelector('dialog [data-test=create-namespace]').focus(); return true; })()`)
	shiftTab(b)
	if in := eval[bool](b, `document.activeElement.closest('dialog') !== null && document.activeElement.tagName === 'BUTTON'`); !in {
		b.fail("Shift+Tab from the first field left the dialog or did not wrap to its buttons (focus on %s; first was %s)",
			eval[string](b, `document.activeElement.outerHTML.slice(0, 80)`), first)
	}
	b.press(kb.Escape)
	b.waitGone("dialog")
	if ex := b.exceptions(); len(ex) != 0 {
		t.Errorf("uncaught exceptions: %v", ex)
	}
}

// shiftTab presses Shift+Tab.
func shiftTab(b *browser) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))); err != nil {
		b.fail("Shift+Tab: %v", err)
	}
}

// closeDialogWith closes the open dialog with the named button.
func closeDialogWith(b *browser, label string) {
	b.t.Helper()
	b.clickText("dialog button", label)
	b.waitGone("dialog")
}
