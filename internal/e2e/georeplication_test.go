package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/s3test"
)

// geoSite is one storage location: its own S3 server, so it can be killed
// alone.
type geoSite struct {
	name string
	s3   *s3test.Server
}

func (g geoSite) yaml() string {
	return fmt.Sprintf(`  %s:
    - S3Storage
    - s3_bucket: wharf
      storage_path: /registry
      s3_access_key: %s
      s3_secret_key: %s
      s3_region: us-east-1
      endpoint_url: %s
      path_style: true
`, g.name, g.s3.AccessKey, g.s3.SecretKey, g.s3.URL())
}

// startGeo starts PostgreSQL and one S3 server per location, and writes one
// config file per location preferring it.
func startGeo(t *testing.T) (east, west geoSite, eastCfg, westCfg string) {
	t.Helper()
	requireTool(t, "versitygw")
	pg := pgtest.ForTest(t, pgtest.Options{})
	dsn := pg.Database(t, "wharf")
	sites := make([]geoSite, 2)
	for i, n := range []string{"east", "west"} {
		sites[i] = geoSite{name: n, s3: startS3Bucket(t, "wharf")}
	}
	east, west = sites[0], sites[1]
	write := func(pref ...string) string {
		cfg := fmt.Sprintf(`DB_URI: %s
DATABASE_SECRET_KEY: shared-secret-of-the-replicas-0123
SUPER_USERS: [ops]
FEATURE_STORAGE_REPLICATION: true
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [east, west]
DISTRIBUTED_STORAGE_PREFERENCE: [%s]
DISTRIBUTED_STORAGE_CONFIG:
%s%s`, dsn, strings.Join(pref, ", "), east.yaml(), west.yaml())
		path := filepath.Join(t.TempDir(), pref[0]+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return east, west, write("east", "west"), write("west", "east")
}

// geoStatus waits until no copy is pending or failed and every location
// holds n blobs, and returns the superuser status.
func geoStatus(t *testing.T, srv *server, token string, n float64) map[string]any {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		st := apiJSON(t, srv, token, "GET", "/api/v1/superuser/storage/replication", nil, 200)
		done := st["blobs"] == n
		locs, _ := st["locations"].([]any)
		for _, l := range locs {
			m, _ := l.(map[string]any)
			if m["present"] != n || m["pending"] != float64(0) || m["failed"] != float64(0) {
				done = false
			}
		}
		if done {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication did not finish: %v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// blobsIn lists the blob digests stored in a site's bucket.
func blobsIn(t *testing.T, g geoSite) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	root := filepath.Join(g.s3.Dir, "wharf")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(filepath.ToSlash(p), "/blobs/") {
			out[filepath.Base(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGeoReplication runs two replicas on one PostgreSQL, each preferring
// its own S3 location (two S3 servers). Blobs pushed before replication was
// on are copied by `wharf admin replicate backfill`; a push to the east
// replica is copied to the west by the replication job and pulled from the
// west replica; with the east S3 server killed, pulls from both replicas
// keep working.
func TestGeoReplication(t *testing.T) {
	east, west, eastCfg, westCfg := startGeo(t)
	const user, pass = "ops", "ops-password-123"
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})

	// Before replication: the east replica writes to the east only.
	a := startServerEnv(t, []string{"WHARF_FEATURE_STORAGE_REPLICATION=false"}, "--config", eastCfg)
	init := apiJSON(t, a, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": user, "password": pass, "access_token": true}, 200)
	token, _ := init["access_token"].(string)
	push := func(srv *server, repo string) v1.Image {
		t.Helper()
		img, err := random.Image(64<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(srv.Host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, auth, remote.WithContext(t.Context())); err != nil {
			t.Fatalf("push %s: %v", repo, err)
		}
		return img
	}
	pull := func(srv *server, repo string, want v1.Image) {
		t.Helper()
		ref, err := name.ParseReference(srv.Host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref, auth, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("pull %s from %s: %v", repo, srv.Host, err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed() // verifies the digest while reading
			if err != nil {
				t.Fatalf("pull %s from %s: %v", repo, srv.Host, err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatalf("pull %s from %s: %v", repo, srv.Host, err)
			}
			rc.Close()
		}
		got, _ := img.Digest()
		wantD, _ := want.Digest()
		if got != wantD {
			t.Fatalf("pull %s from %s: digest %s, want %s", repo, srv.Host, got, wantD)
		}
	}
	old := push(a, "ops/old:v1")
	if n := len(blobsIn(t, west)); n != 0 {
		t.Fatalf("without replication %d blobs reached the west", n)
	}
	// The status API says replication is off; anonymous callers are refused.
	apiJSON(t, a, token, "GET", "/api/v1/superuser/storage/replication", nil, 404)

	// Replication on: the backfill enqueues a copy of the old blobs.
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	a.Env = nil
	a.Restart()
	apiJSON(t, a, "", "GET", "/api/v1/superuser/storage/replication", nil, 401)
	out, err := exec.CommandContext(t.Context(), wharfBin, "admin", "replicate", "backfill", "--config", eastCfg, "--data", a.DataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "looked at 3 blobs, enqueued 6 copies") {
		t.Fatalf("backfill: %v: %s", err, out)
	}
	geoStatus(t, a, token, 3)

	// A push to the east replica reaches the west; the west replica
	// pulls both images.
	b := startServer(t, "--config", westCfg)
	fresh := push(a, "ops/new:v1")
	st := geoStatus(t, b, token, 6)
	if st["preferred_location"] != "west" {
		t.Fatalf("west replica status: %v", st)
	}
	eastBlobs, westBlobs := blobsIn(t, east), blobsIn(t, west)
	if len(westBlobs) != 6 || len(eastBlobs) != 6 {
		t.Fatalf("east holds %d blobs, west %d, want 6 each", len(eastBlobs), len(westBlobs))
	}
	pull(b, "ops/new:v1", fresh)
	pull(b, "ops/old:v1", old)
	out, err = exec.CommandContext(t.Context(), wharfBin, "admin", "replicate", "status", "--config", westCfg, "--data", b.DataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "west: 6 present, 0 pending, 0 failed") {
		t.Fatalf("replicate status: %v: %s", err, out)
	}

	// The east location dies: both replicas still serve every image.
	east.s3.Stop()
	for _, srv := range []*server{b, a} {
		pull(srv, "ops/new:v1", fresh)
		pull(srv, "ops/old:v1", old)
	}
	// New pushes to the west replica keep working too.
	later := push(b, "ops/later:v1")
	pull(a, "ops/later:v1", later)
}
