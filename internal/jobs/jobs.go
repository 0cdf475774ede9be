package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wharfhq/wharf/internal/store"
)

// Handler works one job. An error fails the attempt: River runs the job again
// later, with backoff, until it has had MaxAttempts attempts. Handlers must be
// safe to run more than once for the same job.
type Handler func(ctx context.Context, job Job) error

// Job is one job handed to a Handler.
type Job struct {
	ID      int64
	Kind    string
	Attempt int // 1 on the first attempt
	Args    json.RawMessage
}

// Decode unmarshals the job's arguments into v.
func (j Job) Decode(v any) error {
	if err := json.Unmarshal(j.Args, v); err != nil {
		return fmt.Errorf("job %s %d: decode args: %w", j.Kind, j.ID, err)
	}
	return nil
}

// Periodic is a job the elected leader among the workers enqueues every
// Interval (and once when it starts leading).
type Periodic struct {
	Kind     string
	Interval time.Duration // at least a second
	Args     any           // nil: {}
}

// Workers is what a worker process runs: a handler per job kind and the
// periodic jobs (each periodic kind needs a handler).
type Workers struct {
	Handlers map[string]Handler
	Periodic []Periodic
	// Concurrency bounds jobs worked at once by this process (default 10).
	Concurrency int
	// Backoff overrides the queue's retry backoff for some kinds: the wait
	// before the attempt after the given failed one (1-based).
	Backoff map[string]func(attempt int) time.Duration
}

// Options tune a Queue.
type Options struct {
	// Log receives "job done" / "job failed" lines; River's own messages
	// are passed on from warnings up.
	Log *slog.Logger
	// PollInterval is how often idle workers look for new jobs (default
	// 1s). On PostgreSQL new jobs are announced with NOTIFY as well.
	PollInterval time.Duration
	// MaxAttempts is how often a job is tried before it is discarded
	// (default River's, 25).
	MaxAttempts int
	// Backoff is the wait before the attempt after the given failed one
	// (1-based); nil uses River's (attempt^4 seconds, jittered).
	Backoff func(attempt int) time.Duration
	// JobTimeout cancels a handler's context after this long (default 15
	// minutes).
	JobTimeout time.Duration
	// StopTimeout bounds how long Runner.Stop lets running jobs finish
	// before cancelling their contexts (default 30s).
	StopTimeout time.Duration
	// MaxConns bounds River's own PostgreSQL connections (default 8).
	MaxConns int
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 15 * time.Minute
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
}

// Queue enqueues jobs and starts workers. It is safe for concurrent use.
type Queue struct {
	opts Options
	eng  engine
}

// Stats counts jobs by state (available, scheduled, running, retryable,
// completed, discarded, cancelled, pending). River removes completed and
// cancelled jobs after a day, discarded ones after a week.
type Stats map[string]int

// Enqueue adds a job of kind with JSON-encodable args and returns its id.
func (q *Queue) Enqueue(ctx context.Context, kind string, args any) (int64, error) {
	a, err := newArgs(kind, args)
	if err != nil {
		return 0, err
	}
	res, err := q.eng.insert(ctx, a, q.insertOpts())
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return res.Job.ID, nil
}

// EnqueueTx adds a job inside an open store write transaction: the job exists
// if and only if that transaction commits.
func (q *Queue) EnqueueTx(ctx context.Context, tx store.JobTx, kind string, args any) (int64, error) {
	a, err := newArgs(kind, args)
	if err != nil {
		return 0, err
	}
	res, err := q.eng.insertTx(ctx, tx, a, q.insertOpts())
	if err != nil {
		return 0, fmt.Errorf("enqueue %s in transaction: %w", kind, err)
	}
	return res.Job.ID, nil
}

// InsertTx is EnqueueTx for the store (store.JobInserter).
func (q *Queue) InsertTx(ctx context.Context, tx store.JobTx, kind string, args any) error {
	_, err := q.EnqueueTx(ctx, tx, kind, args)
	return err
}

func (q *Queue) insertOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: q.opts.MaxAttempts}
}

// Stats counts the jobs in the queue by state.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	m, err := q.eng.counts(ctx)
	if err != nil {
		return nil, fmt.Errorf("job stats: %w", err)
	}
	out := Stats{}
	for state, n := range m {
		out[string(state)] = n
	}
	return out, nil
}

// KindStats counts the jobs in the queue by kind, then state. Kinds are
// whatever was enqueued: a caller that exports them bounds them itself.
func (q *Queue) KindStats(ctx context.Context) (map[string]Stats, error) {
	m, err := q.eng.countsByKind(ctx)
	if err != nil {
		return nil, fmt.Errorf("job stats by kind: %w", err)
	}
	return m, nil
}

// Close releases the queue's connections. Stop any Runner first.
func (q *Queue) Close() error { return q.eng.close() }

// Runner is a started set of workers.
type Runner struct {
	client interface {
		Stop(ctx context.Context) error
	}
	timeout time.Duration
}

// Start starts working jobs with w until Stop. Several processes (replicas)
// may run workers on one PostgreSQL database; each job runs on one of them.
func (q *Queue) Start(ctx context.Context, w Workers) (*Runner, error) {
	cfg, err := q.workerConfig(w)
	if err != nil {
		return nil, err
	}
	c, err := q.eng.start(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return nil, fmt.Errorf("start workers: %w", err)
	}
	return &Runner{client: c, timeout: q.opts.StopTimeout}, nil
}

// Stop stops fetching jobs and waits for running ones: up to the StopTimeout,
// then their contexts are cancelled (an interrupted job runs again later).
func (r *Runner) Stop(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout+10*time.Second)
	defer cancel()
	if err := r.client.Stop(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stop workers: %w", err)
	}
	return nil
}

// baseConfig is the River configuration shared by inserting and working
// clients.
func (q *Queue) baseConfig() *river.Config {
	cfg := &river.Config{
		Logger:            riverLogger(q.opts.Log),
		MaxAttempts:       q.opts.MaxAttempts,
		FetchPollInterval: q.opts.PollInterval,
		FetchCooldown:     min(river.FetchCooldownDefault, q.opts.PollInterval),
		JobTimeout:        q.opts.JobTimeout,
		SoftStopTimeout:   q.opts.StopTimeout,
	}
	if q.opts.Backoff != nil {
		cfg.RetryPolicy = backoffPolicy(q.opts.Backoff)
	}
	return cfg
}

func (q *Queue) workerConfig(w Workers) (*river.Config, error) {
	cfg := q.baseConfig()
	cfg.Workers = river.NewWorkers()
	for kind, h := range w.Handlers {
		if h == nil {
			return nil, fmt.Errorf("jobs: nil handler for %q", kind)
		}
		// One Go type (rawArgs) serves every kind, so workers are
		// registered with an args value naming the kind.
		river.AddWorkerArgs(cfg.Workers, rawArgs{kind: kind}, &worker{kind: kind, h: h, log: q.opts.Log, backoff: w.Backoff[kind]})
	}
	for _, p := range w.Periodic {
		if w.Handlers[p.Kind] == nil {
			return nil, fmt.Errorf("jobs: periodic job %q has no handler", p.Kind)
		}
		if p.Interval < time.Second {
			return nil, fmt.Errorf("jobs: periodic job %q: interval %s is under a second", p.Kind, p.Interval)
		}
		a, err := newArgs(p.Kind, p.Args)
		if err != nil {
			return nil, err
		}
		opts := q.insertOpts()
		// A new leader's first insert does not repeat the previous
		// leader's within the same interval.
		opts.UniqueOpts = river.UniqueOpts{ByPeriod: p.Interval}
		cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(p.Interval),
			func() (river.JobArgs, *river.InsertOpts) { return a, opts },
			&river.PeriodicJobOpts{ID: p.Kind, RunOnStart: true}))
	}
	n := w.Concurrency
	if n <= 0 {
		n = 10
	}
	cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}}
	return cfg, nil
}

// rawArgs carries any kind's JSON arguments through River.
type rawArgs struct {
	kind string
	data json.RawMessage
}

func newArgs(kind string, args any) (rawArgs, error) {
	if kind == "" {
		return rawArgs{}, errors.New("jobs: empty job kind")
	}
	if args == nil {
		return rawArgs{kind: kind, data: json.RawMessage("{}")}, nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		return rawArgs{}, fmt.Errorf("jobs: encode %s args: %w", kind, err)
	}
	return rawArgs{kind: kind, data: b}, nil
}

func (a rawArgs) Kind() string                 { return a.kind }
func (a rawArgs) MarshalJSON() ([]byte, error) { return a.data, nil }
func (a *rawArgs) UnmarshalJSON(b []byte) error {
	a.data = append(json.RawMessage(nil), b...)
	return nil
}

// worker runs a Handler for River and logs each outcome.
type worker struct {
	river.WorkerDefaults[rawArgs]
	kind    string
	h       Handler
	log     *slog.Logger
	backoff func(attempt int) time.Duration // nil: the queue's
}

// NextRetry is the kind's own backoff, if it has one (zero: the queue's).
func (w *worker) NextRetry(j *river.Job[rawArgs]) time.Time {
	if w.backoff == nil {
		return time.Time{}
	}
	return time.Now().Add(w.backoff(j.Attempt))
}

func (w *worker) Work(ctx context.Context, j *river.Job[rawArgs]) error {
	start := time.Now()
	err := w.h(ctx, Job{ID: j.ID, Kind: w.kind, Attempt: j.Attempt, Args: j.Args.data})
	attrs := []any{"kind", w.kind, "job_id", j.ID, "attempt", j.Attempt, "duration_ms", time.Since(start).Milliseconds()}
	if err != nil {
		w.log.WarnContext(ctx, "job failed", append(attrs, "max_attempts", j.MaxAttempts, "err", err)...)
		return err
	}
	w.log.InfoContext(ctx, "job done", attrs...)
	return nil
}

// backoffPolicy is a River retry policy from a function of the attempt.
type backoffPolicy func(attempt int) time.Duration

func (b backoffPolicy) NextRetry(j *rivertype.JobRow) time.Time {
	return time.Now().Add(b(j.Attempt))
}
