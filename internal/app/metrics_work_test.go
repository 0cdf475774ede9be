package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	dto "github.com/prometheus/client_model/go"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/jobs"
)

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines decodes the JSON log lines written so far.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// startLogged runs an app whose log is captured as JSON, with alice.
func startLogged(t *testing.T, mod func(*config.Config)) (*App, string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AnonymousAccess = false
	if mod != nil {
		mod(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerHostname = ln.Addr().String()
	logs := &lockedBuffer{}
	a, err := New(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-served
		a.Close()
	})
	if _, err := a.CreateUser(ctx, "alice", "alice@example.com", "alice-password", false); err != nil {
		t.Fatal(err)
	}
	return a, ln.Addr().String(), logs
}

// The access log line of each request carries the request id, the actor
// (once authentication ran inside the handler), the repository of the
// route, the status, the bytes and the duration.
func TestAccessLogFields(t *testing.T) {
	a, host, logs := startLogged(t, nil)
	d := pushImage(t, host, "alice/app:v1", tarBytes(t, map[string]tarFile{"hello.txt": {body: "hello"}}))
	token := apiToken(t, a, "alice")
	apiGet(t, host, token, "/api/v1/repository/alice/app/tag/", 200)
	resp, err := http.Get("http://" + host + "/v2/alice/app/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	var push, api, anon map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] != "request" {
			continue
		}
		switch {
		case l["method"] == "PUT" && l["path"] == "/v2/alice/app/manifests/v1":
			push = l
		case l["method"] == "GET" && l["path"] == "/api/v1/repository/alice/app/tag/":
			api = l
		case l["method"] == "GET" && l["path"] == "/v2/alice/app/manifests/v1" && l["status"] == 401.0:
			anon = l
		}
	}
	if push == nil || api == nil || anon == nil {
		t.Fatalf("missing access log lines: push %v, api %v, anonymous %v", push, api, anon)
	}
	if push["actor"] != "alice" || push["repository"] != "alice/app" || push["status"] != 201.0 || push["bytes_in"].(float64) <= 0 ||
		push["request_id"] == "" || push["duration_ms"] == nil {
		t.Fatalf("push line %v (manifest %s)", push, d)
	}
	if api["actor"] != "alice" || api["repository"] != "alice/app" || api["status"] != 200.0 || api["bytes_out"].(float64) <= 0 {
		t.Fatalf("api line %v", api)
	}
	if _, ok := anon["actor"]; ok || anon["repository"] != "alice/app" {
		t.Fatalf("anonymous line %v", anon)
	}
}

func gaugeValue(f *dto.MetricFamily, label, value string) (float64, bool) {
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && lp.GetValue() == value {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// The metrics of background work: queue depth by state, job outcomes by
// kind, scans by result and matching time, garbage collection, database
// pools; no repository or user in any label.
func TestWorkMetrics(t *testing.T) {
	a, host, _ := startLogged(t, func(c *config.Config) {
		c.SecurityScanner = true
		c.GarbageCollectionGrace = 0
		c.DefaultTagExpiration = 0
	})
	alice := apiToken(t, a, "alice")
	d := pushImage(t, host, "alice/app:v1", tarBytes(t, dirFiles(t, filepath.Join(scannerFixtures, "npm-vulnerable"), "app/")))
	waitScanned(t, host, alice, "alice/app", d)
	drainJobs(t, a)
	ref, err := name.ParseReference(host+"/alice/app@"+d, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"})); err != nil {
		t.Fatal(err)
	}
	// The periodic GC job of the running app may run too: count this run
	// as the difference.
	gcBefore := 0.0
	if f := scrape(t, "http://"+host)["wharf_gc_runs_total"]; f != nil {
		gcBefore = counterValue(f, map[string]string{"outcome": "success"})
	}
	if err := a.collectGarbage(t.Context(), jobs.Job{}); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, "http://"+host)
	if f := fams["wharf_scans_total"]; f == nil || counterValue(f, map[string]string{"result": "scanned"}) < 1 {
		t.Fatalf("wharf_scans_total %v", f)
	}
	if f := fams["wharf_scan_match_duration_seconds"]; f == nil || f.GetMetric()[0].GetHistogram().GetSampleCount() < 1 {
		t.Fatalf("wharf_scan_match_duration_seconds %v", f)
	}
	if f := fams["wharf_job_runs_total"]; f == nil || counterValue(f, map[string]string{"kind": "scan_manifest", "outcome": "success"}) < 1 {
		t.Fatalf("wharf_job_runs_total %v", f)
	}
	jf := fams["wharf_jobs"]
	if jf == nil {
		t.Fatal("no wharf_jobs")
	}
	for _, st := range queueStates {
		if _, ok := gaugeValue(jf, "state", st); !ok {
			t.Errorf("wharf_jobs has no state %s", st)
		}
	}
	if c, _ := gaugeValue(jf, "state", "completed"); c < 1 {
		t.Errorf("wharf_jobs{state=completed} = %v", c)
	}
	checkJobsByKind(t, fams)
	if f := fams["wharf_gc_runs_total"]; f == nil || counterValue(f, map[string]string{"outcome": "success"}) < gcBefore+1 {
		t.Fatalf("wharf_gc_runs_total %v", f)
	}
	if f := fams["wharf_gc_manifests_removed_total"]; f == nil || f.GetMetric()[0].GetCounter().GetValue() < 1 {
		t.Fatalf("wharf_gc_manifests_removed_total %v", f)
	}
	if f := fams["wharf_gc_bytes_removed_total"]; f == nil || f.GetMetric()[0].GetCounter().GetValue() <= 0 {
		t.Fatalf("wharf_gc_bytes_removed_total %v", f)
	}
	for _, n := range []string{"go_sql_open_connections", "wharf_http_requests_in_flight", "wharf_http_request_bytes_total"} {
		if fams[n] == nil {
			t.Errorf("metric %s missing", n)
		}
	}
	for fname, f := range fams {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "alice") {
					t.Errorf("%s has a repository or user in label %s", fname, lp.GetName())
				}
			}
		}
	}
}

// checkJobsByKind checks wharf_jobs_by_kind: every known kind (and "other")
// with every state, nothing else, adding up to wharf_jobs, and the scans
// that ran counted under their kind.
func checkJobsByKind(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	kf := fams["wharf_jobs_by_kind"]
	if kf == nil {
		t.Fatal("no wharf_jobs_by_kind")
	}
	allowed := map[string]bool{otherKind: true}
	for _, k := range jobKinds {
		allowed[k] = true
	}
	if want := (len(jobKinds) + 1) * len(queueStates); len(kf.GetMetric()) != want {
		t.Errorf("wharf_jobs_by_kind has %d series, want %d", len(kf.GetMetric()), want)
	}
	sums := map[string]float64{}
	for _, m := range kf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if !allowed[labels["kind"]] {
			t.Errorf("wharf_jobs_by_kind has kind %q", labels["kind"])
		}
		sums[labels["state"]] += m.GetGauge().GetValue()
		if labels["kind"] == "scan_manifest" && labels["state"] == "completed" && m.GetGauge().GetValue() < 1 {
			t.Errorf("wharf_jobs_by_kind{kind=scan_manifest,state=completed} = %v", m.GetGauge().GetValue())
		}
	}
	for _, st := range queueStates {
		if v, _ := gaugeValue(fams["wharf_jobs"], "state", st); v != sums[st] {
			t.Errorf("state %s: wharf_jobs %v, sum of wharf_jobs_by_kind %v", st, v, sums[st])
		}
	}
}

// foldKinds keeps wharf's kinds, folds the others into "other" and sums
// the states.
func TestFoldJobKinds(t *testing.T) {
	total, kinds := foldKinds(map[string]jobs.Stats{
		"gc":          {"completed": 2, "available": 1},
		"old_kind":    {"available": 3},
		"another_old": {"available": 1, "discarded": 4},
	})
	if want := (jobs.Stats{"completed": 2, "available": 5, "discarded": 4}); !reflect.DeepEqual(total, want) {
		t.Errorf("total %v, want %v", total, want)
	}
	want := map[string]jobs.Stats{"gc": {"completed": 2, "available": 1}, otherKind: {"available": 4, "discarded": 4}}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

// Every kind this process works, with every feature on, has its own label
// value in wharf_jobs_by_kind.
func TestJobKindsComplete(t *testing.T) {
	a, _, _ := startLogged(t, func(c *config.Config) {
		c.SecurityScanner, c.GarbageCollection, c.RepoMirror, c.ActionLogRotation = true, true, true, true
	})
	known := map[string]bool{}
	for _, k := range jobKinds {
		if known[k] {
			t.Errorf("kind %s listed twice", k)
		}
		known[k] = true
	}
	for kind := range a.workers().Handlers {
		if !known[kind] {
			t.Errorf("job kind %s is not in jobKinds", kind)
		}
	}
}
