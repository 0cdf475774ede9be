package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestJobs runs four processes on one PostgreSQL database and S3 bucket: two
// with every role (A, B), one web-only (W) and one worker-only (K).
// Repository deletes through any HTTP replica, the web-only one included,
// enqueue a repository_gc job in the delete's transaction; each job runs
// exactly once across the workers, never on W. With A and B stopped, K alone
// works the jobs W enqueues.
func TestJobs(t *testing.T) {
	so := startScaleOut(t)
	a := startServer(t, "--config", so.config)
	b := startServer(t, "--config", so.config)
	w := startServer(t, "--config", so.config, "--role", "web")
	k := startWorkerProcess(t, "--config", so.config)
	init := apiJSON(t, a, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "ops", "password": "ops-password-123", "access_token": true}, 200)
	token, _ := init["access_token"].(string)
	if token == "" {
		t.Fatalf("initialize: %v", init)
	}
	c := &haClient{t: t, user: "ops", pass: "ops-password-123"}

	// The worker serves health checks, not the registry.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v2/": 404, "/api/v1/discovery": 404} {
		resp, err := http.Get(k.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("worker GET %s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}

	// Each repository gets an upload session (its bytes are what the job
	// removes), then is deleted through one of the HTTP replicas.
	deleteRepos := func(names []string, via ...*server) {
		t.Helper()
		for i, name := range names {
			srv := via[i%len(via)]
			c.expect(c.do("POST", srv.URL+"/v2/"+name+"/blobs/uploads/", nil), 202, "start upload in "+name)
			apiJSON(t, srv, token, "DELETE", "/api/v1/repository/"+name, nil, 204)
		}
	}
	all := []*server{a, b, w, k}
	var first []string
	for i := 0; i < 12; i++ {
		first = append(first, fmt.Sprintf("ops/jobs-%d", i))
	}
	deleteRepos(first, a, b, w)
	done := waitJobsDone(t, all, "repository_gc", len(first))
	time.Sleep(2 * time.Second) // a job run twice would show up now
	done = jobsDone(t, all, "repository_gc")
	checkOnce(t, done, first)
	if n := len(done[w]); n != 0 {
		t.Errorf("the web-only replica ran %d jobs", n)
	}
	t.Logf("repository_gc jobs per replica: A %d, B %d, W %d, K %d", len(done[a]), len(done[b]), len(done[w]), len(done[k]))

	// Only the worker is left to work what the web replica enqueues.
	for _, s := range []*server{a, b} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	var second []string
	for i := 0; i < 4; i++ {
		second = append(second, fmt.Sprintf("ops/later-%d", i))
	}
	deleteRepos(second, w)
	waitJobsDone(t, all, "repository_gc", len(first)+len(second))
	time.Sleep(time.Second)
	done = jobsDone(t, all, "repository_gc")
	checkOnce(t, done, append(first, second...))
	if n := len(done[k]); n < len(second) {
		t.Errorf("the worker ran %d jobs, want at least the %d enqueued after the others stopped", n, len(second))
	}
	if n := len(done[w]); n != 0 {
		t.Errorf("the web-only replica ran %d jobs", n)
	}
	// The periodic upload clean-ups run on the elected leader (K by now, if
	// not before), never on W.
	waitJobsDone(t, all, "upload_expiry", 1)
	if n := len(jobsDone(t, all, "upload_expiry")[w]); n != 0 {
		t.Errorf("the web-only replica ran %d periodic jobs", n)
	}
	for _, s := range all {
		for _, line := range strings.Split(s.Log(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("replica %s logged: %s", s.Host, line)
			}
		}
	}
}

// startWorkerProcess starts `wharf serve --role worker`, which answers health
// checks but not /v2/, so it is ready when /healthz answers.
func startWorkerProcess(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	s := &server{t: t, DataDir: t.TempDir(), Args: append([]string{"--role", "worker"}, extraArgs...), log: &syncBuffer{}}
	s.Host = freeAddr(t)
	s.URL = "http://" + s.Host
	cmd := exec.Command(wharfBin, append([]string{"serve", "--listen", s.Host, "--data", s.DataDir}, s.Args...)...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting wharf: %v", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("wharf worker log (last 4 KiB):\n%s", s.log.Tail(4096))
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("wharf worker exited:\n%s", s.log.Tail(4096))
		case <-ctx.Done():
			t.Fatalf("wharf worker did not become ready:\n%s", s.log.Tail(4096))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// jobLine is a "job done" log line.
type jobLine struct {
	Msg  string `json:"msg"`
	Kind string `json:"kind"`
	ID   int64  `json:"job_id"`
}

// jobsDone returns, per process, the ids of the jobs of kind it logged as
// done.
func jobsDone(t *testing.T, procs []*server, kind string) map[*server][]int64 {
	t.Helper()
	out := map[*server][]int64{}
	for _, s := range procs {
		for _, line := range strings.Split(s.Log(), "\n") {
			if !strings.Contains(line, `"job done"`) {
				continue
			}
			var l jobLine
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if l.Msg == "job done" && l.Kind == kind {
				out[s] = append(out[s], l.ID)
			}
		}
	}
	return out
}

func countAll(done map[*server][]int64) int {
	n := 0
	for _, ids := range done {
		n += len(ids)
	}
	return n
}

func waitJobsDone(t *testing.T, procs []*server, kind string, n int) map[*server][]int64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := jobsDone(t, procs, kind)
		if countAll(done) >= n {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s jobs done within 60s, want %d", countAll(done), kind, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkOnce checks that one job per deleted repository ran, once.
func checkOnce(t *testing.T, done map[*server][]int64, repos []string) {
	t.Helper()
	seen := map[int64]int{}
	for _, ids := range done {
		for _, id := range ids {
			seen[id]++
		}
	}
	if len(seen) != len(repos) {
		t.Errorf("%d distinct repository_gc jobs ran, want %d (one per deleted repository)", len(seen), len(repos))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %d ran %d times across the replicas", id, n)
		}
	}
}
