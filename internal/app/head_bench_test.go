package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// BenchmarkManifestHEAD measures the server side of a manifest HEAD with
// Basic credentials, in process.
func BenchmarkManifestHEAD(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.LogLevel = "warn"
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	if _, err := a.CreateUser(ctx, "bench", "", "bench-password", true); err != nil {
		b.Fatal(err)
	}
	u, _ := a.db.User(ctx, "bench")
	if _, err := a.db.CreateRepository(ctx, store.NewRepository{FullName: "bench/app", Visibility: core.VisibilityPrivate, CreatorID: u.ID}); err != nil {
		b.Fatal(err)
	}
	cfgBlob := []byte("{}")
	f := &fixture{t: &testing.T{}, app: a}
	_ = f
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	put := func(method, path string, body []byte, ct string) int {
		req, _ := http.NewRequest(method, srv.URL+path, bytesReader(body))
		req.SetBasicAuth("bench", "bench-password")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	d := "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	if st := put("POST", "/v2/bench/app/blobs/uploads/?digest="+d, cfgBlob, "application/octet-stream"); st != 201 {
		b.Fatalf("blob: %d", st)
	}
	if st := put("PUT", "/v2/bench/app/manifests/latest", manifestFor(d, 2, ""), "application/vnd.oci.image.manifest.v1+json"); st != 201 {
		b.Fatalf("manifest: %d", st)
	}
	h := a.Handler()
	req := httptest.NewRequest("HEAD", "/v2/bench/app/manifests/latest", nil)
	req.SetBasicAuth("bench", "bench-password")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req.Clone(context.Background()))
			if w.Code != 200 {
				b.Fatalf("HEAD: %d", w.Code)
			}
		}
	})
}

func bytesReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return &sliceReader{b: b}
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
