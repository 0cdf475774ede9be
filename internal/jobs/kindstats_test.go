package jobs_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/wharfhq/wharf/internal/jobs"
)

// KindStats counts jobs by kind and state; they add up to Stats.
func testKindStats(t *testing.T, open opener) {
	ctx := context.Background()
	_, q, _ := open(t, testOptions(t), plain)
	empty, err := q.KindStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(empty) != 0 {
		t.Fatalf("empty queue: %v", empty)
	}
	for _, kind := range []string{"ping", "ping", "pong"} {
		if _, err := q.Enqueue(ctx, kind, map[string]string{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.KindStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]jobs.Stats{"ping": {"available": 2}, "pong": {"available": 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KindStats = %v, want %v", got, want)
	}
	rec := &recorder{}
	startWorkers(t, q, jobs.Workers{Handlers: map[string]jobs.Handler{"ping": rec.handler(nil), "pong": rec.handler(nil)}})
	waitStats(t, q, func(s jobs.Stats) bool { return s["completed"] == 3 })
	got, err = q.KindStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]jobs.Stats{"ping": {"completed": 2}, "pong": {"completed": 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KindStats after working = %v, want %v", got, want)
	}
}
