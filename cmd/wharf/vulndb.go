package main

import (
	"context"
	"fmt"
	"io"
)

// adminVulndb runs "wharf admin vulndb import PATH..." and
// "wharf admin vulndb rescan".
func adminVulndb(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, cf, ok := adminVerbFlags("vulndb", args, "import PATH... or rescan", stderr, getenv, "import", "rescan")
	if !ok {
		return 2
	}
	if err := fs.Parse(reorder(args[1:], nil)); err != nil {
		return 2
	}
	if args[0] == "import" && fs.NArg() == 0 {
		fmt.Fprintln(stderr, "wharf admin vulndb import: at least one PATH (file, directory or zip archive) is required")
		return 2
	}
	a, code := openApp(cf, stderr, getenv)
	if a == nil {
		return code
	}
	defer a.Close()
	ctx := context.Background()
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
