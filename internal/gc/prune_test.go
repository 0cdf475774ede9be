package gc

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
)

type fakePrune struct {
	repos    int64
	all      []bool
	pruned   []int64
	defaults int
}

func (f *fakePrune) AutopruneRepositories(_ context.Context, all bool, after int64, limit int) ([]int64, error) {
	f.all = append(f.all, all)
	var ids []int64
	for id := after + 1; id <= f.repos && len(ids) < limit; id++ {
		ids = append(ids, id)
	}
	return ids, nil
}

func (f *fakePrune) PruneRepository(_ context.Context, id int64, defaults []core.AutoprunePolicy) ([]string, error) {
	f.pruned = append(f.pruned, id)
	f.defaults = len(defaults)
	return []string{"x"}, nil
}

func TestPrunerBatchesAndPauses(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fakePrune{repos: 2*pruneBatch + 3}
	p := &Pruner{Meta: f, Log: log, Defaults: []core.AutoprunePolicy{{Method: core.PruneByNumberOfTags, Value: "5"}}}
	if err := p.PruneAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(f.pruned) != int(f.repos) || f.pruned[len(f.pruned)-1] != f.repos || len(f.all) != 3 || !f.all[0] || f.defaults != 1 {
		t.Fatalf("pruned %d repositories in %d listings (all=%v, defaults %d)", len(f.pruned), len(f.all), f.all, f.defaults)
	}
	f = &fakePrune{repos: 3}
	p = &Pruner{Meta: f, Log: log, Paused: func(context.Context) bool { return true }}
	if err := p.PruneAll(t.Context()); err != nil || len(f.pruned) != 0 {
		t.Fatalf("paused pruner pruned %v (%v)", f.pruned, err)
	}
	if err := p.PruneRepository(t.Context(), 1); err != nil || len(f.pruned) != 0 {
		t.Fatalf("paused pruner pruned %v (%v)", f.pruned, err)
	}
}
