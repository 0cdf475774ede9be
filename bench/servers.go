package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// distributionInstall is printed when the distribution registry binary is missing.
const distributionInstall = "go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2"

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on Linux).
const clockTicks = 100

// server is a registry process started by the benchmark.
type server struct {
	name    string
	url     string
	dir     string // private temp dir (data, config, log)
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been reaped
	waitErr error
}

// repoRoot returns the directory of the main module (where go.mod is).
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the wharf module; run from the repository")
	}
	return filepath.Dir(gomod), nil
}

// buildWharf compiles ./cmd/wharf into dir and returns the binary's path.
func buildWharf(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "wharf")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/wharf")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/wharf: %w\n%s", err, out.String())
	}
	return bin, nil
}

// findDistribution locates the CNCF distribution `registry` binary: the flag,
// then PATH, then <repo>/.tools/bin, then $(go env GOPATH)/bin.
func findDistribution(flagVal, root string) (string, error) {
	if flagVal != "" {
		if isExecutable(flagVal) {
			return flagVal, nil
		}
		return "", fmt.Errorf("-distribution-bin %q is not an executable file", flagVal)
	}
	if p, err := exec.LookPath("registry"); err == nil {
		return p, nil
	}
	candidates := []string{filepath.Join(root, ".tools", "bin", "registry")}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			candidates = append(candidates, filepath.Join(gp, "bin", "registry"))
		}
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("the distribution registry binary was not found (looked in -distribution-bin, PATH, %s)\n"+
		"install it with:\n  %s\nor into the repository's tool dir:\n  GOBIN=$PWD/.tools/bin %s",
		strings.Join(candidates, ", "), distributionInstall, distributionInstall)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// freePort asks the kernel for an unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Credentials of the user the benchmark creates in wharf.
const (
	benchUser     = "bench"
	benchPassword = "bench-password-0123"
)

// startWharf runs `wharf serve` on a loopback port with a fresh data dir.
func startWharf(ctx context.Context, name, bin, tmp, configPath string) (*server, error) {
	dir, err := os.MkdirTemp(tmp, name+"-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Wharf always authenticates: create a superuser for the benchmark and
	// send its credentials (Basic) with every request. Access logging is off
	// (warn level), as it is for distribution.
	args := []string{"--data", data}
	if configPath != "" {
		args = append(args, "--config", configPath)
	}
	create := exec.CommandContext(ctx, bin, append([]string{"admin", "create-user", benchUser, "--superuser",
		"--password", benchPassword}, args...)...)
	if out, err := create.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("creating the benchmark user: %v: %s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	cmd.Env = append(os.Environ(), "WHARF_CREATE_NAMESPACE_ON_PUSH=true", "WHARF_LOG_LEVEL=warn")
	return launch(ctx, name, cmd, dir, "http://"+benchUser+":"+benchPassword+"@"+addr)
}

// startDistribution runs the distribution registry with filesystem storage in a
// fresh temp dir, deletes enabled, warn-level logging, no access log, no
// tracing export and the in-memory blob descriptor cache of the registry's
// stock configuration.
func startDistribution(ctx context.Context, name, bin, tmp string) (*server, error) {
	dir, err := os.MkdirTemp(tmp, name+"-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: %q
`, filepath.Join(dir, "data"), addr, hex.EncodeToString(secret))
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	// distribution v3 exports OpenTelemetry traces by default; turn that off.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	return launch(ctx, name, cmd, dir, "http://"+addr)
}

// launch starts cmd in its own process group with output going to a log file in
// dir, and waits until GET /v2/ answers 200 (at most 60 s).
func launch(ctx context.Context, name string, cmd *exec.Cmd, dir, url string) (*server, error) {
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	// Own process group: a Ctrl-C in the terminal reaches only the benchmark, which
	// then stops the server itself. Pdeathsig kills the server if the benchmark dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, url: url, dir: dir, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	c, err := newClient(url)
	if err != nil {
		s.stop()
		return nil, err
	}
	defer c.close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.ping(pctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before becoming ready (%v); log:\n%s", name, s.waitErr, tailFile(logPath, 20))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not answer 200 on %s/v2/ within 60 s (last error: %v); log:\n%s", name, url, err, tailFile(logPath, 20))
		}
	}
}

// running reports whether the process is still alive.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the server's process group, waits up to 10 s, then
// sends SIGKILL. It is safe to call more than once.
func (s *server) stop() {
	if s == nil || s.cmd.Process == nil || !s.running() {
		return
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.exited:
		return
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
}

// procStats is a snapshot of a process's resource use.
type procStats struct {
	cpu     time.Duration // user + system time
	peakRSS int64         // VmHWM in bytes
}

// stats reads /proc/PID/stat and /proc/PID/status.
func (s *server) stats() (procStats, error) {
	var ps procStats
	if s == nil || !s.running() {
		return ps, errors.New("server not running")
	}
	pid := s.cmd.Process.Pid
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	if ps.cpu, err = parseProcStatCPU(string(raw)); err != nil {
		return ps, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			ps.peakRSS, err = parseKB(rest)
			return ps, err
		}
	}
	return ps, errors.New("no VmHWM in /proc status")
}

// parseProcStatCPU returns utime+stime from the contents of /proc/PID/stat. The
// command name (field 2) is in parentheses and may contain spaces, so fields are
// counted from the last ')'.
func parseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseKB parses a "   1234 kB" value from /proc/PID/status into bytes.
func parseKB(v string) (int64, error) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, errors.New("empty value")
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, err
	}
	return n << 10, nil
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
