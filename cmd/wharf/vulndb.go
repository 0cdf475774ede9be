package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/wharfhq/wharf/internal/app"
)

// adminVulndb runs "wharf admin vulndb import PATH..." and
// "wharf admin vulndb rescan".
func adminVulndb(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || (args[0] != "import" && args[0] != "rescan") {
		fmt.Fprintln(stderr, "wharf admin vulndb: want import PATH... or rescan")
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("admin vulndb "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addCommonFlags(fs, getenv)
	if err := fs.Parse(reorder(args[1:], nil)); err != nil {
		return 2
	}
	if args[0] == "import" && fs.NArg() == 0 {
		fmt.Fprintln(stderr, "wharf admin vulndb import: at least one PATH (file, directory or zip archive) is required")
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
	if args[0] == "rescan" {
		n, err := a.RescanAll(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "wharf:", err)
			return 1
		}
		fmt.Fprintf(stdout, "matched %d scanned manifests again\n", n)
		return 0
	}
	st, err := a.ImportVulnerabilities(ctx, fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return 1
	}
	fmt.Fprintf(stdout, "read %d files: %d records (%d withdrawn), %d added, %d updated, %d unchanged, %d older than stored, %d files skipped; %d manifests matched again\n",
		st.Files, st.Advisories, st.Withdrawn, st.Added, st.Updated, st.Unchanged, st.Older, st.Skipped, st.Rescanned)
	return 0
}
