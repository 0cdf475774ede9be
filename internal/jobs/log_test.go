package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRiverLogger(t *testing.T) {
	var buf bytes.Buffer
	l := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Info("routine")
	l.Error("stopped mid-way", "error", context.Canceled.Error())
	l.Error("stopped mid-way", "err", errors.Join(errors.New("begin"), context.Canceled))
	l.With("service", "x").Warn("real trouble", "error", "connection refused")
	got := buf.String()
	if strings.Contains(got, "routine") || strings.Contains(got, "stopped mid-way") {
		t.Errorf("passed on what it should not:\n%s", got)
	}
	if !strings.Contains(got, "real trouble") || !strings.Contains(got, "service=x") {
		t.Errorf("dropped a warning:\n%s", got)
	}
}
