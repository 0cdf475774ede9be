package app

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/config"
)

// TestGCRacingPushes pushes images that share layers from many clients
// (go-containerregistry, the library behind crane) while the collector runs
// back to back with no grace period and no time machine. A push may be
// refused when a layer it found in the registry is collected before its
// manifest arrives (with no grace period that is what should happen); it is
// retried, as a client would. Afterwards every
// current tag pulls completely and every layer verifies.
func TestGCRacingPushes(t *testing.T) {
	gcRace(t, func(c *config.Config) { c.GarbageCollectionGrace = 0 })
}

// TestGCRacingPushesPostgres is the same on PostgreSQL, where pushes and the
// collector really run concurrently (row locks order them).
func TestGCRacingPushesPostgres(t *testing.T) {
	dsn := testPostgresDSN(t)
	gcRace(t, func(c *config.Config) { c.GarbageCollectionGrace = 0; c.DBURI = dsn })
}

func gcRace(t *testing.T, mod func(*config.Config)) {
	s := startLifecycle(t, t.TempDir(), mod)
	ctx := t.Context()
	if err := s.app.db.SetNamespaceTagExpiration(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	base, err := random.Layer(2048, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var gcWG sync.WaitGroup
	var gcErr error
	var removed GarbageReport
	gcWG.Add(1)
	go func() {
		defer gcWG.Done()
		c := s.app.collector()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rep, err := c.RunOnce(context.Background())
			if err != nil {
				gcErr = err
				return
			}
			removed.Manifests += rep.Manifests
			removed.Blobs += rep.Blobs
			time.Sleep(10 * time.Millisecond)
		}
	}()
	const pushers, rounds = 6, 6
	var wg sync.WaitGroup
	errs := make(chan error, pushers)
	for p := 0; p < pushers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("acme/app%d:t%d", p%2, p)
			for r := 0; r < rounds; r++ {
				own, err := random.Layer(1024, types.OCILayer)
				if err != nil {
					errs <- err
					return
				}
				img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, own)
				if err != nil {
					errs <- err
					return
				}
				for attempt := 0; ; attempt++ {
					if err = s.push(ref, img); err == nil || attempt == 200 {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("push %s round %d: %w", ref, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if gcErr != nil {
		t.Fatal("collector:", gcErr)
	}
	if removed.Manifests == 0 {
		t.Fatal("the collector removed no manifest while the pushes ran")
	}
	t.Logf("collected %d manifests and %d blobs while pushing", removed.Manifests, removed.Blobs)
	if _, err := s.app.CollectGarbage(ctx, false); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < pushers; p++ {
		ref := fmt.Sprintf("acme/app%d:t%d", p%2, p)
		if err := s.pull(ref); err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		verifyStored(t, s, ref)
	}
}

// verifyStored reads every blob of ref from the blob store and checks its
// digest.
func verifyStored(t *testing.T, s *lifecycleServer, ref string) {
	t.Helper()
	img, err := remoteImage(s, ref)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	ds := []v1.Hash{cfg}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	for _, h := range ds {
		if err := verifyBlob(t.Context(), s.app, h.String()); err != nil {
			t.Fatalf("%s: blob %s: %v", ref, h, err)
		}
	}
}

func remoteImage(s *lifecycleServer, ref string) (v1.Image, error) {
	return remote.Image(s.ref(ref), s.opts()...)
}

// verifyBlob reads a blob from the app's blob store and checks its digest.
func verifyBlob(ctx context.Context, a *App, d string) error {
	want, err := digest.Parse(d)
	if err != nil {
		return err
	}
	rc, _, err := a.blobs.Open(ctx, want)
	if err != nil {
		return err
	}
	defer rc.Close()
	v := want.Verifier()
	if _, err := io.Copy(v, rc); err != nil {
		return err
	}
	if !v.Verified() {
		return fmt.Errorf("content does not match %s", want)
	}
	return nil
}

// TestGCFeatureFlag: FEATURE_GARBAGE_COLLECTION registers the periodic job;
// turned off, there is none.
func TestGCFeatureFlag(t *testing.T) {
	for _, on := range []bool{true, false} {
		s := startLifecycle(t, t.TempDir(), func(c *config.Config) { c.GarbageCollection = on })
		w := s.app.workers()
		_, handled := w.Handlers[jobGC]
		periodic := false
		for _, p := range w.Periodic {
			periodic = periodic || p.Kind == jobGC
		}
		if handled != on || periodic != on {
			t.Fatalf("FEATURE_GARBAGE_COLLECTION %v: handler %v, periodic %v", on, handled, periodic)
		}
		s.close()
	}
}
