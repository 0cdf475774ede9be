package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/wharfhq/wharf/internal/oidctest"
)

// xssPayloads are script payloads that must render as inert text.
const xssPayloads = `<script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2"> ` +
	`<svg onload="window.__xss=3"></svg> [click](javascript:window.__xss=4) "><b onmouseover=window.__xss=5>bold</b>`

// labelPayload is a payload crane accepts in an annotation (no quotes or
// commas: its flag parser reads CSV).
const labelPayload = `<script>window.__xss=6</script><img src=x onerror=window.__xss=7><svg onload=window.__xss=8>`

// noXSS checks that no payload ran and that none became markup.
func noXSS(t *testing.T, b *browser, where string) {
	t.Helper()
	if v := eval[string](b, `String(window.__xss)`); v != "undefined" {
		t.Errorf("%s: a script payload ran (window.__xss = %s)", where, v)
	}
	if n := b.count(`main script, main img, main svg, main b, main [onerror], main [onload], main [onmouseover], main a[href^="javascript"], dialog script, dialog img, dialog [onerror]`); n != 0 {
		t.Errorf("%s: %d elements were built from payloads", where, n)
	}
}

// The repository journeys of the web UI against the real binary: first-run
// setup, sign out and in, creating a repository (with a description full of
// script payloads), a crane push that appears in the tag list, manifest
// details with labels (payloads again) and referrers, deleting a tag and
// restoring it from the history, the security report, keyboard navigation.
func TestUIRepositoryJourney(t *testing.T) {
	b := newBrowser(t)
	srv := startServerEnv(t, []string{"WHARF_FEATURE_SECURITY_SCANNER=true"})
	const user, pass = "admin", "admin-password-ui-1"

	// Security headers on the UI's pages.
	resp, err := http.Get(srv.URL + "/repository/admin/app")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("UI page headers: %v", resp.Header)
	}

	// First run: the UI sends the visitor to the setup page.
	b.visit(srv.URL + "/")
	b.waitText("h1", "Set up Wharf")
	b.screenshot("setup")
	b.fillLabel("Username", user)
	b.fillLabel("Email", "admin@example.com")
	b.fillLabel("Password", pass)
	b.fillLabel("Confirm password", pass)
	b.click(`[data-test=setup-submit]`)
	b.waitText(`[data-test=username]`, user)
	b.waitText("h1", "Repositories")
	b.screenshot("repositories-empty")

	// The session cookie is HttpOnly: scripts cannot read it.
	if c := eval[string](b, "document.cookie"); strings.Contains(c, "wharf_session") {
		t.Fatalf("session cookie visible to scripts: %q", c)
	}

	// Sign out, then back in.
	b.click(`[data-test=signout]`)
	b.waitText("h1", "Sign in to Wharf")
	b.screenshot("signin")
	b.fillLabel("Username", user)
	b.fillLabel("Password", "wrong-password")
	b.click(`[data-test=signin-submit]`)
	b.waitText(".signin-form [role=alert]", "Invalid username or password")
	b.fillLabel("Password", pass)
	b.click(`[data-test=signin-submit]`)
	b.waitText(`[data-test=username]`, user)

	// Create a public repository whose description carries payloads.
	b.click(`[data-test=create-repository]`)
	b.waitVisible("dialog[open]")
	b.fillLabel("Repository name", "app")
	b.click(`dialog input[value=public]`)
	description := "# Our app\n\nSome **bold** text, `code` and a [link](https://example.com/docs).\n\n- one\n- two\n\n" + xssPayloads
	b.fillLabel("Description (Markdown)", description)
	b.clickText("dialog button", "Create")
	b.waitText("h1", "admin/app")
	b.waitText(`[data-test=visibility]`, "public")
	b.waitText(`[data-test=description] h3`, "Our app")
	b.waitText(`[data-test=description] strong`, "bold")
	b.waitText(`[data-test=description]`, "<script>window.__xss = 1</script>")
	if href := eval[string](b, `document.querySelector('[data-test=description] a').getAttribute('href')`); href != "https://example.com/docs" {
		t.Errorf("markdown link href %q", href)
	}
	if rel := eval[string](b, `document.querySelector('[data-test=description] a').rel`); !strings.Contains(rel, "noopener") || !strings.Contains(rel, "nofollow") {
		t.Errorf("markdown link rel %q", rel)
	}
	noXSS(t, b, "description")
	b.waitText(".tags-table", "No tags yet")
	b.screenshot("repository-new")
	// Edit the description; payloads stay inert after the edit too.
	b.click(`[data-test=edit-description]`)
	b.fill(`[data-test=description-input]`, "Updated *text* <img src=x onerror=window.__xss=10>")
	b.clickText("dialog button", "Save")
	b.waitText(`[data-test=description] em`, "text")
	b.waitText(`[data-test=description]`, "<img src=x onerror=window.__xss=10>")
	noXSS(t, b, "edited description")

	// Push with crane, with annotations (shown as labels) that carry payloads.
	c := newClientRun(t, srv, user, pass)
	c.login(t, "crane", "auth", "login", srv.Host, "-u", user, "--password-stdin")
	layer := c.mkLayer(t, "ui.tar", 20000)
	ref := srv.Host + "/admin/app"
	c.crane(t, "append", "--oci-empty-base", "-f", layer, "-t", ref+":base")
	c.crane(t, "mutate", ref+":base", "--annotation", "org.opencontainers.image.title="+labelPayload,
		"--annotation", "com.example.note=<img src=x onerror=window.__xss=9>", "-t", ref+":v1")
	d1 := c.craneDigest(t, ref+":v1")
	layer2 := c.mkLayer(t, "ui2.tar", 10000)
	c.crane(t, "append", "--oci-empty-base", "-f", layer2, "-t", ref+":v2")
	c.crane(t, "index", "append", "-m", ref+":v1", "-m", ref+":v2", "-t", ref+":multi")
	// A signature-like referrer of v1.
	sigDir := t.TempDir()
	sig := filepath.Join(sigDir, "sig.txt")
	if err := os.WriteFile(sig, []byte("signature"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.runIn(t, sigDir, "oras", "attach", "--plain-http", "--artifact-type", "application/vnd.example.signature", ref+"@"+d1, "sig.txt")

	b.click(`[data-test=reload-tags]`)
	b.waitText(".tags-table [data-test=tag-name]", "v1")
	b.waitText(".tags-table", "multi")
	row := `.tags-table tr[data-tag="v1"]`
	b.waitText(row+" [data-test=tag-digest]", d1[:19])
	b.waitText(`.tags-table tr[data-tag="multi"] [data-test=tag-platforms]`, "index")
	b.waitVisible(`.tags-table tr[data-tag="multi"] [data-test=platform]`)
	if n := b.count(`.tags-table tr[data-tag="multi"] [data-test=platform]`); n != 2 {
		t.Errorf("the index shows %d platforms, want 2", n)
	}
	b.screenshot("repository-tags")

	// Manifest details: annotations as labels, rendered as text; the referrer.
	b.clickText(row+" button", "Details of v1")
	b.waitText("dialog .labels-table", "org.opencontainers.image.title")
	b.waitText("dialog .labels-table", labelPayload)
	b.waitText("dialog .referrers-table", "application/vnd.example.signature")
	noXSS(t, b, "labels")
	b.screenshot("manifest-details")
	b.press(kb.Escape)
	b.waitGone("dialog")

	// An index lists its platforms, each with its own security report; the
	// dialog closes when its link leads to another page.
	b.clickText(`.tags-table tr[data-tag="multi"] button`, "Details of multi")
	b.waitText("dialog", "Platforms")
	if n := b.count(`dialog a[aria-label^="Security report of"]`); n != 2 {
		t.Errorf("the index's dialog links %d platform reports, want 2", n)
	}
	b.click(`dialog a[aria-label^="Security report of"]`)
	b.waitText("h1", "Security report")
	b.waitGone("dialog")
	b.visit(srv.URL + "/repository/admin/app")
	b.waitVisible(row)

	// The copy button puts the pull command on the clipboard.
	b.clickText(row+" button", "Copy pull command for v1")
	b.waitText(row+" .btn-copy", "Copied")
	if got, want := b.clipboard(), "podman pull "+srv.Host+"/admin/app:v1"; got != want {
		t.Errorf("clipboard %q, want %q", got, want)
	}

	// Delete v1, then restore it from the history.
	b.clickText(row+" button", "Delete tag v1")
	b.waitVisible("dialog[open]")
	if got := eval[string](b, "document.activeElement.textContent"); got != "Cancel" {
		t.Errorf("a confirmation dialog focuses %q, want Cancel", got)
	}
	b.clickText("dialog button", "Delete tag")
	b.waitGone(row)
	b.click(`[data-test=show-history]`)
	b.waitVisible(`.history-table [data-test=restore-tag][data-tag="v1"]`)
	b.screenshot("tag-history")
	b.click(`.history-table [data-test=restore-tag][data-tag="v1"]`)
	b.waitVisible(row)
	b.waitText(row+" [data-test=tag-digest]", d1[:19])
	tags := apiJSON(t, srv, "", "GET", "/api/v1/repository/admin/app/tag/?onlyActiveTags=true&specificTag=v1", nil, 200)
	if list, _ := tags["tags"].([]any); len(list) != 1 || list[0].(map[string]any)["manifest_digest"] != d1 {
		t.Fatalf("after restore: %v", tags)
	}

	// Add a tag, move it, make a tag immutable.
	d2 := c.craneDigest(t, ref+":v2")
	b.click(`[data-test=add-tag]`)
	b.fillLabel("Tag name", "latest")
	b.fillLabel("Manifest digest", d1)
	b.clickText("dialog button", "Save tag")
	latest := `.tags-table tr[data-tag="latest"]`
	b.waitText(latest+" [data-test=tag-digest]", d1[:19])
	b.click(`[data-test=add-tag]`)
	b.fillLabel("Tag name", "latest")
	b.fillLabel("Manifest digest", d2)
	b.clickText("dialog button", "Save tag")
	b.waitText(latest+" [data-test=tag-digest]", d2[:19])
	v2 := `.tags-table tr[data-tag="v2"]`
	b.clickText(v2+" button", "Edit v2")
	b.click(`[data-test=tagedit-immutable]`)
	b.clickText("dialog button", "Save")
	b.waitText(v2, "immutable")
	if n := b.count(v2 + ` [data-test=delete-tag]`); n != 0 {
		t.Error("an immutable tag offers Delete")
	}

	// The security report of v1 (scanned: the image has no packages).
	b.click(row + ` [data-test=tag-security] a`)
	b.waitText("h1", "Security report")
	b.waitText("main", "admin/app@"+d1[:19])
	b.screenshot("security-report")
	b.visit(srv.URL + "/repository/admin/app")
	b.waitText("h1", "admin/app")

	// Keyboard: the first Tab reaches the skip link, which moves focus to
	// the main content; Escape closes a dialog and gives focus back.
	b.visit(srv.URL + "/repository")
	b.waitText(`[data-test=repo-link]`, "admin/app")
	b.press(kb.Tab)
	if got := eval[string](b, "document.activeElement.textContent"); got != "Skip to content" {
		t.Errorf("first Tab focuses %q", got)
	}
	b.press(kb.Enter)
	if got := eval[string](b, "document.activeElement.id"); got != "main" {
		t.Errorf("skip link moved focus to %q", got)
	}
	b.click(`[data-test=create-repository]`)
	b.waitVisible("dialog[open]")
	if got := eval[string](b, "document.activeElement.tagName + ':' + (document.activeElement.closest('dialog') !== null)"); got != "SELECT:true" {
		t.Errorf("dialog focus: %s", got)
	}
	b.press(kb.Escape)
	b.waitGone("dialog")
	if got := eval[string](b, "document.activeElement.dataset.test || ''"); got != "create-repository" {
		t.Errorf("focus after the dialog: %q", got)
	}
	// Reflected input: a search for a payload is shown as text.
	b.visit(srv.URL + "/search?q=" + url.QueryEscape(`<img src=x onerror=window.__xss=11>`))
	b.waitText("h1", `Search: <img src=x onerror=window.__xss=11>`)
	noXSS(t, b, "search")

	// Make the repository private, then delete it.
	// Each click waits for the page to have loaded its tags: a button of a
	// page still rendering can be replaced between the click and its dialog.
	b.visit(srv.URL + "/repository/admin/app")
	b.waitText(`[data-test=visibility]`, "public")
	b.waitVisible(`[data-test=tag-name]`)
	b.click(`[data-test=toggle-visibility]`)
	b.waitVisible("dialog[open]")
	b.clickText("dialog button", "Make private")
	b.waitText(`[data-test=visibility]`, "private")
	b.waitVisible(`[data-test=tag-name]`)
	b.click(`[data-test=delete-repository]`)
	b.waitVisible("dialog[open]")
	b.clickText("dialog button", "Delete repository")
	b.waitText("h1", "Repositories")
	b.waitText(".table", "No repositories yet")
	apiJSON(t, srv, "", "GET", "/api/v1/repository/admin/app", nil, 404)

	// An unknown page is the UI's not-found view.
	b.visit(srv.URL + "/repository/admin/app")
	b.waitText("h1", "Not found")
	b.visit(srv.URL + "/no/such/page")
	b.waitText("h1", "Page not found")

	if ex := b.exceptions(); len(ex) != 0 {
		t.Errorf("uncaught exceptions: %v", ex)
	}
}

// debianLayer is a layer with a Debian 12 dpkg database: perl-base and
// zlib1g have fixed advisories in the Debian tracker data under
// internal/vulndb/testdata, apt and libgcrypt20 unfixed ones.
func debianLayer(t *testing.T, dir string) string {
	t.Helper()
	status := "" +
		"Package: perl-base\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.36.0-7\nSource: perl\n\n" +
		"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\nSource: zlib\n\n" +
		"Package: apt\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.6.1\n\n" +
		"Package: libgcrypt20\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.10.1-3\n\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n"},
		{"var/lib/dpkg/status", status},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "debian.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The security report page: vulnerabilities grouped by package, colour-coded
// severities, installed and fixed-in versions, and the "fixable only" filter.
func TestUISecurityReport(t *testing.T) {
	b := newBrowser(t)
	env := []string{"WHARF_FEATURE_SECURITY_SCANNER=true"}
	srv := startServerEnv(t, env)
	const user, pass = "alice", "alice-password-ui-2"
	apiJSON(t, srv, "", "POST", "/api/v1/user/initialize", map[string]any{"username": user, "password": pass, "email": "alice@example.com"}, 200)

	// Import the Debian tracker records, then push the image: the scan on
	// push matches them.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	imp := exec.CommandContext(ctx, wharfBin, "admin", "vulndb", "import", filepath.Join("..", "vulndb", "testdata", "debian-tracker"), "--data", srv.DataDir)
	imp.Env = append(os.Environ(), env...)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("vulndb import: %v\n%s", err, out)
	}
	c := newClientRun(t, srv, user, pass)
	c.login(t, "crane", "auth", "login", srv.Host, "-u", user, "--password-stdin")
	ref := srv.Host + "/alice/debian:12"
	c.crane(t, "append", "--oci-empty-base", "-f", debianLayer(t, t.TempDir()), "-t", ref)
	d := c.craneDigest(t, ref)
	c.crane(t, "index", "append", "-m", ref, "-t", srv.Host+"/alice/debian:multi")

	b.visit(srv.URL + "/signin?next=/repository/alice/debian")
	b.fillLabel("Username", user)
	b.fillLabel("Password", pass)
	b.click(`[data-test=signin-submit]`)
	b.waitText("h1", "alice/debian")
	// The tag's security summary appears once the scan is done.
	row := `.tags-table tr[data-tag="12"]`
	for i := 0; ; i++ {
		b.waitVisible(row + ` [data-test=tag-security] a`)
		if b.count(row+` [data-test=tag-security] .sev-low, `+row+` [data-test=tag-security] .badge[class*=sev-]`) > 0 {
			break
		}
		if i == 20 {
			b.fail("no severity summary for the scanned tag: %s", b.text(row))
		}
		b.click(`[data-test=reload-tags]`)
		b.waitVisible(row)
		time.Sleep(250 * time.Millisecond)
	}
	// An index sums up the reports of its platforms.
	b.waitVisible(`.tags-table tr[data-tag="multi"] [data-test=tag-security] .badge[class*=sev-]`)
	if got, want := b.text(`.tags-table tr[data-tag="multi"] [data-test=tag-security]`), b.text(row+` [data-test=tag-security]`); !strings.HasPrefix(got, strings.TrimSpace(strings.Split(want, "fixable")[0])) {
		t.Errorf("index summary %q, image summary %q", got, want)
	}
	b.screenshot("tags-with-security")
	b.click(row + ` [data-test=tag-security] a`)
	b.waitText("h1", "Security report")
	b.waitText("main", "alice/debian@"+d[:19])
	b.waitVisible(`[data-package="perl"], [data-package="perl-base"]`)
	b.waitText(`[data-test=packages]`, "CVE-2023-31484")
	b.waitText(`[data-test=packages]`, "5.36.0-7+deb12u3")
	b.waitText(`[data-test=packages]`, "CVE-2024-2236")
	b.waitText(`[data-test=packages]`, "no fix yet")
	if n := b.count(`[data-test=severity-summary] .badge`); n == 0 {
		t.Error("no severity badges in the summary")
	}
	all := b.count(`[data-test=packages] tbody tr`)
	b.screenshot("security-report")

	// Fixable only: the unfixed advisories go away, the fixed ones stay.
	b.click(`[data-test=fixable-only]`)
	b.waitText(`[role=status]`, "Showing")
	if txt := b.text(`[data-test=packages]`); strings.Contains(txt, "CVE-2024-2236") || strings.Contains(txt, "no fix yet") || !strings.Contains(txt, "CVE-2023-31484") {
		t.Errorf("fixable only still lists unfixed advisories or lost fixed ones: %.400s", txt)
	}
	if fixable := b.count(`[data-test=packages] tbody tr`); fixable == 0 || fixable >= all {
		t.Errorf("fixable only shows %d of %d rows", fixable, all)
	}
	b.screenshot("security-report-fixable")

	// Someone else signs up; alice's repository (private: created by a
	// push) is refused to them, in the list and on its page.
	b.click(`[data-test=signout]`)
	b.waitText("h1", "Sign in to Wharf")
	b.click(`[data-test=show-signup]`)
	b.fillLabel("Username", "bob")
	b.fillLabel("Email", "bob@example.com")
	b.fillLabel("Password", "bob-password-ui-3")
	b.click(`[data-test=signup-submit]`)
	b.waitText(`[data-test=username]`, "bob")
	b.waitText("main", "No repositories yet")
	b.visit(srv.URL + "/repository/alice/debian")
	b.waitText("main [role=alert]", "You may not see alice/debian")
	b.visit(srv.URL + "/repository/alice/debian/manifest/" + d + "/security")
	b.waitText("main [role=alert]", "Unauthorized")
	if n := b.count("[data-package]"); n != 0 {
		t.Errorf("bob sees %d packages of alice's report", n)
	}
	if ex := b.exceptions(); len(ex) != 0 {
		t.Errorf("uncaught exceptions: %v", ex)
	}
}

// Sign-in with an OIDC provider from the sign-in page, with password
// sign-in turned off: the page offers only the provider's button, whose
// login comes back to the page the user asked for.
func TestUIOIDCSignIn(t *testing.T) {
	iss := oidctest.New(t)
	iss.SetLoginUser(oidctest.LoginUser{Subject: "ui-1", PreferredUsername: "fox", Email: "fox@corp.example", EmailVerified: true})
	srv := startOIDCServer(t, iss, "corp", `FEATURE_DIRECT_LOGIN: false
CORP_SSO_LOGIN_CONFIG:
  SERVICE_NAME: Corp SSO
  OIDC_SERVER: {{ISSUER}}
  CLIENT_ID: `+oidcClientID+`
  CLIENT_SECRET: `+oidcClientSecret+`
  CA_FILE: {{CA}}
`)
	apiJSON(t, srv, "", "POST", "/api/v1/user/initialize", map[string]any{"username": "admin", "password": "admin-password-oidc-ui", "email": "admin@example.com"}, 200)
	// The provider's test CA is not in the browser's trust store.
	b := newBrowser(t, chromedp.IgnoreCertErrors)
	// Anonymous access is on: the page shows, with a link to sign in.
	b.visit(srv.URL + "/search?q=app")
	b.waitText("h1", "Search: app")
	b.clickText(".user-menu a", "Sign in")
	b.waitText("h1", "Sign in to Wharf")
	b.waitText(".oidc-buttons", "Sign in with Corp SSO")
	if n := b.count(".signin-form"); n != 0 {
		t.Fatalf("password form shown with direct login off (%d)", n)
	}
	b.screenshot("signin-oidc")
	b.clickText(".oidc-buttons a", "Sign in with Corp SSO")
	b.waitText(`[data-test=username]`, "fox")
	b.waitText("h1", "Search: app")
	if loc := b.location(); loc != srv.URL+"/search?q=app" {
		t.Errorf("after the login the browser is at %s", loc)
	}
	b.screenshot("signed-in-oidc")
}
