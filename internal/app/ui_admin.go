package app

import "context"

// jobStats counts the queue's jobs by state for the superuser panel.
func (a *App) jobStats(ctx context.Context) (map[string]int, error) {
	s, err := a.jobs.Stats(ctx)
	return map[string]int(s), err
}
