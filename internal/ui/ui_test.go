package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func checkSecurityHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestRoutesServeIndex(t *testing.T) {
	h := newTestHandler(t)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/", 200},
		{"/signin", 200},
		{"/setup", 200},
		{"/search?q=x", 200},
		{"/repository", 200},
		{"/repository/acme/app", 200},
		{"/repository/acme/team/app/manifest/sha256:abc/security", 200},
		{"/organization/acme", 200},
		{"/user/alice", 200},
		{"/superuser", 200},
		{"/superuser/users", 200},
		{"/no-such-page", 404},
		{"/wp-admin.php", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := get(t, h, http.MethodGet, tc.path, nil)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			checkSecurityHeaders(t, rec)
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `<script type="module" src="/static/`+h.Version()+`/js/app.js"></script>`) {
				t.Errorf("index does not load the versioned app.js:\n%s", body)
			}
			if strings.Contains(body, staticPlaceholder) {
				t.Error("placeholder left in index.html")
			}
		})
	}
}

func TestStaticCaching(t *testing.T) {
	h := newTestHandler(t)
	rec := get(t, h, http.MethodGet, "/static/"+h.Version()+"/js/app.js", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	checkSecurityHeaders(t, rec)
	if ct := rec.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("versioned Cache-Control %q", cc)
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	// Unversioned and stale-version URLs revalidate.
	for _, p := range []string{"/static/js/app.js", "/static/0123456789abcdef/js/app.js"} {
		rec = get(t, h, http.MethodGet, p, nil)
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("ETag") != etag {
			t.Errorf("%s: status %d, Cache-Control %q, ETag %q", p, rec.Code, rec.Header().Get("Cache-Control"), rec.Header().Get("ETag"))
		}
	}
	rec = get(t, h, http.MethodGet, "/static/js/app.js", map[string]string{"If-None-Match": etag})
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("conditional GET: status %d, %d bytes", rec.Code, rec.Body.Len())
	}
	rec = get(t, h, http.MethodHead, "/static/css/app.css", nil)
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD css: status %d, %d bytes, %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Type"))
	}
	for _, p := range []string{"/static/nope.js", "/static/../ui.go", "/static/index.html", "/static/" + h.Version() + "/index.html", "/static/"} {
		if rec := get(t, h, http.MethodGet, p, nil); rec.Code != 404 {
			t.Errorf("%s: status %d, want 404", p, rec.Code)
		}
	}
	if rec := get(t, h, http.MethodGet, "/favicon.ico", nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

func TestVersionChangesWithContent(t *testing.T) {
	a, b := newTestHandler(t), newTestHandler(t)
	if a.Version() != b.Version() || len(a.Version()) != 16 {
		t.Fatalf("versions %q %q", a.Version(), b.Version())
	}
}

func TestWritesRefused(t *testing.T) {
	h := newTestHandler(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := get(t, h, m, "/repository/acme/app", nil)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d", m, rec.Code)
		}
		checkSecurityHeaders(t, rec)
	}
}

// The assets must keep to the CSP: no inline scripts or styles, no inline
// event handlers, no HTML parsing of strings, no third-party URLs.
func TestAssetsHaveNoInlineCodeOrHTMLSinks(t *testing.T) {
	checks := []struct {
		ext  string
		re   *regexp.Regexp
		what string
	}{
		{".html", regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), "inline script"},
		{".html", regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=`), "inline style or handler"},
		{".html", regexp.MustCompile(`(?i)(src|href)="(https?:)?//`), "third-party URL"},
		{".js", regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`), "HTML sink or eval"},
		{".js", regexp.MustCompile(`\.style\.|setAttribute\(\s*'style'`), "inline style"},
		{".js", regexp.MustCompile(`import\s*\(?\s*['"]https?:`), "third-party import"},
	}
	n := 0
	err := fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		for _, c := range checks {
			if strings.HasSuffix(p, c.ext) && c.re.Match(b) {
				t.Errorf("%s: %s: %q", p, c.what, c.re.Find(b))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d assets", n)
	}
}
