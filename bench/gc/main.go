// Command gc measures how garbage collection scales: it builds registries of
// 10k and 100k manifests through the store (no HTTP, no blob bytes), drains
// the collector's queues once (the steady state of a running registry), turns
// 1 % of the manifests into garbage (their tags deleted, no time machine) and
// times collecting them. The goal is that the time follows the garbage, not
// the registry: the ratio of the two times stays near 1, not 10.
//
//	go run ./bench/gc [-sizes 10000,100000] [-garbage 0.01] [-postgres]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/store"
)

func main() {
	sizes := flag.String("sizes", "10000,100000", "registry sizes in manifests")
	garbage := flag.Float64("garbage", 0.01, "fraction of manifests that become garbage")
	postgres := flag.Bool("postgres", false, "run on PostgreSQL (pgtest) instead of SQLite")
	workers := flag.Int("workers", 32, "concurrent pushers while building")
	flag.Parse()
	ctx := context.Background()
	var times []time.Duration
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fail(err)
		}
		d, err := runOne(ctx, n, *garbage, *postgres, *workers)
		if err != nil {
			fail(err)
		}
		times = append(times, d)
		ns = append(ns, n)
	}
	for i := 1; i < len(times); i++ {
		scale := float64(ns[i]) / float64(ns[0])
		fmt.Printf("ratio %d/%d manifests: time %.2fx for %.0fx the registry and the garbage; per collected manifest %.2fx (goal: near 1)\n",
			ns[i], ns[0], float64(times[i])/float64(times[0]), scale, float64(times[i])/float64(times[0])/scale)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gc bench:", err)
	os.Exit(1)
}

func open(ctx context.Context, postgres bool, name string) (*store.DB, func(), error) {
	if !postgres {
		dir, err := os.MkdirTemp("", "wharf-gc-bench-")
		if err != nil {
			return nil, nil, err
		}
		db, err := store.OpenSQLite(ctx, filepath.Join(dir, "wharf.db"), store.Options{})
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close(); os.RemoveAll(dir) }, nil
	}
	srv, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		return nil, nil, err
	}
	dsn, err := srv.CreateDatabase(ctx, name)
	if err != nil {
		srv.Stop()
		return nil, nil, err
	}
	db, err := store.OpenPostgres(ctx, dsn, store.PostgresOptions{})
	if err != nil {
		srv.Stop()
		return nil, nil, err
	}
	return db, func() { db.Close(); srv.Stop() }, nil
}

// manifest is a minimal image manifest referencing a shared base layer and
// one layer of its own.
func manifest(repo string, i int, base digest.Digest) (store.PutManifest, digest.Digest) {
	own := digest.FromString(fmt.Sprintf("layer %s %d", repo, i))
	content := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":1}]}`,
		oci.MediaTypeOCIManifest, base, own)
	return store.PutManifest{
		Repository: repo, Digest: digest.FromString(content), MediaType: oci.MediaTypeOCIManifest,
		ConfigMediaType: "application/vnd.oci.image.config.v1+json", Content: []byte(content),
		Blobs: []digest.Digest{base, own}, Tags: []string{fmt.Sprintf("t%d", i)},
	}, own
}

func runOne(ctx context.Context, n int, garbage float64, postgres bool, workers int) (time.Duration, error) {
	db, closeDB, err := open(ctx, postgres, fmt.Sprintf("gc%d", n))
	if err != nil {
		return 0, err
	}
	defer closeDB()
	const perRepo = 1000
	start := time.Now()
	for r := 0; r*perRepo < n; r++ {
		repo := fmt.Sprintf("bench/r%d", r)
		if err := db.CommitBlob(ctx, repo, digest.FromString("base "+repo), 1, ""); err != nil {
			return 0, err
		}
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				repo := fmt.Sprintf("bench/r%d", i/perRepo)
				base := digest.FromString("base " + repo)
				put, own := manifest(repo, i, base)
				if err := db.CommitBlob(ctx, repo, own, 1, ""); err != nil {
					errs <- err
					return
				}
				if err := db.PutManifest(ctx, put); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return 0, err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	built := time.Since(start)
	o := store.GCOptions{Grace: 0, DefaultWindow: 0, Limit: 500}
	start = time.Now()
	m0, b0, err := drain(ctx, db, o)
	if err != nil {
		return 0, err
	}
	settle := time.Since(start)
	if m0.Manifests != 0 || len(b0.Blobs) != 0 {
		return 0, fmt.Errorf("the first pass collected %d manifests and %d blobs of a registry without garbage", m0.Manifests, len(b0.Blobs))
	}
	// 1 % garbage: delete the tags of every 100th manifest (no time machine:
	// namespace window 0).
	if err := db.SetNamespaceTagExpiration(ctx, "bench", 0); err != nil {
		return 0, err
	}
	step := int(1 / garbage)
	want := 0
	for i := 0; i < n; i += step {
		if err := db.DeleteTag(ctx, fmt.Sprintf("bench/r%d", i/perRepo), fmt.Sprintf("t%d", i)); err != nil {
			return 0, err
		}
		want++
	}
	time.Sleep(5 * time.Millisecond)
	start = time.Now()
	m, b, err := drain(ctx, db, o)
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	if m.Manifests != want || len(b.Blobs) != want {
		return 0, fmt.Errorf("collected %d manifests and %d blobs, want %d each", m.Manifests, len(b.Blobs), want)
	}
	dialect := "SQLite"
	if postgres {
		dialect = "PostgreSQL"
	}
	fmt.Printf("%s %7d manifests: built in %v, first pass (queue drain) %v; collected %d manifests + %d blobs in %v\n",
		dialect, n, built.Round(time.Millisecond), settle.Round(time.Millisecond), m.Manifests, len(b.Blobs), took.Round(time.Millisecond))
	return took, nil
}

// drain runs batches until nothing is due, as `wharf admin gc` does.
func drain(ctx context.Context, db *store.DB, o store.GCOptions) (store.GCManifests, store.GCBlobs, error) {
	var m store.GCManifests
	var b store.GCBlobs
	for {
		one, err := db.CollectManifests(ctx, o)
		if err != nil {
			return m, b, err
		}
		m.Manifests += one.Manifests
		m.TagRows += one.TagRows
		if one.TagRows == 0 && one.Dequeued == 0 {
			break
		}
	}
	for {
		one, err := db.CollectBlobs(ctx, o)
		if err != nil {
			return m, b, err
		}
		b.Blobs = append(b.Blobs, one.Blobs...)
		b.Links += one.Links
		if one.Dequeued == 0 {
			break
		}
	}
	return m, b, nil
}
