package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharfhq/wharf/internal/gc"
	"github.com/wharfhq/wharf/internal/jobs"
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

// queueCollector reports the jobs in the queue by state at each scrape.
type queueCollector struct{ q *jobs.Queue }

var queueDesc = prometheus.NewDesc("wharf_jobs", "Jobs in the queue by state (all kinds, all processes).", []string{"state"}, nil)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.q.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	for _, s := range queueStates {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st[s]), s)
	}
}
