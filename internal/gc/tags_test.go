package gc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

type fakeTags struct {
	left  int
	calls int
	err   error
}

func (f *fakeTags) ExpireTags(_ context.Context, _ time.Time, limit int) (int, error) {
	f.calls++
	n := min(f.left, limit)
	f.left -= n
	return n, f.err
}

func TestTagExpirerBatches(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fakeTags{left: 2*tagBatch + 7}
	e := &TagExpirer{Meta: f, Log: log, Now: time.Now}
	if err := e.Expire(t.Context()); err != nil {
		t.Fatal(err)
	}
	if f.left != 0 || f.calls != 3 {
		t.Fatalf("left %d after %d calls", f.left, f.calls)
	}

	paused := &fakeTags{left: 5}
	e = &TagExpirer{Meta: paused, Log: log, Now: time.Now, Paused: func(context.Context) bool { return true }}
	if err := e.Expire(t.Context()); err != nil || paused.calls != 0 {
		t.Fatalf("paused expirer: %v, %d calls", err, paused.calls)
	}

	broken := &fakeTags{left: 5, err: errors.New("database gone")}
	e = &TagExpirer{Meta: broken, Log: log, Now: time.Now}
	if err := e.Expire(t.Context()); err == nil {
		t.Fatal("error not returned")
	}
}
