package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/wharfhq/wharf/internal/app"
)

// reorder moves flags after positional arguments to the front, so
// "create-user alice --superuser" parses like "--superuser create-user alice".
func reorder(args []string, boolFlags map[string]bool) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := a
			for len(name) > 0 && name[0] == '-' {
				name = name[1:]
			}
			hasValue := false
			for _, c := range name {
				if c == '=' {
					hasValue = true
				}
			}
			if !hasValue && !boolFlags[name] && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func admin(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "vulndb":
		return adminVulndb(args[1:], stdout, stderr, getenv)
	case "export":
		return adminExport(args[1:], stdout, stderr, getenv)
	case "import":
		return adminImport(args[1:], stdout, stderr, getenv)
	case "replicate":
		return adminReplicate(args[1:], stdout, stderr, getenv)
	}
	fs := flag.NewFlagSet("admin "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addCommonFlags(fs, getenv)
	var superuser *bool
	var email, password *string
	var dryRun *bool
	switch args[0] {
	case "gc":
		dryRun = fs.Bool("dry-run", false, "only report what a pass would remove")
	case "create-user":
		superuser = fs.Bool("superuser", false, "make the user a superuser")
		email = fs.String("email", "", "email address")
		password = fs.String("password", getenv("WHARF_ADMIN_PASSWORD"), "password (generated and printed when empty)")
	case "rotate-keys":
	default:
		fmt.Fprintf(stderr, "wharf admin: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err := fs.Parse(reorder(args[1:], map[string]bool{"superuser": true, "dry-run": true})); err != nil {
		return 2
	}
	a, code := openApp(cf, stderr, getenv)
	if a == nil {
		return code
	}
	defer a.Close()
	ctx := context.Background()
	switch args[0] {
	case "create-user":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "wharf admin create-user: exactly one NAME is required")
			return 2
		}
		generated, err := a.CreateUser(ctx, fs.Arg(0), *email, *password, *superuser)
		if err != nil {
			fmt.Fprintln(stderr, "wharf:", err)
			return 1
		}
		fmt.Fprintf(stdout, "created user %s", fs.Arg(0))
		if *superuser {
			fmt.Fprint(stdout, " (superuser)")
		}
		fmt.Fprintln(stdout)
		if generated != "" {
			fmt.Fprintf(stdout, "password: %s\n", generated)
		}
	case "rotate-keys":
		kid, err := a.RotateSigningKey(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "wharf:", err)
			return 1
		}
		fmt.Fprintf(stdout, "new signing key %s; tokens signed by older keys stay valid until they expire\n", kid)
	case "gc":
		rep, err := a.CollectGarbage(ctx, *dryRun)
		if err != nil {
			fmt.Fprintln(stderr, "wharf:", err)
			return 1
		}
		verb := "removed"
		if *dryRun {
			verb = "would remove"
		}
		fmt.Fprintf(stdout, "%s %d manifests (%d bytes), %d tag history rows, %d blob links, %d blobs (%d bytes)\n",
			verb, rep.Manifests, rep.ManifestBytes, rep.TagRows, rep.Links, rep.Blobs, rep.BlobBytes)
	}
	return 0
}

// openApp loads the configuration and opens the application (database,
// blob stores, keys) for an admin subcommand, or returns the exit code.
func openApp(cf commonFlags, stderr io.Writer, getenv func(string) string) (*app.App, int) {
	cfg, ok := loadConfig(cf, stderr, getenv)
	if !ok {
		return nil, 2
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return nil, 1
	}
	return a, 0
}

// adminVerbFlags starts the flag set of "wharf admin CMD VERB" with the
// common flags when args[0] is one of verbs; otherwise it prints what the
// command wants and the usage, and ok is false.
func adminVerbFlags(cmd string, args []string, want string, stderr io.Writer, getenv func(string) string, verbs ...string) (fs *flag.FlagSet, cf commonFlags, ok bool) {
	if len(args) == 0 || !slices.Contains(verbs, args[0]) {
		fmt.Fprintf(stderr, "wharf admin %s: want %s\n", cmd, want)
		usage(stderr)
		return nil, cf, false
	}
	fs = flag.NewFlagSet("admin "+cmd+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, addCommonFlags(fs, getenv), true
}
