// Command bench runs the same registry workloads against wharf and against the
// CNCF distribution registry in one run and prints both results side by side
// with their ratio, plus each server's CPU time and peak RSS.
//
//	go run ./bench                      # build wharf, start both servers, run everything
//	go run ./bench -scale 0.05          # quick run with scaled-down sizes and counts
//	go run ./bench -only pull,tag-list  # selected workloads
//
// See bench/README.md for the workloads and all flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	only            string
	scale           float64
	out             string
	wharfURL        string
	distURL         string
	wharfBin        string
	distBin         string
	duration        time.Duration
	workloadTimeout time.Duration
	keep            bool
	selfTest        bool
	list            bool
	backend         string
}

func main() {
	var o options
	flag.StringVar(&o.only, "only", "", "comma-separated workloads to run (default all; see -list)")
	flag.Float64Var(&o.scale, "scale", 1, "multiply sizes, counts and loop durations by this factor (0 < scale <= 1), e.g. 0.05 for a quick run")
	flag.StringVar(&o.out, "out", "", "also write the results as Markdown to this file")
	flag.StringVar(&o.wharfURL, "wharf-url", "", "bench an already running wharf at this URL instead of building and starting one (no CPU/RSS figures)")
	flag.StringVar(&o.distURL, "distribution-url", "", "bench an already running distribution registry at this URL (no CPU/RSS figures)")
	flag.StringVar(&o.wharfBin, "wharf-bin", "", "use this wharf binary instead of building ./cmd/wharf")
	flag.StringVar(&o.distBin, "distribution-bin", "", "distribution `registry` binary (default: PATH, <repo>/.tools/bin, $(go env GOPATH)/bin)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each timed HEAD loop at scale 1 (scaled, at least 1s)")
	flag.DurationVar(&o.workloadTimeout, "workload-timeout", 15*time.Minute, "give up on one workload against one registry after this long")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (data, configs, server logs) instead of removing it")
	flag.BoolVar(&o.selfTest, "wharf-as-distribution", false, "test the benchmark itself: run a second distribution registry in wharf's place")
	flag.BoolVar(&o.list, "list", false, "list the workloads and exit")
	flag.StringVar(&o.backend, "backend", "sqlite-fs", "wharf's backend: sqlite-fs (the embedded default) or postgres-s3 (a PostgreSQL server and a versitygw S3 server started for the run)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench [flags]\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if o.list {
		for _, w := range workloads {
			fmt.Printf("%-16s %s\n", w.name, w.title)
		}
		return
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	os.Exit(code)
}

// run does the whole benchmark and returns the exit code: 0 when everything ran,
// 1 when a workload failed or setup failed, 130 when interrupted.
func run(o options) (int, error) {
	if !(o.scale > 0 && o.scale <= 1) {
		return 2, fmt.Errorf("-scale must be in (0, 1], got %v", o.scale)
	}
	selected, err := selectWorkloads(o.only)
	if err != nil {
		return 2, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "wharf-bench-")
	if err != nil {
		return 1, err
	}
	var servers []*server
	var cleanups []func()
	defer func() {
		for _, s := range servers {
			s.stop()
		}
		for _, c := range cleanups {
			c()
		}
		stop() // the servers are gone: a second Ctrl-C may now end the program
		if o.keep {
			logf("kept %s", tmp)
			return
		}
		if len(servers) > 0 {
			logf("removing the temp dir (registry stores of many small files can take a minute to delete)")
		}
		if err := os.RemoveAll(tmp); err != nil {
			logf("removing %s: %v", tmp, err)
		}
	}()

	e := &env{scale: o.scale, duration: o.duration}
	targets, meta, err := startTargets(ctx, o, tmp, &servers, &cleanups)
	if err != nil {
		if ctx.Err() != nil {
			return 130, err
		}
		return 1, err
	}
	for _, t := range targets {
		defer t.c.close()
	}

	logf("generating random data")
	size := max(e.midSize(), baseLayerSize)
	for _, w := range selected {
		switch w.name {
		case "push-mono", "push-chunked", "pull":
			size = max(size, e.bigSize())
		}
	}
	if e.data, err = newDataSource(int(size)); err != nil {
		return 1, err
	}
	for i, t := range targets {
		t.prefix = fmt.Sprintf("bench-%s-%d", e.data.Nonce(), i)
	}

	rep := newReport([]string{targets[0].name, targets[1].name}, []bool{targets[0].srv != nil, targets[1].srv != nil})
	rep.meta = append([]string{
		fmt.Sprintf("date: %s", time.Now().UTC().Format("2006-01-02 15:04 MST")),
		fmt.Sprintf("machine: %s/%s, %d CPUs; %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		fmt.Sprintf("scale: %g (HEAD loops %s each)", o.scale, e.loopTime()),
	}, meta...)
	for _, w := range selected {
		rep.addWorkload(w, e)
	}

	base := make([]procStats, len(targets))
	for i, t := range targets {
		if t.srv != nil {
			base[i], _ = t.srv.stats()
		}
	}
	for _, w := range selected {
		for i, t := range targets {
			if ctx.Err() != nil {
				break
			}
			logf("%s: %s ...", w.name, t.name)
			ms, cpu, haveCPU, err := runOne(ctx, e, o.workloadTimeout, w, t)
			rep.record(w.name, i, ms, err)
			if haveCPU {
				rep.recordCPU(w.name, i, cpu)
			}
			if err != nil {
				logf("%s: %s: error: %v", w.name, t.name, err)
			} else {
				logf("%s: %s: %s", w.name, t.name, summarize(w.metrics(e), ms))
			}
		}
	}
	for i, t := range targets {
		if t.srv == nil {
			continue
		}
		if st, err := t.srv.stats(); err == nil {
			rep.totalCPU[i], rep.peakRSS[i], rep.haveProc[i] = st.cpu-base[i].cpu, st.peakRSS, true
		}
	}

	fmt.Println()
	rep.writeText(os.Stdout)
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return 1, err
		}
		rep.writeMarkdown(f)
		if err := f.Close(); err != nil {
			return 1, err
		}
		logf("wrote %s", o.out)
	}
	switch {
	case ctx.Err() != nil:
		return 130, errors.New("interrupted")
	case len(rep.errors) > 0:
		return 1, fmt.Errorf("%d workload run(s) failed", len(rep.errors))
	}
	return 0, nil
}

// selectWorkloads parses -only.
func selectWorkloads(only string) ([]workload, error) {
	if strings.TrimSpace(only) == "" {
		return workloads, nil
	}
	var out []workload
	seen := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		w, ok := workloadByName(name)
		if !ok {
			var names []string
			for _, w := range workloads {
				names = append(names, w.name)
			}
			return nil, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(names, ", "))
		}
		seen[name] = true
		out = append(out, w)
	}
	// Keep the canonical order: later workloads reuse fixtures of earlier ones.
	var ordered []workload
	for _, w := range workloads {
		if seen[w.name] {
			ordered = append(ordered, w)
		}
	}
	return ordered, nil
}

// startTargets connects to or starts wharf and distribution. Started servers are
// appended to *servers (for cleanup) as soon as they run.
func startTargets(ctx context.Context, o options, tmp string, servers *[]*server, cleanups *[]func()) ([]*target, []string, error) {
	root, rootErr := repoRoot()
	var meta []string
	var distBin string
	needDist := o.distURL == "" || (o.wharfURL == "" && o.selfTest)
	if needDist {
		if rootErr != nil && o.distBin == "" {
			return nil, nil, rootErr
		}
		var err error
		if distBin, err = findDistribution(o.distBin, root); err != nil {
			return nil, nil, err
		}
		meta = append(meta, "distribution: "+distVersion(distBin))
	}

	wharf := &target{name: "wharf"}
	switch {
	case o.wharfURL != "":
		meta = append(meta, "wharf: running at "+o.wharfURL)
	case o.selfTest:
		logf("starting a distribution registry in wharf's place (-wharf-as-distribution)")
		s, err := startDistribution(ctx, "wharf", distBin, tmp)
		if err != nil {
			return nil, nil, err
		}
		*servers = append(*servers, s)
		wharf.srv = s
		meta = append(meta, "wharf: SELF TEST, a second distribution registry runs in wharf's place")
	default:
		bin := o.wharfBin
		if bin == "" {
			if rootErr != nil {
				return nil, nil, rootErr
			}
			logf("building wharf")
			var err error
			if bin, err = buildWharf(ctx, root, tmp); err != nil {
				return nil, nil, err
			}
			meta = append(meta, "wharf: built from "+gitRevision(root))
		} else {
			meta = append(meta, "wharf: prebuilt binary "+filepath.Base(bin))
		}
		configPath := ""
		switch o.backend {
		case "sqlite-fs":
		case "postgres-s3":
			logf("starting PostgreSQL and S3 for wharf")
			cfg, stop, err := scaleOutBackend(ctx, tmp)
			if err != nil {
				return nil, nil, err
			}
			*cleanups = append(*cleanups, stop)
			configPath = cfg
		default:
			return nil, nil, fmt.Errorf("-backend %q: want sqlite-fs or postgres-s3", o.backend)
		}
		meta = append(meta, "wharf backend: "+o.backend)
		logf("starting wharf")
		s, err := startWharf(ctx, "wharf", bin, tmp, configPath)
		if err != nil {
			return nil, nil, err
		}
		*servers = append(*servers, s)
		wharf.srv = s
	}

	dist := &target{name: "distribution"}
	if o.distURL != "" {
		meta = append(meta, "distribution: running at "+o.distURL)
	} else {
		logf("starting distribution")
		s, err := startDistribution(ctx, "distribution", distBin, tmp)
		if err != nil {
			return nil, nil, err
		}
		*servers = append(*servers, s)
		dist.srv = s
	}

	for _, t := range []*struct {
		t   *target
		url string
	}{{wharf, o.wharfURL}, {dist, o.distURL}} {
		u := t.url
		if t.t.srv != nil {
			u = t.t.srv.url
		}
		c, err := newClient(u)
		if err != nil {
			return nil, nil, err
		}
		t.t.c = c
		if err := c.ping(ctx); err != nil {
			return nil, nil, fmt.Errorf("%s at %s: %w", t.t.name, u, err)
		}
	}
	return []*target{wharf, dist}, meta, nil
}

// runOne runs a workload against one target: setup (untimed), then the timed
// part, bracketed by readings of the server's CPU time.
func runOne(parent context.Context, e *env, timeout time.Duration, w workload, t *target) ([]measure, time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	fail := func(err error) ([]measure, time.Duration, bool, error) {
		if ctx.Err() != nil && parent.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		if t.srv != nil && !t.srv.running() {
			err = fmt.Errorf("%w\n%s exited (%v); last log lines:\n%s", err, t.srv.name, t.srv.waitErr, tailFile(t.srv.logPath, 10))
		}
		return nil, 0, false, err
	}
	if t.srv != nil && !t.srv.running() {
		return fail(errors.New("server is not running"))
	}
	timed, err := w.setup(ctx, e, t)
	if err != nil {
		return fail(err)
	}
	// Flush dirty pages (of this and the other server) so they are not written
	// back during the next measurement.
	syscall.Sync()
	var before procStats
	haveCPU := false
	if t.srv != nil {
		if before, err = t.srv.stats(); err == nil {
			haveCPU = true
		}
	}
	ms, err := timed(ctx)
	if err == nil && parent.Err() != nil {
		err = parent.Err()
	}
	if err != nil {
		return fail(err)
	}
	var cpu time.Duration
	if haveCPU {
		after, err := t.srv.stats()
		haveCPU = err == nil
		cpu = after.cpu - before.cpu
	}
	return ms, cpu, haveCPU, nil
}

func summarize(metrics []metric, ms []measure) string {
	var parts []string
	for i, m := range metrics {
		if i < len(ms) {
			parts = append(parts, fmt.Sprintf("%s %s", formatValue(ms[i].value), m.unit))
		}
	}
	return strings.Join(parts, ", ")
}

// distVersion is the first line of `registry --version`.
func distVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "version unknown"
	}
	// It prints "<argv0> <module> <version>"; leave out this machine's path.
	f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
	if len(f) == 3 {
		f = f[1:]
	}
	return strings.Join(f, " ")
}

// gitRevision describes the work tree wharf was built from.
func gitRevision(root string) string {
	rev, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "the work tree (no commit)"
	}
	s := "commit " + strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		s += " with local changes"
	}
	return s
}

// logf prints progress to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
