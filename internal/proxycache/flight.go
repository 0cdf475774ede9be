package proxycache

import (
	"context"
	"errors"
	"sync"
)

// flights runs one function per key at a time; callers that arrive while
// it runs wait for its result instead of running it again (single flight).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	val  any
	err  error
}

// do runs fn for key unless a run is in progress, in which case it waits
// for that run (or ctx). leader says whether this caller ran fn.
func (g *flights) do(ctx context.Context, key string, fn func() (any, error)) (val any, leader bool, err error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	if f, ok := g.m[key]; ok {
		g.mu.Unlock()
		select {
		case <-f.done:
			return f.val, false, f.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	// A run that panics leaves this error to the callers waiting on it.
	f := &flight{done: make(chan struct{}), err: errors.New("proxy cache: upstream fetch aborted")}
	g.m[key] = f
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		close(f.done)
	}()
	f.val, f.err = fn()
	return f.val, true, f.err
}
