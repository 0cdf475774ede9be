package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharfhq/wharf/internal/gc"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// workMetrics are the metrics of background work: the job queue, job
// outcomes, garbage collection and scans. Labels are bounded: job kinds
// and states, scan statuses; never a repository or user.
type workMetrics struct {
	jobRuns      *prometheus.CounterVec
	jobDuration  *prometheus.HistogramVec
	gcRuns       *prometheus.CounterVec
	gcManifests  prometheus.Counter
	gcBlobs      prometheus.Counter
	gcBytes      prometheus.Counter
	gcTagRows    prometheus.Counter
	scans        *prometheus.CounterVec
	scanDuration prometheus.Histogram
	matchTime    prometheus.Histogram
}

var workBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}

// newWorkMetrics registers the metrics of background work on reg; queue
// depth is read from q at each scrape.
func newWorkMetrics(reg prometheus.Registerer, q *jobs.Queue) *workMetrics {
	m := &workMetrics{
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_job_runs_total", Help: "Job attempts worked by this process, by kind and outcome (success, error).",
		}, []string{"kind", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_job_duration_seconds", Help: "Duration of job attempts by kind.", Buckets: workBuckets,
		}, []string{"kind"}),
		gcRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_gc_runs_total", Help: "Garbage-collection runs by outcome (success, error).",
		}, []string{"outcome"}),
		gcManifests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_manifests_removed_total", Help: "Manifests removed by garbage collection.",
		}),
		gcBlobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_blobs_removed_total", Help: "Blobs deleted from storage by garbage collection.",
		}),
		gcBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_bytes_removed_total", Help: "Bytes freed by garbage collection (blobs and manifests).",
		}),
		gcTagRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_tag_history_removed_total", Help: "Tag history rows removed after the time-machine window.",
		}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_scans_total", Help: "Scan jobs by result (scanned, unsupported, failed, error: retried).",
		}, []string{"result"}),
		scanDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "wharf_scan_duration_seconds", Help: "Duration of scan jobs (indexing and matching).", Buckets: workBuckets,
		}),
		matchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "wharf_scan_match_duration_seconds", Help: "Duration of matching an image against vulnerability data (scans and rescans).",
			Buckets: workBuckets,
		}),
	}
	reg.MustRegister(m.jobRuns, m.jobDuration, m.gcRuns, m.gcManifests, m.gcBlobs, m.gcBytes, m.gcTagRows,
		m.scans, m.scanDuration, m.matchTime, &queueCollector{q: q})
	return m
}

// instrument counts the attempts of every handler of w.
func (m *workMetrics) instrument(w *jobs.Workers) {
	for kind, h := range w.Handlers {
		w.Handlers[kind] = func(ctx context.Context, j jobs.Job) error {
			start := time.Now()
			err := h(ctx, j)
			outcome := "success"
			if err != nil {
				outcome = "error"
			}
			m.jobRuns.WithLabelValues(kind, outcome).Inc()
			m.jobDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
			return err
		}
	}
}

// gc counts a garbage-collection run.
func (m *workMetrics) gc(r gc.Report, err error) {
	if err != nil {
		m.gcRuns.WithLabelValues("error").Inc()
	} else {
		m.gcRuns.WithLabelValues("success").Inc()
	}
	m.gcManifests.Add(float64(r.Manifests))
	m.gcBlobs.Add(float64(r.Blobs))
	m.gcBytes.Add(float64(r.BlobBytes + r.ManifestBytes))
	m.gcTagRows.Add(float64(r.TagRows))
}

func (m *workMetrics) scan(status string, d time.Duration) {
	m.scans.WithLabelValues(status).Inc()
	m.scanDuration.Observe(d.Seconds())
}

func (m *workMetrics) match(d time.Duration) { m.matchTime.Observe(d.Seconds()) }

// queueStates are River's job states, reported even when zero.
var queueStates = []string{"available", "scheduled", "running", "retryable", "completed", "discarded", "cancelled", "pending"}

// jobKinds are the kinds of job wharf enqueues: the fixed label values of
// wharf_jobs_by_kind. A job of any other kind (one of another version,
// say) is counted under "other".
var jobKinds = []string{
	jobUploadExpiry, jobUploadOrphans, jobTagExpiry, jobAutopruneAll, jobScanRequeue, jobGC, jobAuditRetention,
	jobImageExpiryNotify, jobVulnDataUpdate, jobBlobDeletions, jobMirrorSchedule,
	store.JobNotification, store.JobAutoprune, store.JobQuotaRecount, store.JobScanManifest, store.JobRepositoryGC,
	store.JobExportLogs, store.JobScanRematch, store.JobScanRematchKeys, store.JobReplicateBlob, store.JobMirrorSync,
	store.JobOrgMirrorDiscover,
}

// otherKind labels the jobs of kinds not in jobKinds.
const otherKind = "other"

// queueCollector reports the jobs in the queue by state, and by kind and
// state, at each scrape (one query).
type queueCollector struct{ q *jobs.Queue }

var (
	queueDesc = prometheus.NewDesc("wharf_jobs", "Jobs in the queue by state (all kinds, all processes).", []string{"state"}, nil)
	kindDesc  = prometheus.NewDesc("wharf_jobs_by_kind",
		"Jobs in the queue by kind and state (all processes); kinds outside wharf's own are counted as \"other\".",
		[]string{"kind", "state"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- kindDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	byKind, err := c.q.KindStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		ch <- prometheus.NewInvalidMetric(kindDesc, err)
		return
	}
	total, kinds := foldKinds(byKind)
	for _, s := range queueStates {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(total[s]), s)
	}
	for i := 0; i <= len(jobKinds); i++ {
		k := otherKind
		if i < len(jobKinds) {
			k = jobKinds[i]
		}
		for _, s := range queueStates {
			ch <- prometheus.MustNewConstMetric(kindDesc, prometheus.GaugeValue, float64(kinds[k][s]), k, s)
		}
	}
}

// foldKinds sums the counts by state, and folds the kinds outside jobKinds
// into otherKind (bounded labels).
func foldKinds(byKind map[string]jobs.Stats) (jobs.Stats, map[string]jobs.Stats) {
	known := make(map[string]bool, len(jobKinds))
	for _, k := range jobKinds {
		known[k] = true
	}
	total := jobs.Stats{}
	kinds := map[string]jobs.Stats{}
	for k, st := range byKind {
		if !known[k] {
			k = otherKind
		}
		if kinds[k] == nil {
			kinds[k] = jobs.Stats{}
		}
		for s, n := range st {
			total[s] += n
			kinds[k][s] += n
		}
	}
	return total, kinds
}
