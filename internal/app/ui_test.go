package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/config"
)

// The web UI is mounted at / without shadowing the registry, the API, the
// login endpoints, health or metrics.
func TestUIMountedBesideTheEdges(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		ctype        string // prefix
		ui           bool   // carries the UI's CSP
	}{
		{"GET", "/", 200, "text/html", true},
		{"GET", "/repository/a/b", 200, "text/html", true},
		{"GET", "/signin", 200, "text/html", true},
		{"GET", "/static/js/app.js", 200, "text/javascript", true},
		{"GET", "/nope", 404, "text/html", true},
		{"GET", "/v2/", 401, "application/json", false},
		{"GET", "/api/v1/ui/config", 200, "application/json", false},
		{"GET", "/api/v1/nope", 404, "application/json", false},
		{"GET", "/healthz", 200, "text/plain", false},
		{"GET", "/metrics", 200, "text/plain", false},
		{"GET", "/oauth2/nope/authorize", 404, "", false},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
			t.Errorf("%s %s: Content-Type %q, want %q…", tc.method, tc.path, ct, tc.ctype)
		}
		if got := strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'"); got != tc.ui {
			t.Errorf("%s %s: UI CSP present = %v", tc.method, tc.path, got)
		}
	}
}
