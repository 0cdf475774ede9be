package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/opencontainers/go-digest"

	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// twoDirs configures two LocalStorage locations, east (preferred) and west.
func twoDirs(root string, replication bool, defaults ...string) func(*config.Config) {
	return func(c *config.Config) {
		c.Storage = map[string]config.StorageLocation{
			"east": {Driver: config.DriverLocal, Params: map[string]string{"storage_path": filepath.Join(root, "east")}},
			"west": {Driver: config.DriverLocal, Params: map[string]string{"storage_path": filepath.Join(root, "west")}},
		}
		c.StoragePreference = []string{"east", "west"}
		c.StorageReplication = replication
		c.StorageDefaultLocations = defaults
	}
}

// startWorkers runs the app's background jobs until the test ends.
func startWorkers(t *testing.T, a *App) (stop func()) {
	t.Helper()
	r, err := a.jobs.Start(t.Context(), a.workers())
	if err != nil {
		t.Fatal(err)
	}
	stop = func() { _ = r.Stop(context.Background()) }
	t.Cleanup(stop)
	return stop
}

// imageBlobs are the digests of an image's config and layers.
func imageBlobs(t *testing.T, img v1.Image) []digest.Digest {
	t.Helper()
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	out := []digest.Digest{digest.Digest(cfg.String())}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, digest.Digest(d.String()))
	}
	return out
}

// inDir reports which of ds the LocalStorage directory holds.
func inDir(t *testing.T, dir string, ds []digest.Digest) []bool {
	t.Helper()
	st, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]bool, len(ds))
	for i, d := range ds {
		_, err := st.Stat(context.Background(), d)
		if err != nil && !core.IsCode(err, core.CodeBlobUnknown) {
			t.Fatal(err)
		}
		out[i] = err == nil
	}
	return out
}

func all(bs []bool, want bool) bool {
	for _, b := range bs {
		if b != want {
			return false
		}
	}
	return true
}

// waitReplicated waits until no copy is pending or failed and location
// holds at least n blobs.
func waitReplicated(t *testing.T, a *App, location string, n int64) store.ReplicationStatus {
	t.Helper()
	var st store.ReplicationStatus
	if !eventually(30*time.Second, 50*time.Millisecond, func() bool {
		var err error
		if st, err = a.ReplicationStatus(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, l := range st.Locations {
			if l.Pending > 0 || l.Failed > 0 || (l.Location == location && l.Present < n) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("replication did not finish: %+v", st)
	}
	return st
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// A push is written to the preferred location and copied to the default
// locations by jobs; pulls work from the copy alone; garbage collection
// removes every copy.
func TestReplicationCopiesAndCollects(t *testing.T) {
	root := t.TempDir()
	s := startLifecycle(t, filepath.Join(root, "data"), func(c *config.Config) {
		twoDirs(root, true, "east", "west")(c)
		c.GarbageCollectionGrace = 0
	})
	startWorkers(t, s.app)
	img := randomImage(t)
	if err := s.push("acme/app:v1", img); err != nil {
		t.Fatal(err)
	}
	ds := imageBlobs(t, img)
	st := waitReplicated(t, s.app, "west", int64(len(ds)))
	if st.Local != "east" || st.Blobs != int64(len(ds)) {
		t.Fatalf("status: %+v", st)
	}
	for _, l := range st.Locations {
		if l.Present != int64(len(ds)) || !l.Default || !l.Configured {
			t.Fatalf("location %s: %+v", l.Location, l)
		}
	}
	if !all(inDir(t, filepath.Join(root, "west"), ds), true) || !all(inDir(t, filepath.Join(root, "east"), ds), true) {
		t.Fatal("a location misses a blob after replication")
	}

	// A replica preferring west reads its local copy; here the east copy
	// is removed to prove the pull does not need it.
	east, err := blobfs.New(filepath.Join(root, "east"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if err := east.Delete(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.pull("acme/app:v1"); err != nil {
		t.Fatalf("pull with the blobs only in the west: %v", err)
	}

	// Deleting the image and collecting removes the bytes everywhere.
	if err := s.app.db.SetNamespaceTagExpiration(t.Context(), "acme", 0); err != nil {
		t.Fatal(err)
	}
	s.call("alice", "DELETE", "/api/v1/repository/acme/app", nil, 204)
	if _, err := s.app.CollectGarbage(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if !all(inDir(t, filepath.Join(root, "west"), ds), false) {
		t.Fatal("garbage collection left copies in the west")
	}
	if st, err := s.app.ReplicationStatus(t.Context()); err != nil || st.Blobs != 0 || st.Locations[1].Present != 0 {
		t.Fatalf("status after collection: %+v %v", st, err)
	}
}

// Blobs pushed before replication was turned on are copied after
// `wharf admin replicate backfill`; running it again enqueues nothing.
func TestReplicationBackfill(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	before := startLifecycle(t, data, twoDirs(root, false))
	img := randomImage(t)
	if err := before.push("acme/old:v1", img); err != nil {
		t.Fatal(err)
	}
	before.close()
	ds := imageBlobs(t, img)
	if !all(inDir(t, filepath.Join(root, "west"), ds), false) {
		t.Fatal("without replication a blob reached the west")
	}

	s := startLifecycle(t, data, twoDirs(root, true, "west"))
	res, err := s.app.BackfillReplication(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != len(ds) || res.Enqueued != len(ds) {
		t.Fatalf("backfill: %+v, want %d blobs and copies", res, len(ds))
	}
	startWorkers(t, s.app)
	waitReplicated(t, s.app, "west", int64(len(ds)))
	if !all(inDir(t, filepath.Join(root, "west"), ds), true) {
		t.Fatal("backfill did not copy every blob")
	}
	if res, err := s.app.BackfillReplication(t.Context(), 100); err != nil || res.Enqueued != 0 {
		t.Fatalf("second backfill: %+v %v", res, err)
	}
}

// A namespace's own locations (set by a superuser through the API) are
// added to the defaults for its blobs only; regular users may neither read
// the status nor change the setting.
func TestReplicationNamespaceLocations(t *testing.T) {
	root := t.TempDir()
	s := startLifecycle(t, filepath.Join(root, "data"), twoDirs(root, true))
	const path = "/api/v1/superuser/storage/replication"
	s.call("alice", "GET", path, nil, 403)
	s.call("alice", "GET", path+"/acme", nil, 403)
	s.call("alice", "PUT", path+"/acme", map[string]any{"locations": []string{"west"}}, 403)
	s.call("root", "PUT", path+"/acme", map[string]any{"locations": []string{"mars"}}, 400)
	s.call("root", "PUT", path+"/acme", map[string]any{}, 400)
	s.call("root", "PUT", path+"/nobody", map[string]any{"locations": []string{"west"}}, 404)
	got := s.call("root", "PUT", path+"/acme", map[string]any{"locations": []string{"west"}}, 200)
	if fmt.Sprint(got["locations"]) != "[west]" {
		t.Fatalf("PUT answer: %v", got)
	}
	if got := s.call("root", "GET", path+"/alice", nil, 200); fmt.Sprint(got["locations"]) != "[]" {
		t.Fatalf("alice's locations: %v", got)
	}

	startWorkers(t, s.app)
	org, own := randomImage(t), randomImage(t)
	if err := s.push("acme/app:v1", org); err != nil {
		t.Fatal(err)
	}
	if err := s.push("alice/app:v1", own); err != nil {
		t.Fatal(err)
	}
	orgBlobs := imageBlobs(t, org)
	waitReplicated(t, s.app, "west", int64(len(orgBlobs)))
	if !all(inDir(t, filepath.Join(root, "west"), orgBlobs), true) {
		t.Fatal("acme's blobs did not reach its location")
	}
	if !all(inDir(t, filepath.Join(root, "west"), imageBlobs(t, own)), false) {
		t.Fatal("alice's blobs went to acme's location")
	}
	st := s.call("root", "GET", path, nil, 200)
	locs, _ := st["locations"].([]any)
	if st["preferred_location"] != "east" || len(locs) != 2 || st["enabled"] != true {
		t.Fatalf("status: %v", st)
	}
	west, _ := locs[1].(map[string]any)
	if west["name"] != "west" || west["present"] != float64(len(orgBlobs)) || west["pending"] != float64(0) || west["default"] != false {
		t.Fatalf("west: %v", west)
	}
}

// A replica that has to stream a blob from another location asks for a
// local copy, which its workers then make.
func TestReplicationLocalCopyOnRemoteRead(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	// No default locations: the east replica's push stays in the east.
	east := startLifecycle(t, data, twoDirs(root, true))
	img := randomImage(t)
	if err := east.push("acme/app:v1", img); err != nil {
		t.Fatal(err)
	}
	east.close()
	ds := imageBlobs(t, img)
	if !all(inDir(t, filepath.Join(root, "west"), ds), false) {
		t.Fatal("a blob reached the west without being asked for")
	}

	west := startLifecycle(t, data, func(c *config.Config) {
		twoDirs(root, true)(c)
		c.StoragePreference = []string{"west", "east"}
	})
	if err := west.pull("acme/app:v1"); err != nil {
		t.Fatal(err)
	}
	startWorkers(t, west.app)
	// The manifest's layers and config were read: each gets a west copy.
	waitReplicated(t, west.app, "west", int64(len(ds)-1))
	if got := inDir(t, filepath.Join(root, "west"), ds); !all(got[1:], true) {
		t.Fatalf("layers read from the east were not copied to the west: %v", got)
	}
}

// Garbage collection while a location is unreachable removes the other
// copies, remembers the unreachable one, and the blob_deletions job
// deletes it once the location is back.
func TestReplicationCollectWhileLocationDown(t *testing.T) {
	collectWhileDown(t, nil)
}

// TestReplicationCollectWhileLocationDownPostgres is the same on
// PostgreSQL.
func TestReplicationCollectWhileLocationDownPostgres(t *testing.T) {
	dsn := testPostgresDSN(t)
	collectWhileDown(t, func(c *config.Config) { c.DBURI = dsn })
}

func collectWhileDown(t *testing.T, mod func(*config.Config)) {
	root := t.TempDir()
	s := startLifecycle(t, filepath.Join(root, "data"), func(c *config.Config) {
		twoDirs(root, true, "east", "west")(c)
		c.GarbageCollectionGrace = 0
		if mod != nil {
			mod(c)
		}
	})
	stopWorkers := startWorkers(t, s.app)
	img := randomImage(t)
	if err := s.push("acme/app:v1", img); err != nil {
		t.Fatal(err)
	}
	ds := imageBlobs(t, img)
	waitReplicated(t, s.app, "west", int64(len(ds)))
	// From here the test runs every job itself, so the collection below
	// is the only one.
	stopWorkers()
	// A pass while the repository lives examines (and dequeues) its blobs;
	// deleting the repository must queue them again.
	if _, err := s.app.CollectGarbage(t.Context(), false); err != nil {
		t.Fatal(err)
	}

	// The west goes away: its directory is replaced by a file.
	westDir := filepath.Join(root, "west")
	if err := os.Rename(westDir, westDir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(westDir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.app.db.SetNamespaceTagExpiration(t.Context(), "acme", 0); err != nil {
		t.Fatal(err)
	}
	s.call("alice", "DELETE", "/api/v1/repository/acme/app", nil, 204)
	rep, err := s.app.CollectGarbage(t.Context(), false)
	if err != nil {
		t.Fatalf("collection with a location down: %v", err)
	}
	if rep.Blobs != len(ds) || !all(inDir(t, filepath.Join(root, "east"), ds), false) {
		t.Fatalf("collected %d blobs of %d (report %+v); east: %v", rep.Blobs, len(ds), rep, inDir(t, filepath.Join(root, "east"), ds))
	}
	st, err := s.app.ReplicationStatus(t.Context())
	if err != nil || st.Locations[1].Location != "west" || st.Locations[1].Deleting != int64(len(ds)) {
		t.Fatalf("status with the west down: %+v %v", st, err)
	}

	// The west is back: the job deletes what it still holds.
	if err := os.Remove(westDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(westDir+".away", westDir); err != nil {
		t.Fatal(err)
	}
	if !all(inDir(t, westDir, ds), true) {
		t.Fatal("the west lost its copies while away")
	}
	if err := s.app.retryBlobDeletions(t.Context(), jobs.Job{}); err != nil {
		t.Fatal(err)
	}
	if !all(inDir(t, westDir, ds), false) {
		t.Fatal("the west kept copies of collected blobs")
	}
	if st, err := s.app.ReplicationStatus(t.Context()); err != nil || st.Locations[1].Deleting != 0 {
		t.Fatalf("status after the retry: %+v %v", st, err)
	}
}
