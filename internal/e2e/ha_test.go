package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/s3test"
)

// scaleOut is shared PostgreSQL + S3 for several replicas.
type scaleOut struct {
	config string // path of the replicas' config file
}

func startScaleOut(t *testing.T) *scaleOut {
	t.Helper()
	requireTool(t, "versitygw")
	pg := pgtest.ForTest(t, pgtest.Options{})
	dsn := pg.Database(t, "wharf")
	s3 := startS3Bucket(t, "wharf")
	cfg := fmt.Sprintf(`DB_URI: %s
DATABASE_SECRET_KEY: shared-secret-of-the-replicas-0123
FEATURE_SPARSE_MANIFESTS: true
DISTRIBUTED_STORAGE_CONFIG:
  default:
    - S3Storage
    - s3_bucket: wharf
      storage_path: /registry
      s3_access_key: %s
      s3_secret_key: %s
      s3_region: us-east-1
      endpoint_url: %s
      path_style: true
DISTRIBUTED_STORAGE_PREFERENCE: [default]
`, dsn, s3.AccessKey, s3.SecretKey, s3.URL())
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &scaleOut{config: path}
}

// startS3Bucket starts an S3 server (versitygw) for the test with one
// bucket.
func startS3Bucket(t *testing.T, bucket string) *s3test.Server {
	t.Helper()
	s, err := s3test.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.NewBucket(bucket); err != nil {
		t.Fatal(err)
	}
	return s
}

// haClient speaks the upload protocol with Basic credentials to any replica.
type haClient struct {
	t          *testing.T
	user, pass string
}

func (c *haClient) do(method, url string, body []byte, hdr ...string) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

func (c *haClient) expect(resp *http.Response, want int, what string) []byte {
	c.t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s: HTTP %d, want %d: %s", what, resp.StatusCode, want, b)
	}
	return b
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// TestHighAvailability runs two replicas on one PostgreSQL and one S3 bucket:
// a client alternates replicas request by request through a chunked upload
// and a manifest push; the OCI conformance runner passes against replica A
// while B takes traffic; a replica killed mid-upload leaves a session the
// other one finishes.
func TestHighAvailability(t *testing.T) {
	so := startScaleOut(t)
	a := startServer(t, "--config", so.config)
	b := startServer(t, "--config", so.config)
	init := apiJSON(t, a, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "ops", "password": "ops-password-123", "access_token": true}, 200)
	if init["access_token"] == nil {
		t.Fatalf("initialize: %v", init)
	}
	c := &haClient{t: t, user: "ops", pass: "ops-password-123"}
	repo := "ops/ha"

	// Chunked upload started on A, continued on B, finished on A.
	layer := randomBytes(t, 3<<20+123)
	ld := digestOf(layer)
	resp := c.do("POST", a.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	loc := resp.Header.Get("Location")
	c.expect(resp, 202, "POST upload on A")
	third := len(layer) / 3
	for i, srv := range []*server{b, a} {
		start, end := i*third, (i+1)*third
		resp = c.do("PATCH", srv.URL+loc, layer[start:end], "Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", start, end-1))
		loc = resp.Header.Get("Location")
		c.expect(resp, 202, fmt.Sprintf("PATCH chunk %d", i+1))
	}
	c.expect(c.do("PUT", a.URL+loc+"?digest="+ld, layer[2*third:], "Content-Type", "application/octet-stream"), 201, "PUT final chunk on A")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := digestOf(cfg)
	c.expect(c.do("POST", b.URL+"/v2/"+repo+"/blobs/uploads/?digest="+cd, cfg, "Content-Type", "application/octet-stream"), 201, "config on B")
	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		cd, len(cfg), ld, len(layer)))
	c.expect(c.do("PUT", b.URL+"/v2/"+repo+"/manifests/v1", manifest, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201, "manifest PUT on B")
	got := c.expect(c.do("GET", a.URL+"/v2/"+repo+"/manifests/v1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json"), 200, "manifest GET on A")
	if !bytes.Equal(got, manifest) {
		t.Fatal("manifest from A differs from what B stored")
	}
	if got := c.expect(c.do("GET", a.URL+"/v2/"+repo+"/blobs/"+ld, nil), 200, "layer GET on A"); digestOf(got) != ld {
		t.Fatal("layer from A does not match its digest")
	}

	// Conformance against A while B takes pushes.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pushes int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			blob := randomBytes(t, 64<<10)
			resp := c.do("POST", b.URL+"/v2/ops/background/blobs/uploads/?digest="+digestOf(blob), blob, "Content-Type", "application/octet-stream")
			resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Errorf("background push on B: %d", resp.StatusCode)
				return
			}
			pushes++
		}
	}()
	runConformance(t, a, "ops", "ops-password-123", "ops", "conformance-ha")
	close(stop)
	wg.Wait()
	for name, srv := range map[string]*server{"A": a, "B": b} {
		for _, line := range strings.Split(srv.Log(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("replica %s logged: %s", name, line)
			}
		}
	}
	t.Logf("replica B took %d blob pushes during the conformance run", pushes)

	// Kill A in the middle of an upload; B resumes the same session.
	big := randomBytes(t, 6<<20)
	bd := digestOf(big)
	resp = c.do("POST", a.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	loc = resp.Header.Get("Location")
	c.expect(resp, 202, "POST upload on A")
	half := len(big) / 2
	resp = c.do("PATCH", a.URL+loc, big[:half], "Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("0-%d", half-1))
	loc = resp.Header.Get("Location")
	c.expect(resp, 202, "first half on A")
	a.Kill()
	resp = c.do("GET", b.URL+loc, nil)
	rng := resp.Header.Get("Range")
	c.expect(resp, 204, "upload status on B after A died")
	if rng != fmt.Sprintf("0-%d", half-1) {
		t.Fatalf("B reports Range %q, want 0-%d", rng, half-1)
	}
	c.expect(c.do("PUT", b.URL+loc+"?digest="+bd, big[half:], "Content-Type", "application/octet-stream",
		"Content-Range", fmt.Sprintf("%d-%d", half, len(big)-1)), 201, "finishing on B")
	if got := c.expect(c.do("GET", b.URL+"/v2/"+repo+"/blobs/"+bd, nil), 200, "GET on B"); digestOf(got) != bd {
		t.Fatal("resumed blob does not match its digest")
	}
	for _, line := range strings.Split(b.Log(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("replica B logged: %s", line)
		}
	}
}
