// Command wharf is the Wharf container registry: one binary that serves the OCI
// distribution API and runs its background work.
//
//	wharf serve [--listen HOST:PORT] [--data DIR] [--config FILE]
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
  wharf serve [--listen HOST:PORT] [--data DIR] [--config FILE]
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

func serve(args []string, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("WHARF_CONFIG"), "YAML configuration file")
	listen := fs.String("listen", "", "listen address HOST:PORT (LISTEN_ADDRESS)")
	data := fs.String("data", "", "data directory (DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*configPath, getenv)
	if err == nil {
		err = cfg.ApplyEnv(getenv)
	}
	if err != nil {
		fmt.Fprintln(stderr, "wharf:", err)
		return 2
	}
	if *listen != "" {
		cfg.ListenAddress = *listen
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "wharf: invalid configuration:", err)
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
