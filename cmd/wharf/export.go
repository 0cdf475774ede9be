package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/wharfhq/wharf/internal/app"
)

// adminExport is `wharf admin export NS/REPO[:TAG]... --output PATH`.
func adminExport(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("admin export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addCommonFlags(fs, getenv)
	output := fs.String("output", "", "OCI image layout to write: a new or empty directory, or a .tar file")
	if err := fs.Parse(reorder(args, nil)); err != nil {
		return 2
	}
	if *output == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "wharf admin export: name at least one NAMESPACE/REPO[:TAG] and --output PATH")
		return 2
	}
	a, code := openApp(cf, stderr, getenv)
	if a == nil {
		return code
	}
	defer a.Close()
	rep, err := a.Export(context.Background(), fs.Args(), *output)
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return 1
	}
	fmt.Fprintf(stdout, "exported %d tags: %d manifests, %d blobs (%d bytes) to %s\n", rep.Tags, rep.Manifests, rep.Blobs, rep.Bytes, *output)
	return 0
}

// adminImport is `wharf admin import PATH [--namespace NS] [--repository NS/REPO]`.
func adminImport(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("admin import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addCommonFlags(fs, getenv)
	ns := fs.String("namespace", "", "put every repository in this namespace instead of the recorded one")
	repo := fs.String("repository", "", "repository for entries recorded with a bare tag")
	if err := fs.Parse(reorder(args, nil)); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "wharf admin import: exactly one PATH (an OCI image layout directory or .tar) is required")
		return 2
	}
	a, code := openApp(cf, stderr, getenv)
	if a == nil {
		return code
	}
	defer a.Close()
	rep, err := a.Import(context.Background(), fs.Arg(0), app.ImportOptions{Namespace: *ns, Repository: *repo})
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return 1
	}
	fmt.Fprintf(stdout, "imported %d tags into %s: %d new manifests, %d new blobs\n", rep.Tags,
		strings.Join(rep.Repositories, ", "), rep.Manifests, rep.Blobs)
	return 0
}
