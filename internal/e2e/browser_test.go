package e2e

// The browser harness of the web UI tests: a headless Chromium driven with
// chromedp. Each test gets its own browser process (a fresh profile, so no
// cookies leak between tests) and a deadline. The harness records console
// errors and fails the test on any Content-Security-Policy violation.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds one test's whole browser session.
const browserTimeout = 90 * time.Second

// stepTimeout bounds one helper call (a wait for an element or a text).
const stepTimeout = 15 * time.Second

// browser is one headless Chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab; ends at the test's deadline

	mu      sync.Mutex
	console []string // console errors and uncaught exceptions
	csp     []string // Content-Security-Policy violations
	shots   int
	clicks  int // clickText calls so far
}

// chromiumPath finds Debian's chromium (or another Chrome build), skipping
// the test when none is installed (failing under WHARF_E2E_REQUIRE=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WHARF_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
		t.Fatal("chromium is not installed (run scripts/test.sh, which installs it)")
	}
	t.Skip("chromium not installed; scripts/test.sh installs it")
	return ""
}

// newBrowser starts a headless browser for the test. It is stopped when the
// test ends; the test fails if the page reported a CSP violation. extra
// options are added to the defaults (e.g. chromedp.IgnoreCertErrors for a
// test TLS server).
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("lang", "en-US"),
	}
	if os.Geteuid() == 0 || os.Getenv("WHARF_CHROMIUM_NO_SANDBOX") == "1" {
		// Chromium's sandbox refuses to run as root, and needs user
		// namespaces that some CI containers lack.
		opts = append(opts, chromedp.NoSandbox)
	}
	opts = append(opts, extra...)
	root, cancelRoot := context.WithTimeout(context.Background(), browserTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelRoot()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.console {
			t.Logf("browser console: %s", m)
		}
		for _, v := range b.csp {
			t.Errorf("Content-Security-Policy violation: %s", v)
		}
	})

	// Start the browser and the tab, then watch the console.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() && m.Type != chromedp.ConsoleWarning {
				continue
			}
			text := m.String()
			if m.URL != "" {
				text += " (" + m.URL + ")"
			}
			b.mu.Lock()
			if strings.Contains(m.Text, "Content Security Policy") {
				b.csp = append(b.csp, text)
			} else if m.Type != chromedp.ConsoleWarning {
				b.console = append(b.console, text)
			}
			b.mu.Unlock()
		}
	}()
	// Report CSP violations from the page itself as well: the event carries
	// the violated directive and the blocked resource.
	report := func(_ context.Context, v struct {
		Directive string `json:"directive"`
		Blocked   string `json:"blocked"`
		Sample    string `json:"sample"`
		Source    string `json:"source"`
	}) (chromedp.Void, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.csp = append(b.csp, fmt.Sprintf("%s blocked %q (sample %q) at %s", v.Directive, v.Blocked, v.Sample, v.Source))
		return chromedp.Void{}, nil
	}
	const listener = `document.addEventListener('securitypolicyviolation', function (e) {
  window.wharfReportCSP({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile + ':' + e.lineNumber});
});`
	err := chromedp.Do(ctx,
		chromedp.ExposeFunc("wharfReportCSP", report),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: listener})
			return err
		}),
	)
	if err != nil {
		t.Fatalf("preparing the browser: %v", err)
	}
	// Let the copy buttons use the clipboard, and the test read it back.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted,
		})
		if err != nil {
			t.Logf("granting %s: %v", name, err)
		}
	}
	return b
}

// step returns a context for one helper call.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// poll evaluates a JavaScript predicate (a function of args) until it
// returns a truthy value, retrying across navigations, which reset the
// page's execution context.
func poll[T any](ctx context.Context, fn string, args ...any) (T, error) {
	for {
		v, err := chromedp.Run(ctx, chromedp.PollFunction[T](fn, chromedp.WithPollingArgs(args...), chromedp.WithPollingTimeout(0)))
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fail stops the test with a screenshot of the page for diagnosis.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	b.shot("failure")
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	alerts, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('[role=alert], .toast')].map((e) => e.textContent).join(' | ')`))
	if alerts != "" {
		format += " (alerts on the page: %s)"
		args = append(args, alerts)
	}
	b.t.Fatalf(format, args...)
}

// visit opens url and waits for the document to load.
func (b *browser) visit(url string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		b.fail("visit %s: %v", url, err)
	}
}

// fill replaces the value of the input matched by the CSS selector by
// typing text into it.
func (b *browser) fill(selector, text string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	sel := chromedp.CSS(selector)
	q, _ := json.Marshal(selector)
	clearValue := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+string(q)+`); el.value = ''; return true; })()`)(ctx, t)
		return err
	})
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel), clearValue, chromedp.SendKeys(sel, text)); err != nil {
		b.fail("fill %s: %v", selector, err)
	}
}

// fillLabel fills the form control labelled label (the text of its <label>).
func (b *browser) fillLabel(label, text string) {
	b.t.Helper()
	b.fill(b.labelled(label), text)
}

// labelled returns a CSS selector for the control whose <label> reads label.
func (b *browser) labelled(label string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	id, err := poll[string](ctx, `(label) => {
  for (const l of document.querySelectorAll('label')) {
    if (l.textContent.trim() === label && l.control && l.control.id) return l.control.id;
  }
  return '';
}`, label)
	if err != nil {
		b.fail("no control labelled %q: %v", label, err)
	}
	return "#" + cssEscapeID(id)
}

// click clicks the element matched by the CSS selector once it is visible.
func (b *browser) click(selector string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	sel := chromedp.CSS(selector)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel), chromedp.Click(sel)); err != nil {
		b.fail("click %s: %v", selector, err)
	}
}

// clickText clicks the first visible, enabled button or link (matched by
// the CSS selector, e.g. "button" or "a") whose text or aria-label is name,
// waiting for it to appear. It clicks exactly once, in the same evaluation
// that finds the element, and never touches the element afterwards: a click
// that removes it (a dialog closing, a table redrawing, a page change) is
// fine.
func (b *browser) clickText(selector, name string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	// The token makes a retried evaluation (after a navigation reset the
	// execution context mid-call) see that it already clicked.
	b.mu.Lock()
	b.clicks++
	token := fmt.Sprintf("click-%d", b.clicks)
	b.mu.Unlock()
	_, err := poll[bool](ctx, `(sel, name, token) => {
  if (window.__harnessClicked === token) return true;
  for (const el of document.querySelectorAll(sel)) {
    const text = (el.getAttribute('aria-label') || el.textContent).trim();
    if (text === name && el.offsetParent !== null && !el.disabled) {
      window.__harnessClicked = token;
      el.scrollIntoView({ block: 'center' });
      el.click();
      return true;
    }
  }
  return false;
}`, selector, name, token)
	if err != nil {
		b.fail("no enabled %s named %q: %v (page text: %.300q)", selector, name, err, b.bodyText())
	}
}

// press sends keys (kb constants or text) to the focused element.
func (b *browser) press(keys string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
		b.fail("press %q: %v", keys, err)
	}
}

// waitText waits until an element matched by the CSS selector contains text.
func (b *browser) waitText(selector, text string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	_, err := poll[bool](ctx, `(sel, text) => {
  for (const el of document.querySelectorAll(sel)) {
    if (el.textContent.includes(text)) return true;
  }
  return false;
}`, selector, text)
	if err != nil {
		b.fail("waiting for %q in %s: %v (page text: %.500q)", text, selector, err, b.bodyText())
	}
}

// waitVisible waits until the CSS selector matches a visible element.
func (b *browser) waitVisible(selector string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		b.fail("waiting for %s: %v (page text: %.500q)", selector, err, b.bodyText())
	}
}

// waitGone waits until nothing matches the CSS selector.
func (b *browser) waitGone(selector string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	_, err := poll[bool](ctx, `(sel) => document.querySelector(sel) === null`, selector)
	if err != nil {
		b.fail("waiting for %s to go away: %v", selector, err)
	}
}

// text returns the text content of the first element matched by the CSS
// selector, waiting for it to exist.
func (b *browser) text(selector string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	sel := chromedp.CSS(selector)
	if err := chromedp.Do(ctx, chromedp.WaitReady(sel)); err != nil {
		b.fail("waiting for %s: %v", selector, err)
	}
	s, err := chromedp.Run(ctx, chromedp.TextContent(sel))
	if err != nil {
		b.fail("text of %s: %v", selector, err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("evaluating %s: %v", expr, err)
	}
	return v
}

// count returns how many elements match the CSS selector.
func (b *browser) count(selector string) int {
	b.t.Helper()
	q, _ := json.Marshal(selector)
	return eval[int](b, "document.querySelectorAll("+string(q)+").length")
}

// location returns the current URL.
func (b *browser) location() string {
	b.t.Helper()
	return eval[string](b, "location.href")
}

// clipboard returns the text on the clipboard (what a copy button copied).
func (b *browser) clipboard() string {
	b.t.Helper()
	return eval[string](b, "navigator.clipboard.readText()")
}

// bodyText returns the page's visible text, for failure messages.
func (b *browser) bodyText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	return s
}

// consoleErrors returns the console errors and uncaught exceptions so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// exceptions returns the uncaught JavaScript exceptions so far.
func (b *browser) exceptions() []string {
	var out []string
	for _, m := range b.consoleErrors() {
		if strings.HasPrefix(m, string(chromedp.ConsoleException)+":") {
			out = append(out, m)
		}
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshot writes a full-page PNG named after the test and name into the
// artifacts directory (WHARF_TEST_ARTIFACTS, default test-artifacts/screenshots
// at the repository root).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if err := b.shot(name); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
	}
}

func (b *browser) shot(name string) error {
	dir := os.Getenv("WHARF_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.shots++
	n := b.shots
	b.mu.Unlock()
	file := fmt.Sprintf("%s-%02d-%s.png", unsafeName.ReplaceAllString(b.t.Name(), "_"), n, unsafeName.ReplaceAllString(name, "_"))
	return os.WriteFile(filepath.Join(dir, file), png, 0o644)
}

// cssEscapeID escapes an element id for use in a CSS selector.
func cssEscapeID(id string) string {
	var sb strings.Builder
	for i, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == '-', r >= 0x80:
			sb.WriteRune(r)
		case r >= '0' && r <= '9' && i > 0:
			sb.WriteRune(r)
		default:
			fmt.Fprintf(&sb, "\\%x ", r)
		}
	}
	return sb.String()
}
