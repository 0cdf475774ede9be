package main

import (
	"context"
	"fmt"
	"io"
)

// adminReplicate runs "wharf admin replicate backfill" (enqueue a copy of
// every blob to every storage location it must reach and is not recorded
// at) and "wharf admin replicate status" (per-location counts).
func adminReplicate(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, cf, ok := adminVerbFlags("replicate", args, "backfill or status", stderr, getenv, "backfill", "status")
	if !ok {
		return 2
	}
	batch := fs.Int("batch", 500, "blobs per transaction")
	if err := fs.Parse(reorder(args[1:], nil)); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *batch <= 0 {
		fmt.Fprintf(stderr, "wharf admin replicate %s: no arguments; --batch must be positive\n", args[0])
		return 2
	}
	a, code := openApp(cf, stderr, getenv)
	if a == nil {
		return code
	}
	defer a.Close()
	ctx := context.Background()
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
