package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/wharfhq/wharf/internal/app"
)

// adminReplicate runs "wharf admin replicate backfill" (enqueue a copy of
// every blob to every storage location it must reach and is not recorded
// at) and "wharf admin replicate status" (per-location counts).
func adminReplicate(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || (args[0] != "backfill" && args[0] != "status") {
		fmt.Fprintln(stderr, "wharf admin replicate: want backfill or status")
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("admin replicate "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addCommonFlags(fs, getenv)
	batch := fs.Int("batch", 500, "blobs per transaction")
	if err := fs.Parse(reorder(args[1:], nil)); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *batch <= 0 {
		fmt.Fprintf(stderr, "wharf admin replicate %s: no arguments; --batch must be positive\n", args[0])
		return 2
	}
	cfg, ok := loadConfig(cf, stderr, getenv)
	if !ok {
		return 2
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return 1
	}
	defer a.Close()
	if args[0] == "status" {
		st, err := a.ReplicationStatus(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "wharf:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d blobs\n", st.Blobs)
		for _, l := range st.Locations {
			fmt.Fprintf(stdout, "%s: %d present, %d pending, %d failed, %d deleting\n", l.Location, l.Present, l.Pending, l.Failed, l.Deleting)
		}
		return 0
	}
	res, err := a.BackfillReplication(ctx, *batch)
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return 1
	}
	fmt.Fprintf(stdout, "looked at %d blobs, enqueued %d copies\n", res.Blobs, res.Enqueued)
	return 0
}
