package jobs

import (
	"context"
	"log/slog"
	"strings"
)

// riverLogger is the logger handed to River: its warnings and errors pass on
// to log, its routine messages do not. A River service interrupted by the
// queue's own stop reports "context canceled" as an error; that is shutdown,
// not a failure, and is not passed on.
func riverLogger(log *slog.Logger) *slog.Logger {
	return slog.New(riverHandler{log.Handler()})
}

type riverHandler struct{ h slog.Handler }

func (r riverHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && r.h.Enabled(ctx, l)
}

func (r riverHandler) Handle(ctx context.Context, rec slog.Record) error {
	cancelled := false
	rec.Attrs(func(a slog.Attr) bool {
		if (a.Key == "error" || a.Key == "err") && strings.Contains(a.Value.String(), context.Canceled.Error()) {
			cancelled = true
			return false
		}
		return true
	})
	if cancelled {
		return nil
	}
	return r.h.Handle(ctx, rec)
}

func (r riverHandler) WithAttrs(as []slog.Attr) slog.Handler { return riverHandler{r.h.WithAttrs(as)} }
func (r riverHandler) WithGroup(name string) slog.Handler    { return riverHandler{r.h.WithGroup(name)} }
