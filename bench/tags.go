package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// The tag workloads share one repository holding e.tags() tags t0..tN-1, each
// pointing at its own tiny manifest (they differ by an annotation) that
// references one shared config and layer.

func tagPutMetrics(e *env) []metric {
	k := e.tagWindow()
	l := fmt.Sprintf("tag PUT x%d, %d workers", e.tags(), tagWorkers)
	return []metric{
		{l, "ops/s", true},
		{fmt.Sprintf("tag PUT p50, first %d", k), "ms", false},
		{fmt.Sprintf("tag PUT p99, first %d", k), "ms", false},
		{fmt.Sprintf("tag PUT p50, last %d", k), "ms", false},
		{fmt.Sprintf("tag PUT p99, last %d", k), "ms", false},
	}
}

// tagManifests stores the shared config and layer in repo and renders n
// distinct manifests referencing them.
func tagManifests(ctx context.Context, e *env, t *target, repo string, n int) ([][]byte, error) {
	layer, err := e.data.newBlob(topLayerSize)
	if err != nil {
		return nil, err
	}
	cfg := ociConfig(t.prefix+"/tags", 1)
	for _, b := range []*blob{cfg, layer} {
		if err := t.c.ensureBlob(ctx, repo, b); err != nil {
			return nil, fmt.Errorf("fixture: %w", err)
		}
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = ociManifest(cfg, []*blob{layer}, map[string]string{"wharf.bench.n": strconv.Itoa(i)})
	}
	return out, nil
}

// putTags PUTs manifests[i] under tag "t<i>" from tagWorkers goroutines and
// returns each PUT's latency, indexed by the order in which PUTs were issued.
func putTags(ctx context.Context, c *client, repo string, manifests [][]byte) ([]time.Duration, error) {
	lats := make([]time.Duration, len(manifests))
	var next atomic.Int64
	err := parallel(ctx, tagWorkers, func(ctx context.Context, _ int) error {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(manifests) || ctx.Err() != nil {
				return ctx.Err()
			}
			t0 := time.Now()
			if err := c.putManifest(ctx, repo, "t"+strconv.Itoa(i), manifests[i]); err != nil {
				return fmt.Errorf("tag t%d: %w", i, err)
			}
			lats[i] = time.Since(t0)
		}
	})
	return lats, err
}

// ensureTagRepo fills the tag repository unless an earlier workload did.
func ensureTagRepo(ctx context.Context, e *env, t *target) error {
	if t.tagsDone == e.tags() {
		return nil
	}
	repo := t.repo("tags")
	manifests, err := tagManifests(ctx, e, t, repo, e.tags())
	if err != nil {
		return err
	}
	if _, err := putTags(ctx, t.c, repo, manifests); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	t.tagsDone = len(manifests)
	return nil
}

func setupTagPut(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
	repo := t.repo("tags")
	if t.tagsDone != 0 {
		return nil, fmt.Errorf("tag repository already filled")
	}
	manifests, err := tagManifests(ctx, e, t, repo, e.tags())
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) ([]measure, error) {
		start := time.Now()
		lats, err := putTags(ctx, t.c, repo, manifests)
		if err != nil {
			return nil, err
		}
		d := time.Since(start)
		t.tagsDone = len(manifests)
		k := e.tagWindow()
		first := append([]time.Duration(nil), lats[:k]...)
		last := append([]time.Duration(nil), lats[len(lats)-k:]...)
		return []measure{
			{value: perSecond(len(lats), d)},
			{value: ms(percentile(first, 50))},
			{value: ms(percentile(first, 99))},
			{value: ms(percentile(last, 50))},
			{value: ms(percentile(last, 99))},
		}, nil
	}, nil
}

func setupTagHead(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
	if err := ensureTagRepo(ctx, e, t); err != nil {
		return nil, err
	}
	many, one := t.repo("tags"), t.repo("onetag")
	if err := pushSmallImage(ctx, e, t, one, "t0"); err != nil {
		return nil, err
	}
	n := e.tags()
	return func(ctx context.Context) ([]measure, error) {
		rngs := make([]*rand.Rand, tagHeadClients)
		for i := range rngs {
			rngs[i] = rand.New(rand.NewPCG(uint64(i), 7))
		}
		rMany, err := hammer(ctx, tagHeadClients, e.loopTime(), maxOpsPerLoop, func(ctx context.Context, w int) error {
			return t.c.headManifest(ctx, many, "t"+strconv.Itoa(rngs[w].IntN(n)))
		})
		if err != nil {
			return nil, err
		}
		rOne, err := hammer(ctx, tagHeadClients, e.loopTime(), maxOpsPerLoop, func(ctx context.Context, _ int) error {
			return t.c.headManifest(ctx, one, "t0")
		})
		if err != nil {
			return nil, err
		}
		return []measure{
			{value: perSecond(rMany.count, rMany.elapsed)},
			{value: perSecond(rOne.count, rOne.elapsed)},
		}, nil
	}, nil
}

func setupTagList(ctx context.Context, e *env, t *target) (func(context.Context) ([]measure, error), error) {
	if err := ensureTagRepo(ctx, e, t); err != nil {
		return nil, err
	}
	repo := t.repo("tags")
	want := t.tagsDone
	return func(ctx context.Context) ([]measure, error) {
		list := func(n, repeats int) (time.Duration, int, error) {
			var ds []time.Duration
			pages := 0
			for i := 0; i < repeats; i++ {
				start := time.Now()
				got, p, err := t.c.listTags(ctx, repo, n)
				if err != nil {
					return 0, 0, err
				}
				ds = append(ds, time.Since(start))
				if got != want {
					return 0, 0, fmt.Errorf("tag list (n=%d) returned %d tags, want %d", n, got, want)
				}
				pages = p
			}
			return median(ds), pages, nil
		}
		full, fullPages, err := list(0, tagListRepeats)
		if err != nil {
			return nil, err
		}
		walk, walkPages, err := list(tagWalkPageSize, tagWalkRepeats)
		if err != nil {
			return nil, err
		}
		return []measure{
			{value: ms(full), note: pagesNote(fullPages)},
			{value: ms(walk), note: pagesNote(walkPages)},
		}, nil
	}, nil
}

func pagesNote(p int) string {
	if p == 1 {
		return "1 page"
	}
	return strconv.Itoa(p) + " pages"
}
