package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/pgtest"
)

// Helpers shared by this package's tests.

// testPostgresDSN starts PostgreSQL for t (see pgtest.ForTest) and returns the
// DSN of a new database.
func testPostgresDSN(t *testing.T) string {
	t.Helper()
	return pgtest.ForTest(t, pgtest.Options{}).Database(t, "wharf")
}

// serveApp listens on a loopback port (and makes it cfg.ServerHostname when
// setHostname), starts the application and serves it until t is done, and
// creates each of users with the password NAME-password. It returns the
// application and its host:port.
func serveApp(t *testing.T, cfg config.Config, log *slog.Logger, setHostname bool, users ...string) (*App, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if setHostname {
		cfg.ServerHostname = ln.Addr().String()
	}
	a, err := New(ctx, cfg, log)
	if err != nil {
		ln.Close()
		cancel()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-served
		a.Close()
	})
	for _, u := range users {
		if _, err := a.CreateUser(ctx, u, u+"@example.com", u+"-password", false); err != nil {
			t.Fatal(err)
		}
	}
	return a, ln.Addr().String()
}

// callJSON sends an API request to base+path (with a bearer token unless it
// is empty) and decodes the answer; any status but want fails t.
func callJSON(t *testing.T, base, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

// eventually polls cond every interval until it holds or timeout has
// passed, and reports whether it held.
func eventually(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(time.Minute, 50*time.Millisecond, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// layeredImage is an image of the given uncompressed layers (gzipped on the
// way) and its manifest digest.
func layeredImage(t *testing.T, layers ...[]byte) (v1.Image, string) {
	t.Helper()
	var ls []v1.Layer
	for _, l := range layers {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil })
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, layer)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return img, d.String()
}
