package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Full-scale sizes and counts; -scale multiplies them.
const (
	bigBlobSize     = 1 << 30 // workloads push-mono, push-chunked, pull
	chunkSize       = 16 << 20
	midBlobSize     = 64 << 20 // pull-concurrent
	concurrentPulls = 16
	smallImages     = 500
	imagePushers    = 4
	imageRepos      = 5
	baseLayerPool   = 8 // 2 MiB layers shared by many images
	baseLayerSize   = 2 << 20
	midLayerPool    = 32 // 256 KiB layers shared by some images
	midLayerSize    = 256 << 10
	topLayerSize    = 16 << 10 // unique per image
	headClients     = 32
	tagCount        = 10000
	tagWorkers      = 8
	tagLatencyWin   = 1000 // p50/p99 of the first and last this many tag PUTs
	tagHeadClients  = 8
	maxOpsPerLoop   = 5_000_000 // hard bound of every timed request loop
	tagListRepeats  = 5
	tagWalkRepeats  = 3
	tagWalkPageSize = 100
)

// env is what every workload needs besides its target.
type env struct {
	scale    float64
	duration time.Duration // length of each timed request loop (HEAD workloads)
	data     *dataSource
}

func (e *env) bigSize() int64 { return scaleSize(bigBlobSize, e.scale, 4<<20) }
func (e *env) midSize() int64 { return scaleSize(midBlobSize, e.scale, 1<<20) }
func (e *env) images() int    { return scaleInt(smallImages, e.scale, 8) }
func (e *env) tags() int      { return scaleInt(tagCount, e.scale, 100) }
func (e *env) tagWindow() int { return min(tagLatencyWin, e.tags()/4) }
func (e *env) loopTime() time.Duration {
	return max(time.Second, time.Duration(float64(e.duration)*e.scale))
}

// target is one registry under test plus the fixtures already stored in it.
type target struct {
	name   string
	c      *client
	srv    *server // nil for a registry given by URL
	prefix string  // repository name prefix unique to this run and target

	bigRepo  string // a pushed blob of bigSize, for pull
	bigBlob  *blob
	midBlob  *blob // a pushed blob of midSize, for pull-concurrent
	headTag  string
	tagsDone int // tags stored in the tag repository
}

func (t *target) repo(name string) string { return t.prefix + "/" + name }

// metric describes one row of the results table.
type metric struct {
	label        string
	unit         string
	higherBetter bool
}

// measure is one figure of a metric, with an optional remark (e.g. page count).
type measure struct {
	value float64
	note  string
}

// workload is one benchmark. setup stores fixtures and prepares data outside of
// any measurement and returns the timed part, which yields one measure per
// metric.
type workload struct {
	name    string
	title   string
	metrics func(e *env) []metric
	setup   func(ctx context.Context, e *env, t *target) (timed func(ctx context.Context) ([]measure, error), err error)
}

var workloads = []workload{
	{
		name:  "push-mono",
		title: "monolithic blob push: POST, then one PUT with the body and ?digest=",
		metrics: func(e *env) []metric {
			return []metric{{"push " + humanBytes(e.bigSize()) + " blob, monolithic", "MB/s", true}}
		},
		setup: setupBigPush(func(ctx context.Context, c *client, repo string, b *blob) error {
			return c.pushMonolithic(ctx, repo, b)
		}),
	},
	{
		name:  "push-chunked",
		title: "chunked blob push: POST, PATCH 16 MiB chunks with Content-Range, PUT ?digest=",
		metrics: func(e *env) []metric {
			return []metric{{"push " + humanBytes(e.bigSize()) + " blob, chunked (16 MiB PATCH)", "MB/s", true}}
		},
		setup: setupBigPush(func(ctx context.Context, c *client, repo string, b *blob) error {
			return c.pushChunked(ctx, repo, b, chunkSize)
		}),
	},
	{
		name:  "pull",
		title: "blob pull: one GET of the large blob",
		metrics: func(e *env) []metric {
			return []metric{{"pull " + humanBytes(e.bigSize()) + " blob", "MB/s", true}}
		},
		setup: func(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
			if t.bigBlob == nil {
				b, err := e.data.newBlob(e.bigSize())
				if err != nil {
					return nil, err
				}
				if err := t.c.pushMonolithic(ctx, t.repo("big"), b); err != nil {
					return nil, fmt.Errorf("fixture: %w", err)
				}
				t.bigRepo, t.bigBlob = t.repo("big"), b
			}
			buf := make([]byte, 1<<20)
			return func(ctx context.Context) ([]measure, error) {
				start := time.Now()
				if err := t.c.pullBlob(ctx, t.bigRepo, t.bigBlob.digest, t.bigBlob.size, buf); err != nil {
					return nil, err
				}
				return []measure{{value: mbps(t.bigBlob.size, time.Since(start))}}, nil
			}, nil
		},
	},
	{
		name:  "pull-concurrent",
		title: "16 concurrent GETs of one 64 MiB blob, aggregate throughput",
		metrics: func(e *env) []metric {
			return []metric{{fmt.Sprintf("pull %s blob x%d concurrent (aggregate)", humanBytes(e.midSize()), concurrentPulls), "MB/s", true}}
		},
		setup: func(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
			repo := t.repo("mid")
			if t.midBlob == nil {
				b, err := e.data.newBlob(e.midSize())
				if err != nil {
					return nil, err
				}
				if err := t.c.pushMonolithic(ctx, repo, b); err != nil {
					return nil, fmt.Errorf("fixture: %w", err)
				}
				t.midBlob = b
			}
			bufs := make([][]byte, concurrentPulls)
			for i := range bufs {
				bufs[i] = make([]byte, 1<<20)
			}
			return func(ctx context.Context) ([]measure, error) {
				b := t.midBlob
				start := time.Now()
				err := parallel(ctx, concurrentPulls, func(ctx context.Context, i int) error {
					return t.c.pullBlob(ctx, repo, b.digest, b.size, bufs[i])
				})
				if err != nil {
					return nil, err
				}
				return []measure{{value: mbps(b.size*concurrentPulls, time.Since(start))}}, nil
			}, nil
		},
	},
	{
		name:    "images",
		title:   "push of small images (config + 3 layers from shared pools), 4 concurrent pushers",
		metrics: func(e *env) []metric { return []metric{{imagesLabel(e), "images/s", true}} },
		setup:   setupImages,
	},
	{
		name:  "head",
		title: "manifest HEAD by tag, 32 keep-alive clients, fixed duration",
		metrics: func(e *env) []metric {
			l := fmt.Sprintf("manifest HEAD, %d clients", headClients)
			return []metric{{l, "req/s", true}, {l + ", p50", "ms", false}, {l + ", p99", "ms", false}}
		},
		setup: setupHead,
	},
	{
		name:    "tag-put",
		title:   "tag PUTs (distinct tiny manifests) into one repository, 8 workers",
		metrics: tagPutMetrics,
		setup:   setupTagPut,
	},
	{
		name:  "tag-head",
		title: "manifest HEAD by tag in the many-tag repository vs a 1-tag repository",
		metrics: func(e *env) []metric {
			return []metric{
				{fmt.Sprintf("HEAD by tag, %d-tag repo, %d clients", e.tags(), tagHeadClients), "req/s", true},
				{fmt.Sprintf("HEAD by tag, 1-tag repo, %d clients", tagHeadClients), "req/s", true},
			}
		},
		setup: setupTagHead,
	},
	{
		name:  "tag-list",
		title: "tag list of the many-tag repository: in full, and paginated with n=100",
		metrics: func(e *env) []metric {
			return []metric{
				{fmt.Sprintf("list %d tags, one request (median of %d)", e.tags(), tagListRepeats), "ms", false},
				{fmt.Sprintf("list %d tags, n=%d pages (median of %d)", e.tags(), tagWalkPageSize, tagWalkRepeats), "ms", false},
			}
		},
		setup: setupTagList,
	},
}

// workloadByName finds a workload.
// setupBigPush is the setup of a workload that pushes the large blob with
// push and measures MB/s. The first blob pushed is the one "pull" reads.
func setupBigPush(push func(ctx context.Context, c *client, repo string, b *blob) error) func(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
	return func(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
		b, err := e.data.newBlob(e.bigSize())
		if err != nil {
			return nil, err
		}
		repo := t.repo("big")
		return func(ctx context.Context) ([]measure, error) {
			start := time.Now()
			if err := push(ctx, t.c, repo, b); err != nil {
				return nil, err
			}
			d := time.Since(start)
			if t.bigBlob == nil {
				t.bigRepo, t.bigBlob = repo, b
			}
			return []measure{{value: mbps(b.size, d)}}, nil
		}, nil
	}
}

func workloadByName(name string) (workload, bool) {
	for _, w := range workloads {
		if w.name == name {
			return w, true
		}
	}
	return workload{}, false
}

// parallel runs fn(ctx, i) for i in [0, n) concurrently; the first error cancels
// the others and is returned.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err })
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}

// loopResult is what a timed request loop measured.
type loopResult struct {
	count   int
	elapsed time.Duration
	lats    []time.Duration
}

// hammer runs op from `clients` goroutines until d has passed or maxOps
// operations were issued, recording each latency. The first error stops it.
func hammer(ctx context.Context, clients int, d time.Duration, maxOps int, op func(ctx context.Context, worker int) error) (loopResult, error) {
	var issued atomic.Int64
	perWorker := make([][]time.Duration, clients)
	start := time.Now()
	stopAt := start.Add(d)
	err := parallel(ctx, clients, func(ctx context.Context, w int) error {
		lats := make([]time.Duration, 0, 4096)
		defer func() { perWorker[w] = lats }()
		for ctx.Err() == nil {
			if issued.Add(1) > int64(maxOps) {
				return nil
			}
			t0 := time.Now()
			if !t0.Before(stopAt) {
				return nil
			}
			if err := op(ctx, w); err != nil {
				return err
			}
			lats = append(lats, time.Since(t0))
		}
		return nil
	})
	res := loopResult{elapsed: time.Since(start)}
	if err != nil {
		return res, err
	}
	for _, l := range perWorker {
		res.lats = append(res.lats, l...)
	}
	res.count = len(res.lats)
	return res, nil
}

// pushSmallImage stores a config and one small layer and tags a manifest.
func pushSmallImage(ctx context.Context, e *env, t *target, repo, tag string) error {
	layer, err := e.data.newBlob(topLayerSize)
	if err != nil {
		return err
	}
	cfg := ociConfig(t.prefix+"/"+repo+":"+tag, 1)
	for _, b := range []*blob{cfg, layer} {
		if err := t.c.ensureBlob(ctx, repo, b); err != nil {
			return fmt.Errorf("fixture: %w", err)
		}
	}
	if err := t.c.putManifest(ctx, repo, tag, ociManifest(cfg, []*blob{layer}, nil)); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	return nil
}

func setupHead(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
	repo := t.repo("head")
	if t.headTag == "" {
		if err := pushSmallImage(ctx, e, t, repo, "latest"); err != nil {
			return nil, err
		}
		t.headTag = "latest"
	}
	return func(ctx context.Context) ([]measure, error) {
		r, err := hammer(ctx, headClients, e.loopTime(), maxOpsPerLoop, func(ctx context.Context, _ int) error {
			return t.c.headManifest(ctx, repo, t.headTag)
		})
		if err != nil {
			return nil, err
		}
		return []measure{
			{value: perSecond(r.count, r.elapsed)},
			{value: ms(percentile(r.lats, 50))},
			{value: ms(percentile(r.lats, 99))},
		}, nil
	}, nil
}

func imagesLabel(e *env) string {
	return fmt.Sprintf("push %d small images (config + 3 layers, %d pushers)", e.images(), imagePushers)
}

// smallImage is one image of the images workload, its blobs already generated.
type smallImage struct {
	repo, tag string
	blobs     []*blob // config first
	manifest  []byte
}

func setupImages(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
	// Layers come from two shared pools (so most HEADs find an existing blob and
	// most images upload only their own top layer and config).
	var base, mid []*blob
	for i := 0; i < baseLayerPool; i++ {
		b, err := e.data.newBlob(baseLayerSize)
		if err != nil {
			return nil, err
		}
		base = append(base, b)
	}
	for i := 0; i < midLayerPool; i++ {
		b, err := e.data.newBlob(midLayerSize)
		if err != nil {
			return nil, err
		}
		mid = append(mid, b)
	}
	rng := rand.New(rand.NewPCG(1, 2)) // same image shapes for every target
	imgs := make([]smallImage, e.images())
	for i := range imgs {
		top, err := e.data.newBlob(topLayerSize)
		if err != nil {
			return nil, err
		}
		layers := []*blob{base[rng.IntN(len(base))], mid[rng.IntN(len(mid))], top}
		cfg := ociConfig(t.prefix+"/image-"+strconv.Itoa(i), len(layers))
		imgs[i] = smallImage{
			repo:     t.repo("images-" + strconv.Itoa(i%imageRepos)),
			tag:      "v" + strconv.Itoa(i),
			blobs:    append([]*blob{cfg}, layers...),
			manifest: ociManifest(cfg, layers, nil),
		}
	}
	return func(ctx context.Context) ([]measure, error) {
		var next atomic.Int64
		start := time.Now()
		err := parallel(ctx, imagePushers, func(ctx context.Context, _ int) error {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(imgs) || ctx.Err() != nil {
					return ctx.Err()
				}
				img := imgs[i]
				for _, b := range img.blobs {
					if err := t.c.ensureBlob(ctx, img.repo, b); err != nil {
						return fmt.Errorf("image %d: %w", i, err)
					}
				}
				if err := t.c.putManifest(ctx, img.repo, img.tag, img.manifest); err != nil {
					return fmt.Errorf("image %d: %w", i, err)
				}
			}
		})
		if err != nil {
			return nil, err
		}
		return []measure{{value: perSecond(len(imgs), time.Since(start))}}, nil
	}, nil
}
