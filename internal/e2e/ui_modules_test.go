package e2e

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/ui"
)

// uiModules serves the embedded UI alone and opens it in a browser, to test
// its JavaScript modules in the page.
func uiModules(t *testing.T) (*browser, string) {
	t.Helper()
	h, err := ui.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := newBrowser(t)
	b.visit(srv.URL + "/signin")
	return b, "/static/" + h.Version() + "/js/"
}

// The Markdown renderer is a parser of untrusted text: table tests of what
// it builds, and that no input becomes markup or a dangerous link.
func TestUIMarkdown(t *testing.T) {
	b, base := uiModules(t)
	cases := []struct{ in, want string }{
		{"# Title", "<h3>Title</h3>"},
		{"###### Deep", "<h6>Deep</h6>"},
		{"a **b** *c* `d` __e__ _f_", "<p>a <strong>b</strong> <em>c</em> <code>d</code> <strong>e</strong> <em>f</em></p>"},
		{"line one\nline two\n\nnext", "<p>line one line two</p><p>next</p>"},
		{"[docs](https://example.com/a?b=c)", `<p><a href="https://example.com/a?b=c" rel="noopener nofollow noreferrer" target="_blank">docs</a></p>`},
		{"[mail](mailto:a@example.com)", `<p><a href="mailto:a@example.com" rel="noopener nofollow noreferrer" target="_blank">mail</a></p>`},
		{"see https://example.com/x.", `<p>see <a href="https://example.com/x" rel="noopener nofollow noreferrer" target="_blank">https://example.com/x</a>.</p>`},
		{"- a\n- b *c*", "<ul><li>a</li><li>b <em>c</em></li></ul>"},
		{"1. a\n2) b", "<ol><li>a</li><li>b</li></ol>"},
		{"> quoted\n> text", "<blockquote><p>quoted text</p></blockquote>"},
		{"```go\n<b>x</b>\n  y\n```", `<pre><code class="language-go">&lt;b&gt;x&lt;/b&gt;` + "\n" + `  y</code></pre>`},
		{"---", "<hr>"},
		{"snake_case_name and 2*3*4", "<p>snake_case_name and 2<em>3</em>4</p>"},
		{`\*not emphasis\*`, "<p>*not emphasis*</p>"},
		{"<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"},
		{`<img src=x onerror="alert(1)">`, `<p>&lt;img src=x onerror="alert(1)"&gt;</p>`},
		{"[x](javascript:alert(1))", `<p><span class="md-bad-link">x</span>)</p>`},
		{"[x](JaVaScRiPt:alert)", `<p><span class="md-bad-link">x</span></p>`},
		{"[x](data:text/html;base64,PHNjcmlwdD4=)", `<p><span class="md-bad-link">x</span></p>`},
		{"[x](//evil.example/)", `<p><span class="md-bad-link">x</span></p>`},
		{"[<img src=x>](https://example.com)", `<p><a href="https://example.com" rel="noopener nofollow noreferrer" target="_blank">&lt;img src=x&gt;</a></p>`},
		{"# <svg onload=alert(1)>", "<h3>&lt;svg onload=alert(1)&gt;</h3>"},
		{"", ""},
	}
	ins := make([]string, len(cases))
	for i, c := range cases {
		ins[i] = c.in
	}
	arg, _ := json.Marshal(ins)
	got := eval[[]string](b, `(async () => {
  const md = await import('`+base+`markdown.js');
  return `+string(arg)+`.map((src) => { const d = document.createElement('div'); d.append(md.render(src)); return d.innerHTML; });
})()`)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("render(%q)\n got %s\nwant %s", c.in, got[i], c.want)
		}
	}
}

// The router, the DOM helpers, and every page module listed in routes.js
// (which must load without errors).
func TestUIModules(t *testing.T) {
	b, base := uiModules(t)
	type result struct {
		Routes  []string `json:"routes"`
		Loaded  []string `json:"loaded"`
		Dom     []string `json:"dom"`
		Matches []string `json:"matches"`
	}
	r := eval[result](b, `(async () => {
  const { matcher } = await import('`+base+`router.js');
  const { routes } = await import('`+base+`routes.js');
  const dom = await import('`+base+`dom.js');
  const out = { routes: [], loaded: [], dom: [], matches: [] };
  for (const r of routes) {
    out.routes.push(r.path);
    try {
      const m = await r.load();
      out.loaded.push(typeof m.render === 'function' ? 'ok ' + r.path : 'ERR ' + r.path + ' has no render()');
    } catch (e) {
      out.loaded.push('ERR ' + r.path + ' ' + e);
    }
  }
  const match = matcher([
    { path: '/' }, { path: '/repository' }, { path: '/repository/*repo' },
    { path: '/repository/*repo/settings' }, { path: '/repository/*repo/manifest/:digest/security' },
    { path: '/organization/:name' }, { path: '/files/*rest' },
  ]);
  for (const p of ['/', '/repository', '/repository/a', '/repository/a/b', '/repository/a/b/c', '/repository/a/b/settings',
    '/repository/a/settings', '/repository/a/b/manifest/sha256:x/security', '/repository/a/b/c/manifest/sha256:x/security',
    '/organization/acme', '/organization/a%2Fb', '/organization', '/organization/a/b', '/files/x', '/bad/%ZZ', '/nope']) {
    const m = match(p);
    out.matches.push(p + ' => ' + (m ? m.route.path + ' ' + JSON.stringify(m.params) : 'null'));
  }
  const a = dom.h('a', { href: 'javascript:alert(1)', onclick: () => {}, 'aria-label': 'x', class: ['c1', false, 'c2'] }, '<b>t</b>', 1, null, ['x', dom.h('i')]);
  out.dom.push(a.outerHTML);
  out.dom.push(dom.h('a', { href: '/repository/a' }).getAttribute('href'));
  out.dom.push(dom.h('a', { href: '//evil.example' }).getAttribute('href'));
  try { dom.h('div', { style: 'color: red' }); out.dom.push('style allowed'); } catch (e) { out.dom.push('style refused'); }
  out.dom.push(dom.formatBytes(0), dom.formatBytes(1536), dom.formatBytes(5 * 1024 * 1024 * 1024), dom.formatBytes(null));
  out.dom.push(dom.formatTime(1700000000).outerHTML, dom.formatTime('Tue, 14 Nov 2023 22:13:20 -0000').textContent, String(dom.formatTime(null)));
  const f = dom.field('Name', { value: 'v', hint: 'help' });
  out.dom.push(f.querySelector('label').htmlFor === f.input.id ? 'label bound' : 'label unbound', f.input.getAttribute('aria-describedby') === f.input.id + '-hint' ? 'hint bound' : 'hint unbound');
  out.dom.push(dom.severityBadge('High', 3).outerHTML, dom.severityBadge('weird').className);
  out.dom.push(dom.shortDigest('sha256:0123456789abcdef0123'));
  return out;
})()`)
	for _, l := range r.Loaded {
		if !strings.HasPrefix(l, "ok ") {
			t.Errorf("route module: %s", l)
		}
	}
	if len(r.Loaded) < 7 {
		t.Errorf("routes.js lists %d routes: %v", len(r.Loaded), r.Routes)
	}
	wantMatches := []string{
		`/ => / {}`,
		`/repository => /repository {}`,
		`/repository/a => null`,
		`/repository/a/b => /repository/*repo {"repo":"a/b"}`,
		`/repository/a/b/c => /repository/*repo {"repo":"a/b/c"}`,
		`/repository/a/b/settings => /repository/*repo/settings {"repo":"a/b"}`,
		`/repository/a/settings => /repository/*repo {"repo":"a/settings"}`,
		`/repository/a/b/manifest/sha256:x/security => /repository/*repo/manifest/:digest/security {"repo":"a/b","digest":"sha256:x"}`,
		`/repository/a/b/c/manifest/sha256:x/security => /repository/*repo/manifest/:digest/security {"repo":"a/b/c","digest":"sha256:x"}`,
		`/organization/acme => /organization/:name {"name":"acme"}`,
		`/organization/a%2Fb => /organization/:name {"name":"a/b"}`,
		`/organization => null`,
		`/organization/a/b => null`,
		`/files/x => /files/*rest {"rest":"x"}`,
		`/bad/%ZZ => null`,
		`/nope => null`,
	}
	for i, w := range wantMatches {
		if i >= len(r.Matches) || r.Matches[i] != w {
			t.Errorf("match %d: got %q, want %q", i, r.Matches[i], w)
		}
	}
	wantDom := []string{
		`<a href="#" aria-label="x" class="c1 c2">&lt;b&gt;t&lt;/b&gt;1x<i></i></a>`,
		"/repository/a",
		"#",
		"style refused",
		"0 B", "1.5 KiB", "5.0 GiB", "—",
		`<time datetime="2023-11-14T22:13:20.000Z">2023-11-14 22:13 UTC</time>`, "2023-11-14 22:13 UTC", "—",
		"label bound", "hint bound",
		`<span class="badge sev-high">3 High</span>`, "badge sev-unknown",
		"sha256:0123456789ab",
	}
	if strings.Join(r.Dom, "\n") != strings.Join(wantDom, "\n") {
		t.Errorf("dom helpers:\n got %q\nwant %q", r.Dom, wantDom)
	}
}

// The harness notices Content-Security-Policy violations: an inline script
// and an inline style attribute added to the page are blocked and reported.
func TestBrowserHarnessReportsCSP(t *testing.T) {
	b, _ := uiModules(t)
	ran := eval[bool](b, `(() => {
  const s = document.createElement('script');
  s.textContent = 'window.__inline = true';
  document.body.append(s);
  const d = document.createElement('div');
  d.setAttribute('style', 'color: red');
  document.body.append(d);
  return window.__inline === true;
})()`)
	if ran {
		t.Fatal("an inline script ran despite the Content-Security-Policy")
	}
	ctx, cancel := b.step()
	defer cancel()
	// The page's securitypolicyviolation events come after the console's
	// messages about the same violations: wait for both events.
	for {
		b.mu.Lock()
		seen := strings.Join(b.csp, "\n")
		both := strings.Contains(seen, "script-src-elem blocked") && strings.Contains(seen, "style-src-attr blocked")
		if both {
			b.csp = nil // expected: keep the cleanup from failing the test
		}
		b.mu.Unlock()
		if both {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the harness saw these CSP violations, want an inline script and an inline style: %q", seen)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// The repository list's pager follows Quay's next_page tokens in batches
// of pages, so lists longer than one batch load on demand. The page's
// fetch answers from a list of 25 pages here.
func TestUIPager(t *testing.T) {
	b, base := uiModules(t)
	type result struct {
		First, Second, Third int
		DoneAfterFirst       bool
		Done                 bool
		URLs                 []string
	}
	r := eval[result](b, `(async () => {
  const { pager } = await import('`+base+`api.js');
  const urls = [];
  const real = window.fetch;
  window.fetch = async (url) => {
    if (!String(url).startsWith('/api/v1/repository')) return real(url); // the app's own requests
    urls.push(String(url));
    const u = new URL(url, location.href);
    const m = /^p\/(\d+)&x$/.exec(u.searchParams.get('next_page') || 'p/0&x');
    const n = m ? Number(m[1]) : -1;
    const body = { repositories: [{ name: 'r' + n }] };
    if (n < 24) body.next_page = 'p/' + (n + 1) + '&x';
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  try {
    const p = pager('/repository?public=true', 'repositories', 20);
    const first = await p.more();
    const doneAfterFirst = p.done;
    const second = await p.more();
    const third = await p.more();
    return { First: first.length, DoneAfterFirst: doneAfterFirst, Second: second.length, Third: third.length, Done: p.done, URLs: urls };
  } finally {
    window.fetch = real;
  }
})()`)
	if r.First != 20 || r.DoneAfterFirst || r.Second != 5 || r.Third != 0 || !r.Done || len(r.URLs) != 25 {
		t.Fatalf("pager: %+v", r)
	}
	if r.URLs[0] != "/api/v1/repository?public=true" || r.URLs[21] != "/api/v1/repository?public=true&next_page=p%2F21%26x" {
		t.Fatalf("pager requests: %q, %q", r.URLs[0], r.URLs[21])
	}
}

// The time-machine choices are named from the server's seconds.
func TestUIFormatWindow(t *testing.T) {
	b, base := uiModules(t)
	got := eval[[]string](b, `(async () => {
  const { formatWindow } = await import('`+base+`pages/organization.js');
  return [0, 60, 3600, 86400, 172800, 604800, 1209600, 3024000, 90, null].map(formatWindow);
})()`)
	want := "None,1 minute,1 hour,1 day,2 days,1 week,2 weeks,5 weeks,90 seconds,None"
	if strings.Join(got, ",") != want {
		t.Fatalf("formatWindow: %s, want %s", strings.Join(got, ","), want)
	}
}
