package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// opener opens a fresh store and a queue on the same database; wrap may
// decorate the queue as the store's JobInserter. second opens another queue
// on the same database (a second replica's).
type opener func(t *testing.T, opts jobs.Options, wrap func(*jobs.Queue) store.JobInserter) (db *store.DB, q *jobs.Queue, second func() *jobs.Queue)

func TestSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T, opts jobs.Options, wrap func(*jobs.Queue) store.JobInserter) (*store.DB, *jobs.Queue, func() *jobs.Queue) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "wharf.db")
		open := func() *jobs.Queue {
			q, err := jobs.OpenSQLite(ctx, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			return q
		}
		q := open()
		db, err := store.OpenSQLite(ctx, path, store.Options{Jobs: wrap(q)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db, q, open
	})
}

func runSuite(t *testing.T, open opener) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open opener)
	}{
		{"RollbackNeverRuns", testRollbackNeverRuns},
		{"CommitRunsOnce", testCommitRunsOnce},
		{"RetryWithBackoff", testRetryWithBackoff},
		{"KindBackoff", testKindBackoff},
		{"Periodic", testPeriodic},
		{"ConcurrentWithStoreWrites", testConcurrentWithStoreWrites},
		{"KindStats", testKindStats},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func testOptions(t *testing.T) jobs.Options {
	return jobs.Options{
		Log:          slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		PollInterval: 50 * time.Millisecond,
		Backoff:      func(int) time.Duration { return 300 * time.Millisecond },
		StopTimeout:  5 * time.Second,
	}
}

func plain(q *jobs.Queue) store.JobInserter { return q }

// failingInserter inserts the job and then, when armed, fails: the store's
// transaction rolls back after the job's row was written in it.
type failingInserter struct {
	q    *jobs.Queue
	fail atomic.Bool
}

var errInjected = errors.New("injected failure after the job was inserted")

func (f *failingInserter) InsertTx(ctx context.Context, tx store.JobTx, kind string, args any) error {
	if err := f.q.InsertTx(ctx, tx, kind, args); err != nil {
		return err
	}
	if f.fail.Load() {
		return errInjected
	}
	return nil
}

// A delete whose transaction rolls back after enqueueing leaves neither the
// change nor the job; the same delete committed runs its job.
func testRollbackNeverRuns(t *testing.T, open opener) {
	ctx := context.Background()
	var fi *failingInserter
	db, q, _ := open(t, testOptions(t), func(q *jobs.Queue) store.JobInserter {
		fi = &failingInserter{q: q}
		return fi
	})
	rec := &recorder{}
	startWorkers(t, q, jobs.Workers{Handlers: map[string]jobs.Handler{store.JobRepositoryGC: rec.handler(nil)}})
	for _, name := range []string{"ns/kept", "ns/gone"} {
		if _, err := db.EnsureRepository(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	fi.fail.Store(true)
	if err := db.DeleteRepository(ctx, "ns/kept"); !errors.Is(err, errInjected) {
		t.Fatalf("DeleteRepository with a failing enqueue = %v", err)
	}
	if _, err := db.Repository(ctx, "ns/kept"); err != nil {
		t.Fatalf("the rolled-back delete removed the repository: %v", err)
	}
	fi.fail.Store(false)
	if err := db.DeleteRepository(ctx, "ns/gone"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, store.JobRepositoryGC, 1, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // ten polls: the rolled-back job would have run by now
	got := rec.all(store.JobRepositoryGC)
	if len(got) != 1 {
		t.Fatalf("%d repository_gc jobs ran, want 1", len(got))
	}
	var args store.RepositoryGCArgs
	if err := got[0].Decode(&args); err != nil || args.Repository != "ns/gone" {
		t.Fatalf("the job that ran is for %q (%v), want ns/gone", args.Repository, err)
	}
	waitStats(t, q, func(s jobs.Stats) bool { return total(s) == 1 && s["completed"] == 1 })
}

// A committed enqueue runs exactly once, even with two worker processes on
// the database, and carries what the store put in it.
func testCommitRunsOnce(t *testing.T, open opener) {
	ctx := context.Background()
	db, q, second := open(t, testOptions(t), plain)
	rec := &recorder{}
	w := jobs.Workers{Handlers: map[string]jobs.Handler{store.JobRepositoryGC: rec.handler(nil), "ping": rec.handler(nil)}}
	startWorkers(t, q, w)
	startWorkers(t, second(), w)
	if err := db.CreateUpload(ctx, "ns/with-upload", "upload-session-000000000001"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRepository(ctx, "ns/with-upload"); err != nil {
		t.Fatal(err)
	}
	const pings = 30
	for i := 0; i < pings; i++ {
		if _, err := q.Enqueue(ctx, "ping", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitFor(t, store.JobRepositoryGC, 1, 10*time.Second)
	rec.waitFor(t, "ping", pings, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	gc := rec.all(store.JobRepositoryGC)
	if len(gc) != 1 {
		t.Fatalf("repository_gc ran %d times, want once", len(gc))
	}
	var args store.RepositoryGCArgs
	if err := gc[0].Decode(&args); err != nil {
		t.Fatal(err)
	}
	if args.Repository != "ns/with-upload" || len(args.Uploads) != 1 || args.Uploads[0] != "upload-session-000000000001" {
		t.Fatalf("repository_gc args = %+v", args)
	}
	seen := map[int64]int{}
	for _, j := range rec.all("ping") {
		seen[j.ID]++
	}
	if len(seen) != pings {
		t.Fatalf("%d distinct ping jobs ran, want %d", len(seen), pings)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("ping job %d ran %d times", id, n)
		}
	}
	waitStats(t, q, func(s jobs.Stats) bool { return s["completed"] == pings+1 })
}

// A failing job runs again after the configured backoff until it succeeds.
func testRetryWithBackoff(t *testing.T, open opener) {
	ctx := context.Background()
	_, q, _ := open(t, testOptions(t), plain)
	rec := &recorder{}
	startWorkers(t, q, jobs.Workers{Handlers: map[string]jobs.Handler{"flaky": rec.handler(func(j jobs.Job) error {
		if j.Attempt < 3 {
			return fmt.Errorf("attempt %d fails", j.Attempt)
		}
		return nil
	})}})
	id, err := q.Enqueue(ctx, "flaky", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "flaky", 3, 15*time.Second)
	waitStats(t, q, func(s jobs.Stats) bool { return s["completed"] == 1 })
	runs, at := rec.allWithTimes("flaky")
	if len(runs) != 3 {
		t.Fatalf("flaky ran %d times, want 3", len(runs))
	}
	for i, j := range runs {
		if j.ID != id || j.Attempt != i+1 {
			t.Fatalf("run %d: job %d attempt %d, want job %d attempt %d", i, j.ID, j.Attempt, id, i+1)
		}
		if i > 0 {
			if gap := at[i].Sub(at[i-1]); gap < 300*time.Millisecond {
				t.Errorf("attempt %d came %v after the previous one, before the 300ms backoff", i+1, gap)
			}
		}
	}
}

// A periodic job is enqueued on start and then every interval.
func testPeriodic(t *testing.T, open opener) {
	_, q, _ := open(t, testOptions(t), plain)
	rec := &recorder{}
	startWorkers(t, q, jobs.Workers{
		Handlers: map[string]jobs.Handler{"tick": rec.handler(nil)},
		Periodic: []jobs.Periodic{{Kind: "tick", Interval: time.Second, Args: map[string]string{"what": "tick"}}},
	})
	rec.waitFor(t, "tick", 3, 20*time.Second)
	var args map[string]string
	if err := rec.all("tick")[0].Decode(&args); err != nil || args["what"] != "tick" {
		t.Fatalf("periodic args = %v, %v", args, err)
	}
}

// Store writes that enqueue, jobs that write to the store, and River's own
// bookkeeping share the database without deadlock or lost jobs.
func testConcurrentWithStoreWrites(t *testing.T, open opener) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, q, _ := open(t, testOptions(t), plain)
	rec := &recorder{}
	startWorkers(t, q, jobs.Workers{Concurrency: 4, Handlers: map[string]jobs.Handler{
		store.JobRepositoryGC: rec.handler(func(j jobs.Job) error {
			// A job that writes through the store's writer.
			var args store.RepositoryGCArgs
			if err := j.Decode(&args); err != nil {
				return err
			}
			for _, id := range args.Uploads {
				if err := db.DeleteUpload(ctx, id); err != nil {
					return err
				}
			}
			_, err := db.EnsureRepository(ctx, args.Repository+"-after")
			return err
		}),
		"ping": rec.handler(nil),
	}})
	const writers, rounds = 6, 15
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, writers+1)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				name := fmt.Sprintf("ns/r%d-%d", w, i)
				if err := db.CreateUpload(ctx, name, fmt.Sprintf("upload-%d-%d-0000000000000", w, i)); err != nil {
					errc <- err
					return
				}
				if err := db.DeleteRepository(ctx, name); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < writers*rounds; i++ {
			if _, err := q.Enqueue(ctx, "ping", nil); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	rec.waitFor(t, store.JobRepositoryGC, writers*rounds, time.Minute)
	rec.waitFor(t, "ping", writers*rounds, time.Minute)
	waitStats(t, q, func(s jobs.Stats) bool { return s["completed"] == 2*writers*rounds })
	t.Logf("%d store deletes with enqueue, %d plain enqueues and their jobs in %v", writers*rounds, writers*rounds, time.Since(start))
	if n := len(rec.all(store.JobRepositoryGC)); n != writers*rounds {
		t.Fatalf("repository_gc ran %d times, want %d", n, writers*rounds)
	}
}

func startWorkers(t *testing.T, q *jobs.Queue, w jobs.Workers) {
	t.Helper()
	r, err := q.Start(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

func total(s jobs.Stats) int {
	n := 0
	for _, v := range s {
		n += v
	}
	return n
}

func waitStats(t *testing.T, q *jobs.Queue, ok func(jobs.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := q.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job stats never matched: %v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recorder records the jobs its handlers ran.
type recorder struct {
	mu   sync.Mutex
	jobs []jobs.Job
	at   []time.Time
}

// handler records a job and then returns fn's verdict (nil fn: success).
func (r *recorder) handler(fn func(jobs.Job) error) jobs.Handler {
	return func(ctx context.Context, j jobs.Job) error {
		r.mu.Lock()
		r.jobs = append(r.jobs, j)
		r.at = append(r.at, time.Now())
		r.mu.Unlock()
		if fn != nil {
			return fn(j)
		}
		return nil
	}
}

func (r *recorder) allWithTimes(kind string) ([]jobs.Job, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var js []jobs.Job
	var at []time.Time
	for i, j := range r.jobs {
		if j.Kind == kind {
			js = append(js, j)
			at = append(at, r.at[i])
		}
	}
	return js, at
}

func (r *recorder) all(kind string) []jobs.Job {
	js, _ := r.allWithTimes(kind)
	return js
}

func (r *recorder) waitFor(t *testing.T, kind string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(r.all(kind)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s jobs ran within %v, want %d", len(r.all(kind)), kind, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testWriter sends log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", p)
	return len(p), nil
}

var _ io.Writer = testWriter{}
