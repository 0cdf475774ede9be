// Command wharf is the Wharf container registry: one binary that serves the OCI
// distribution API and runs its background work.
//
//	wharf serve [--listen HOST:PORT] [--data DIR] [--config FILE] [--role all|web|worker]
//	wharf version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/wharfhq/wharf/internal/app"
	"github.com/wharfhq/wharf/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  wharf serve [--listen HOST:PORT] [--data DIR] [--config FILE] [--role all|web|worker]
  wharf admin create-user NAME [--superuser] [--email E] [--password P] [--data DIR] [--config FILE]
  wharf admin rotate-keys [--data DIR] [--config FILE]
  wharf admin gc [--dry-run] [--data DIR] [--config FILE]   (a garbage-collection pass now; --dry-run reports what would go)
  wharf admin vulndb import PATH... [--data DIR] [--config FILE]   (OSV/Debian tracker/CSAF JSON files, directories, zip archives)
  wharf admin vulndb rescan [--data DIR] [--config FILE]
  wharf admin export NS/REPO[:TAG]... --output DIR|FILE.tar [--data DIR] [--config FILE]   (OCI image layout; read-only)
  wharf admin import PATH [--namespace NS] [--repository NS/REPO] [--data DIR] [--config FILE]
  wharf admin replicate backfill [--batch N] [--config FILE]   (enqueue copies of blobs missing from a location)
  wharf admin replicate status [--config FILE]
  wharf version
`)
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr, getenv)
	case "admin":
		return admin(args[1:], stdout, stderr, getenv)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "wharf", buildVersion())
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "wharf: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// commonFlags are the flags every command that opens the data shares.
type commonFlags struct {
	config, listen, data *string
	role                 *string // serve only
}

func addCommonFlags(fs *flag.FlagSet, getenv func(string) string) commonFlags {
	return commonFlags{
		config: fs.String("config", getenv("WHARF_CONFIG"), "YAML configuration file"),
		listen: fs.String("listen", "", "listen address HOST:PORT (LISTEN_ADDRESS)"),
		data:   fs.String("data", "", "data directory (DATA_DIR)"),
	}
}

// loadConfig reads the file, the environment and the flags, in that order.
func loadConfig(f commonFlags, stderr io.Writer, getenv func(string) string) (config.Config, bool) {
	cfg, err := config.Load(*f.config, getenv)
	if err == nil {
		err = cfg.ApplyEnv(getenv)
	}
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return cfg, false
	}
	if *f.listen != "" {
		cfg.ListenAddress = *f.listen
	}
	if *f.data != "" {
		cfg.DataDir = *f.data
	}
	if f.role != nil && *f.role != "" {
		cfg.Role = *f.role
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "wharf: invalid configuration:", err)
		return cfg, false
	}
	return cfg, true
}

func serve(args []string, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addCommonFlags(fs, getenv)
	cf.role = fs.String("role", "", "what this process does: all, web (HTTP; enqueues background jobs) or worker (works them; health checks only) (ROLE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadConfig(cf, stderr, getenv)
	if !ok {
		return 2
	}
	log := newLogger(cfg, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer a.Close()
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
