package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/jobs"
)

// A kind with its own backoff waits that long between attempts, not the
// queue's.
func testKindBackoff(t *testing.T, open opener) {
	ctx := context.Background()
	_, q, _ := open(t, testOptions(t), plain) // the queue's backoff is 300ms
	rec := &recorder{}
	startWorkers(t, q, jobs.Workers{
		Handlers: map[string]jobs.Handler{"patient": rec.handler(func(j jobs.Job) error {
			if j.Attempt < 2 {
				return errors.New("first attempt fails")
			}
			return nil
		})},
		Backoff: map[string]func(int) time.Duration{"patient": func(int) time.Duration { return 1500 * time.Millisecond }},
	})
	if _, err := q.Enqueue(ctx, "patient", nil); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "patient", 2, 20*time.Second)
	_, at := rec.allWithTimes("patient")
	if gap := at[1].Sub(at[0]); gap < 1500*time.Millisecond {
		t.Fatalf("second attempt came %v after the first, before the kind's 1.5s backoff", gap)
	}
}
