package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
)

//go:embed static
var assets embed.FS

// ContentSecurityPolicy is sent with every UI response: scripts, styles and
// connections only from this origin, no inline code, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// staticPlaceholder in index.html is replaced by the versioned static prefix.
const staticPlaceholder = "{{STATIC}}"

// appRoutes are the first path segments the single-page application owns;
// index.html is served for them.
var appRoutes = map[string]bool{
	"": true, "signin": true, "setup": true, "search": true, "repository": true,
	"organization": true, "user": true, "superuser": true,
}

// file is one embedded asset.
type file struct {
	body  []byte
	etag  string
	ctype string
}

// Handler serves the UI.
type Handler struct {
	files   map[string]file // by path under static/, e.g. "js/app.js"
	version string          // hash of every asset
	index   []byte
}

// New loads the embedded assets.
func New() (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	var names []string
	err := fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(b)
		h.files[name] = file{body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, ctype: contentType(name)}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui assets: %w", err)
	}
	idx, ok := h.files["index.html"]
	if !ok {
		return nil, fmt.Errorf("ui assets: index.html is missing")
	}
	sort.Strings(names)
	all := sha256.New()
	for _, n := range names {
		fmt.Fprintf(all, "%s %s\n", n, h.files[n].etag)
	}
	h.version = hex.EncodeToString(all.Sum(nil))[:16]
	h.index = bytes.ReplaceAll(idx.body, []byte(staticPlaceholder), []byte("/static/"+h.version))
	return h, nil
}

// Version is the content hash in the static URLs.
func (h *Handler) Version() string { return h.version }

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// securityHeaders are set on every response of the UI.
func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// ServeHTTP serves /static/… and index.html for the application's routes;
// other paths get the application's not-found page with status 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/static/"); ok {
		h.serveStatic(w, r, rest)
		return
	}
	if r.URL.Path == "/favicon.ico" {
		h.serveFile(w, r, "img/favicon.svg", false)
		return
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	status := http.StatusOK
	if !appRoutes[first] {
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_, _ = w.Write(h.index)
	}
}

// serveStatic serves static/<rest>. Under the current version prefix the
// response is immutable; any other path is revalidated with its ETag.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request, rest string) {
	immutable := false
	if v, p, ok := strings.Cut(rest, "/"); ok && v == h.version {
		rest, immutable = p, true
	} else if ok && len(v) == len(h.version) && isHex(v) {
		// An older version's URL: serve today's file, but never cache it
		// under that name.
		rest = p
	}
	if rest == "index.html" {
		http.NotFound(w, r)
		return
	}
	h.serveFile(w, r, rest, immutable)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string, immutable bool) {
	f, ok := h.files[path.Clean("/" + name)[1:]]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	if immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", fmt.Sprint(len(f.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
