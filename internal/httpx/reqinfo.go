package httpx

import (
	"context"
	"sync"
)

// requestInfo is what the handlers learn about a request while serving it
// (the authenticated caller, the repository) for its access log line. Wrap
// puts one in each request's context; handlers fill it through SetActor and
// SetRepository, which the contexts they derive still reach.
type requestInfo struct {
	mu         sync.Mutex
	actor      string
	repository string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	i, _ := ctx.Value(infoKey{}).(*requestInfo)
	return i
}

// SetActor records the authenticated user or robot name of the request
// (nothing outside Wrap).
func SetActor(ctx context.Context, name string) {
	if i := infoFrom(ctx); i != nil {
		i.mu.Lock()
		i.actor = name
		i.mu.Unlock()
	}
}

// SetRepository records the repository the request's route names (nothing
// outside Wrap).
func SetRepository(ctx context.Context, name string) {
	if i := infoFrom(ctx); i != nil {
		i.mu.Lock()
		i.repository = name
		i.mu.Unlock()
	}
}

func (i *requestInfo) get() (actor, repository string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.actor, i.repository
}
