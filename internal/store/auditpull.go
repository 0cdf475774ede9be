package store

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// PullLogOptions configures a PullLog.
type PullLogOptions struct {
	// Mode is core.PullLogOff, core.PullLogSampled or core.PullLogAll.
	Mode string
	// SampleRate is the fraction of pulls logged in sampled mode (0..1).
	SampleRate float64
	// FlushInterval is how often buffered entries are written (default 1s).
	FlushInterval time.Duration
	// BatchSize writes a batch as soon as this many entries wait (default
	// 500).
	BatchSize int
	// BufferSize bounds the waiting entries; a pull that finds the buffer
	// full is not logged and counted in Dropped (default 10000).
	BufferSize int
	Log        *slog.Logger
}

// PullLog writes pull_repo audit entries off the pull path: Record only
// queues the entry; a goroutine writes the queue in batches, one
// transaction per batch, every FlushInterval or BatchSize entries, and on
// Close. It is safe for concurrent use; a nil *PullLog logs nothing.
type PullLog struct {
	db      *DB
	opts    PullLogOptions
	ch      chan pullEntry
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped atomic.Int64
	failed  atomic.Int64
}

type pullEntry struct {
	repo  string
	actor core.Actor
	meta  map[string]any
	at    int64
}

// NewPullLog starts a pull logger (nil when opts.Mode is off).
func (db *DB) NewPullLog(opts PullLogOptions) *PullLog {
	if opts.Mode != core.PullLogAll && opts.Mode != core.PullLogSampled {
		return nil
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 10000
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	p := &PullLog{db: db, opts: opts, ch: make(chan pullEntry, opts.BufferSize), flushes: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Record queues a pull of repository (a full name) by the actor of ctx.
// It never blocks.
func (p *PullLog) Record(ctx context.Context, repository string, meta map[string]any) {
	if p == nil {
		return
	}
	if p.opts.Mode == core.PullLogSampled && rand.Float64() >= p.opts.SampleRate {
		return
	}
	a, _ := core.ActorFrom(ctx)
	select {
	case p.ch <- pullEntry{repo: repository, actor: a, meta: meta, at: p.db.nowMs()}:
	default:
		p.dropped.Add(1)
	}
}

// Dropped is the number of pulls not logged because the buffer was full.
func (p *PullLog) Dropped() int64 {
	if p == nil {
		return 0
	}
	return p.dropped.Load()
}

// Flush writes what is queued now and returns when it is written.
func (p *PullLog) Flush(ctx context.Context) {
	if p == nil {
		return
	}
	ack := make(chan struct{})
	select {
	case p.flushes <- ack:
	case <-p.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-ack:
	case <-ctx.Done():
	}
}

// Close writes what is queued and stops the logger.
func (p *PullLog) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

func (p *PullLog) run() {
	defer close(p.done)
	tick := time.NewTicker(p.opts.FlushInterval)
	defer tick.Stop()
	var batch []pullEntry
	var reported int64
	write := func() {
		if d := p.dropped.Load(); d > reported {
			p.opts.Log.Warn("pull audit log buffer full: pulls not logged", "dropped", d-reported, "dropped_total", d)
			reported = d
		}
		for len(p.ch) > 0 && len(batch) < p.opts.BatchSize {
			batch = append(batch, <-p.ch)
		}
		if len(batch) == 0 {
			return
		}
		if err := p.write(batch); err != nil {
			p.failed.Add(int64(len(batch)))
			p.opts.Log.Warn("writing pull audit log entries", "entries", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case e := <-p.ch:
			batch = append(batch, e)
			if len(batch) >= p.opts.BatchSize {
				write()
			}
		case <-tick.C:
			write()
		case ack := <-p.flushes:
			for len(p.ch) > 0 {
				write()
			}
			write()
			close(ack)
		case <-p.stop:
			for len(p.ch) > 0 {
				write()
			}
			write()
			return
		}
	}
}

// write inserts a batch in one transaction. A repository deleted meanwhile
// is logged without its ids.
func (p *PullLog) write(batch []pullEntry) error {
	ctx := context.Background()
	return p.db.write(ctx, func(t *tx) error {
		type target struct {
			nsID, repoID     int64
			ns, nsKind, name string
		}
		targets := map[string]target{}
		type performer struct {
			id   int64
			kind string
		}
		performers := map[string]performer{} // by name: a token names its subject only
		for _, e := range batch {
			if e.actor.UserID == 0 && e.actor.Username != "" {
				pf, ok := performers[e.actor.Username]
				if !ok {
					_ = t.queryRow(ctx, `SELECT id, kind FROM users WHERE username = ?`, e.actor.Username).Scan(&pf.id, &pf.kind)
					performers[e.actor.Username] = pf
				}
				e.actor.UserID = pf.id
				if e.actor.Kind == "" {
					e.actor.Kind = pf.kind
				}
			}
			tg, ok := targets[e.repo]
			if !ok {
				ns, name, _ := strings.Cut(e.repo, "/")
				tg = target{ns: ns, name: name}
				if r, err := getRepo(ctx, t, e.repo); err == nil {
					tg.repoID = r.ID
				}
				// A repository not (or no longer) there is logged in its
				// namespace, by name.
				if err := t.queryRow(ctx, `SELECT id, kind FROM namespaces WHERE name = ?`, ns).Scan(&tg.nsID, &tg.nsKind); err != nil {
					tg.ns, tg.name = "", ""
				}
				targets[e.repo] = tg
			}
			en := core.AuditEntry{Kind: core.LogPullRepo, PerformerID: e.actor.UserID, PerformerName: e.actor.Username,
				PerformerKind: e.actor.Kind, PerformerAuth: e.actor.Auth, IP: e.actor.IP,
				NamespaceID: tg.nsID, Namespace: tg.ns, NamespaceKind: tg.nsKind, RepositoryID: tg.repoID, Repository: tg.name, Metadata: e.meta}
			if tg.repoID == 0 {
				if en.Metadata == nil {
					en.Metadata = map[string]any{}
				}
				en.Metadata["repository"] = e.repo
			}
			if err := insertAudit(ctx, t, en, e.at); err != nil {
				return err
			}
		}
		return nil
	})
}
