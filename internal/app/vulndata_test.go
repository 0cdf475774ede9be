package app

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/jobs"
)

// vulnFeed serves a zip of OSV records and a CSAF file with ETag and
// Last-Modified (http.ServeContent answers conditional requests), and a
// broken source; it counts answers by status per path.
type vulnFeed struct {
	mu      sync.Mutex
	zip     []byte
	etag    string
	mod     time.Time
	csaf    []byte
	answers map[string][]int
}

func (f *vulnFeed) setZip(t *testing.T, files ...string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(vulnData, "osv", "npm", name))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.zip = buf.Bytes()
	f.etag = fmt.Sprintf(`"v%d"`, len(files))
	f.mod = time.Date(2026, 1, len(files), 0, 0, 0, 0, time.UTC)
}

func (f *vulnFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		f.mu.Lock()
		f.answers[r.URL.Path] = append(f.answers[r.URL.Path], rec.status)
		f.mu.Unlock()
	}()
	f.mu.Lock()
	z, etag, mod, csaf := f.zip, f.etag, f.mod, f.csaf
	f.mu.Unlock()
	switch r.URL.Path {
	case "/npm/all.zip":
		rec.Header().Set("ETag", etag)
		http.ServeContent(rec, r, "all.zip", mod, bytes.NewReader(z))
	case "/csaf/cve-2023-20862.json":
		rec.Header().Set("ETag", `"csaf"`)
		http.ServeContent(rec, r, "", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(csaf))
	default:
		http.Error(rec, "gone", http.StatusInternalServerError)
	}
}

func (f *vulnFeed) statuses(path string) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.answers[path])
}

// The periodic vulnerability data download: sources are fetched with
// conditional requests, imported when changed, and what changed queues
// the rescan of the manifests it concerns; a failing source is recorded
// and does not stop the others.
func TestVulnerabilityDataDownload(t *testing.T) {
	csaf, err := os.ReadFile(filepath.Join(vulnData, "csaf", "CVE-2023-20862.json"))
	if err != nil {
		t.Fatal(err)
	}
	feed := &vulnFeed{csaf: csaf, answers: map[string][]int{}}
	feed.setZip(t, "GHSA-35jh-r3h4-6jhm.json")
	srv := httptest.NewServer(feed)
	defer srv.Close()
	zipURL, csafURL, brokenURL := srv.URL+"/npm/all.zip", srv.URL+"/csaf/cve-2023-20862.json", srv.URL+"/broken.zip"
	s := startNotifyServer(t, func(c *config.Config) {
		c.SecurityScanner = true
		c.VulnerabilityDataSources = []string{zipURL, csafURL, brokenURL}
		c.VulnerabilityDataInterval = config.Duration(time.Hour)
	})
	ctx := t.Context()
	// The job runs when the workers start.
	waitFor(t, "the first download", func() bool {
		st, err := s.a.db.VulnSource(ctx, brokenURL)
		return err == nil && st.Error != ""
	})
	drainJobs(t, s.a)
	if got := feed.statuses("/npm/all.zip"); !slices.Equal(got, []int{200}) {
		t.Fatalf("zip answers %v", got)
	}
	zs, err := s.a.db.VulnSource(ctx, zipURL)
	if err != nil || zs.ETag != `"v1"` || zs.LastModified != "Thu, 01 Jan 2026 00:00:00 GMT" || zs.Error != "" || zs.ChangedAt.IsZero() {
		t.Fatalf("zip source %+v %v", zs, err)
	}
	n, err := s.a.db.CountVulnerabilities(ctx)
	if err != nil || n < 2 {
		t.Fatalf("%d records after the first download, %v", n, err)
	}

	alice := apiToken(t, s.a, "alice")
	d := pushImage(t, s.host, "alice/app:v1", tarBytes(t, dirFiles(t, filepath.Join(scannerFixtures, "npm-vulnerable"), "app/")))
	if got := findings(t, waitScanned(t, s.host, alice, "alice/app", d)); len(got) != 1 || got[0].vuln != "GHSA-35jh-r3h4-6jhm" {
		t.Fatalf("findings with the first data: %v", got)
	}

	// Nothing changed upstream: 304s, nothing imported.
	if err := s.a.updateVulnerabilityData(ctx, jobs.Job{}); err != nil {
		t.Fatal(err)
	}
	if got := feed.statuses("/npm/all.zip"); !slices.Equal(got, []int{200, 304}) {
		t.Fatalf("zip answers %v", got)
	}
	if got := feed.statuses("/csaf/cve-2023-20862.json"); !slices.Equal(got, []int{200, 304}) {
		t.Fatalf("csaf answers %v", got)
	}
	if m, _ := s.a.db.CountVulnerabilities(ctx); m != n {
		t.Fatalf("%d records after a 304, want %d", m, n)
	}

	// The archive grows: downloaded, imported, and the image rescanned by
	// a job without being pushed again.
	feed.setZip(t, "GHSA-35jh-r3h4-6jhm.json", "GHSA-29mw-wpgm-hmr9.json", "GHSA-9c47-m6qq-7p4h.json")
	if err := s.a.updateVulnerabilityData(ctx, jobs.Job{}); err != nil {
		t.Fatal(err)
	}
	if got := feed.statuses("/npm/all.zip"); !slices.Equal(got, []int{200, 304, 200}) {
		t.Fatalf("zip answers %v", got)
	}
	waitFor(t, "the rescan", func() bool {
		return len(findings(t, getSecurity(t, s.host, alice, "alice/app", d, 200))) == 3
	})
	if zs, _ := s.a.db.VulnSource(ctx, zipURL); zs.ETag != `"v3"` {
		t.Fatalf("zip source after the update %+v", zs)
	}
	if bs, _ := s.a.db.VulnSource(ctx, brokenURL); bs.Error == "" || !bs.ChangedAt.Equal(time.UnixMilli(0)) {
		t.Fatalf("broken source %+v", bs)
	}
}
