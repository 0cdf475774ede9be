package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wharfBin is the path of the binary built once by TestMain.
var wharfBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	wharfBin = filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", wharfBin, "../../cmd/wharf")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building wharf:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool returns the path of an external tool, or skips the test (fails when
// WHARF_E2E_REQUIRE=1) when it is not installed.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range toolDirs() {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
		t.Fatalf("required tool %q is not installed (run scripts/test.sh, which installs it)", name)
	}
	t.Skipf("tool %q not installed; scripts/test.sh installs it", name)
	return ""
}

// toolDirs lists where the test script installs Go-built tools.
func toolDirs() []string {
	var dirs []string
	if d := os.Getenv("WHARF_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, filepath.Join(wd, "..", "..", ".tools", "bin"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), "bin"))
	}
	return dirs
}

// server is one running wharf process.
type server struct {
	t       *testing.T
	URL     string // http://127.0.0.1:PORT
	Host    string // 127.0.0.1:PORT
	DataDir string
	Args    []string // extra serve arguments
	Env     []string // extra environment (KEY=VALUE)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
}

// startServer starts wharf on a free loopback port with a fresh data directory.
// The process is stopped when the test ends.
func startServer(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, extraArgs...)
}

// startServerEnv is startServer with extra environment (WHARF_* settings).
func startServerEnv(t *testing.T, env []string, extraArgs ...string) *server {
	t.Helper()
	s := &server{t: t, DataDir: t.TempDir(), Args: extraArgs, Env: env}
	s.Host = freeAddr(t)
	s.URL = "http://" + s.Host
	s.start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("wharf log (last 4 KiB):\n%s", s.log.Tail(4096))
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	args := append([]string{"serve", "--listen", s.Host, "--data", s.DataDir}, s.Args...)
	cmd := exec.Command(wharfBin, args...)
	if s.log == nil {
		s.log = &syncBuffer{}
	}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.Env = append(os.Environ(), s.Env...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting wharf: %v", err)
	}
	s.cmd = cmd
	done := make(chan struct{})
	s.done = done
	go func() { _ = cmd.Wait(); close(done) }()
	if err := waitReady(s.URL, 30*time.Second, done); err != nil {
		s.t.Fatalf("wharf did not become ready: %v\n%s", err, s.log.Tail(4096))
	}
}

// Kill sends SIGKILL and waits for the process to die.
func (s *server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Stop sends SIGTERM and waits up to 20 s for a clean exit, then kills.
// It reports the exit status of a clean stop.
func (s *server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		s.cmd = nil
		return fmt.Errorf("wharf did not stop within 20s of SIGTERM")
	}
	code := s.cmd.ProcessState.ExitCode()
	s.cmd = nil
	if code != 0 {
		return fmt.Errorf("wharf exited with status %d", code)
	}
	return nil
}

// Restart starts the process again on the same address and data directory.
func (s *server) Restart() { s.t.Helper(); s.start() }

// Log returns everything the process has written so far.
func (s *server) Log() string { return s.log.String() }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func waitReady(url string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v2/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited")
		case <-ctx.Done():
			return fmt.Errorf("timeout after %v (last error: %v)", timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
