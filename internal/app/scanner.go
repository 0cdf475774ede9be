package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/scanner"
	"github.com/wharfhq/wharf/internal/store"
)

// The built-in vulnerability scanner. A pushed manifest is recorded as
// queued in the database and, in the same transaction, a scan_manifest job
// is enqueued (store.JobScanManifest); a worker process runs it once
// whatever the number of replicas. A periodic job queues again the scans
// whose job was lost (see scanRequeue).

// newScanner builds the scanner service. It exists whatever the feature
// flag says, so that `wharf admin vulndb import` works on any install; only
// scanning on push, the worker and the API depend on FEATURE_SECURITY_SCANNER.
func (a *App) newScanner() error {
	sc, err := scanner.New(a.db, a.blobs, a.log.With("component", "scanner"), scanner.Options{
		OnScan: func(status string, d time.Duration) {
			if a.work != nil {
				a.work.scan(status, d)
			}
		},
		OnMatch: func(d time.Duration) {
			if a.work != nil {
				a.work.match(d)
			}
		},
	})
	if err != nil {
		return err
	}
	a.scanner = sc
	return nil
}

// securityReports is what the API serves reports from: nil while the
// feature is off.
func (a *App) securityReports() api.SecurityReports {
	if !a.cfg.SecurityScanner {
		return nil
	}
	return a.scanner
}

// scanOnPush queues a scan of every manifest the registry accepts (a PUT
// of /v2/<name>/manifests/<ref> answered 201 with Docker-Content-Digest).
func (a *App) scanOnPush(next http.Handler) http.Handler {
	if !a.cfg.SecurityScanner {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			next.ServeHTTP(w, r)
			return
		}
		name, ok := manifestPutName(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status != http.StatusCreated {
			return
		}
		d, err := digest.Parse(w.Header().Get("Docker-Content-Digest"))
		if err != nil {
			return
		}
		if err := a.scanner.Enqueue(context.WithoutCancel(r.Context()), name, d); err != nil {
			a.log.Error("queue scan", "repository", name, "digest", string(d), "err", err)
		}
	})
}

// manifestPutName returns the repository of a /v2/<name>/manifests/<ref>
// path.
func manifestPutName(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 || strings.Contains(rest[i+len("/manifests/"):], "/") {
		return "", false
	}
	return rest[:i], true
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Scan job kinds and timings.
const (
	// jobScanRequeue is the periodic job that queues again the manifests
	// left queued without a job.
	jobScanRequeue = "scan_requeue"
	// scanRequeueInterval is how often it runs, and how long a scan must
	// have stayed queued to be queued again.
	scanRequeueInterval = 10 * time.Minute
)

// scanManifest works a scan_manifest job. With the feature off the job is
// dropped; the manifest stays queued and is queued again once the feature
// is on.
func (a *App) scanManifest(ctx context.Context, j jobs.Job) error {
	if !a.cfg.SecurityScanner {
		return nil
	}
	var args store.ScanManifestArgs
	if err := j.Decode(&args); err != nil {
		return err
	}
	return a.scanner.Work(ctx, args.Repository, args.Digest)
}

// scanRequeue queues again the scans still queued after
// scanRequeueInterval.
func (a *App) scanRequeue(ctx context.Context, _ jobs.Job) error {
	n, err := a.scanner.Requeue(ctx, scanRequeueInterval)
	if n > 0 {
		a.log.Info("queued scans again", "manifests", n)
	}
	return err
}

// ImportVulnerabilities imports vulnerability data (wharf admin vulndb
// import) and matches again the scanned manifests it concerns.
func (a *App) ImportVulnerabilities(ctx context.Context, paths []string) (scanner.ImportStats, error) {
	return a.scanner.Import(ctx, paths)
}

// RescanAll matches every scanned manifest again (wharf admin vulndb
// rescan).
func (a *App) RescanAll(ctx context.Context) (int, error) {
	return a.scanner.RescanAll(ctx)
}

// Scanner returns the scanner service.
func (a *App) Scanner() *scanner.Service { return a.scanner }
