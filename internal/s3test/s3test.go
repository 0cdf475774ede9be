// Package s3test starts a throwaway S3 server for tests: the versitygw gateway
// with its posix backend on a temporary directory (each sub-directory is a
// bucket), listening on a free loopback port, stopped and removed by Stop.
// Tests use it to run the blob suite against real S3. It is imported only by
// tests and imports no internal package.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wharfhq/wharf/internal/testproc"
)

// Binary is the gateway's executable name; scripts/test.sh installs it with
// go install github.com/versity/versitygw/cmd/versitygw@v1.8.0.
const Binary = "versitygw"

// ErrNotInstalled means the versitygw binary was not found.
var ErrNotInstalled = errors.New("versitygw not found (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0; scripts/test.sh installs it into .tools/bin)")

const healthPath = "/wharf-s3test-health"

// Server is a running versitygw gateway.
type Server struct {
	Endpoint  string // 127.0.0.1:PORT (plain HTTP unless Options.CertFile is set)
	AccessKey string
	SecretKey string
	Dir       string // the posix backend's root: one sub-directory per bucket

	root string // holds Dir and the server log
	opts Options
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Find returns the path of the versitygw binary, looked up in $WHARF_TOOLS_BIN,
// <repo>/.tools/bin, PATH and $(go env GOPATH)/bin, in that order.
func Find() (string, error) {
	var dirs []string
	if d := os.Getenv("WHARF_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	if repo, ok := repoRoot(); ok {
		dirs = append(dirs, filepath.Join(repo, ".tools", "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, Binary); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(Binary); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p := filepath.Join(gp, "bin", Binary); isExecutable(p) {
				return p, nil
			}
		}
	}
	return "", ErrNotInstalled
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// repoRoot walks up from the working directory to the directory with go.mod.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Options tune the server.
type Options struct {
	// CertFile and KeyFile, when set, make the server speak https only.
	CertFile, KeyFile string
}

// Start runs versitygw on a free loopback port with a new temporary directory
// and random credentials, and waits until it answers.
func Start(ctx context.Context) (*Server, error) { return StartOptions(ctx, Options{}) }

// StartOptions is Start with options.
func StartOptions(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "wharf-s3-")
	if err != nil {
		return nil, fmt.Errorf("s3test: %w", err)
	}
	s := &Server{root: root, Dir: filepath.Join(root, "data"), AccessKey: "wharf" + randHex(6), SecretKey: randHex(20), opts: opts}
	if err := os.Mkdir(s.Dir, 0o750); err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("s3test: %w", err)
	}
	logPath := filepath.Join(root, "server.log")
	for attempt := 0; attempt < 5; attempt++ {
		var port int
		if port, err = testproc.FreePort(); err != nil {
			break
		}
		s.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
		if err = s.start(bin, logPath); err != nil {
			break
		}
		if err = s.waitReady(ctx, 30*time.Second); err == nil {
			return s, nil
		}
		s.kill()
	}
	logb, _ := os.ReadFile(logPath)
	os.RemoveAll(root)
	return nil, fmt.Errorf("s3test: versitygw did not start: %w\n%s", err, logb)
}

func (s *Server) start(bin, logPath string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"--port", s.Endpoint, "--access", s.AccessKey, "--secret", s.SecretKey, "--health", healthPath, "--quiet"}
	if s.opts.CertFile != "" {
		args = append(args, "--cert", s.opts.CertFile, "--key", s.opts.KeyFile)
	}
	cmd := exec.Command(bin, append(args, "posix", s.Dir)...)
	// Credentials only through flags: the gateway also reads ROOT_ACCESS_KEY
	// and other settings from the environment, which must not leak in.
	cmd.Env = filterEnv(os.Environ(), "ROOT_", "VGW_", "LOGFILE=", "WEBHOOK=")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(cmd, s.done)
	return nil
}

func filterEnv(env []string, prefixes ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		drop := false
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Readiness only: whether the server answers, not who it is.
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // readiness probe of a local test server
	client := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	defer tr.CloseIdleConnections()
	for {
		select {
		case <-s.done:
			return errors.New("server exited")
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+healthPath, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", s.Endpoint, ctx.Err())
		case <-s.done:
			return errors.New("server exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the server's base URL, http(s)://127.0.0.1:PORT.
func (s *Server) URL() string {
	if s.opts.CertFile != "" {
		return "https://" + s.Endpoint
	}
	return "http://" + s.Endpoint
}

// NewBucket creates an empty bucket (a directory of the posix backend).
func (s *Server) NewBucket(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("s3test: invalid bucket name %q", name)
	}
	if err := os.Mkdir(filepath.Join(s.Dir, name), 0o750); err != nil {
		return fmt.Errorf("s3test: new bucket: %w", err)
	}
	return nil
}

// Log returns the server's output so far (for failing tests).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.root, "server.log"))
	return string(bytes.TrimSpace(b))
}

// Stop kills the server and removes its directory. It is safe to call twice.
func (s *Server) Stop() {
	s.once.Do(func() {
		testproc.Stop(s.cmd, s.done, syscall.SIGTERM, 5*time.Second)
		os.RemoveAll(s.root)
	})
}

func (s *Server) kill() { testproc.Kill(s.cmd, s.done) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
