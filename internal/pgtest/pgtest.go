// Package pgtest starts a throwaway PostgreSQL server (Debian's postgresql
// package) in a temporary directory for tests: initdb, then postgres on a
// free loopback port, stopped and removed by Stop. Tests use it to run the
// same suites on PostgreSQL as on SQLite. It is imported only by tests.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/wharfhq/wharf/internal/testproc"
)

// ErrNotInstalled means no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("PostgreSQL server binaries not found (Debian package postgresql)")

// Server is a running PostgreSQL server.
type Server struct {
	Dir  string // data directory (also the socket directory)
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	cred *syscall.Credential
}

// BinDir finds the directory with initdb and postgres.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

// Options tune the server.
type Options struct {
	// ExtraConf lines are appended to postgresql.conf (e.g. ssl settings).
	ExtraConf []string
	// HBA replaces pg_hba.conf when set.
	HBA string
	// Setup runs after initdb, before the server starts, with the data dir
	// (to place certificates, for example).
	Setup func(dataDir string) error
}

// Start runs initdb in a new temporary directory and starts the server. As
// root, the server runs as the "postgres" system user, which PostgreSQL
// requires.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wharf-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := s.command(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	conf := []string{"listen_addresses = '127.0.0.1'", "unix_socket_directories = '" + dir + "'", "fsync = off",
		"synchronous_commit = off", "full_page_writes = off", "max_connections = 200", "shared_buffers = 32MB"}
	conf = append(conf, opts.ExtraConf...)
	if err := appendFile(filepath.Join(data, "postgresql.conf"), strings.Join(conf, "\n")+"\n"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if opts.HBA != "" {
		if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(opts.HBA), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if opts.Setup != nil {
		if err := opts.Setup(data); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if s.cred != nil {
		if err := chownTree(data, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		s.Port, err = testproc.FreePort()
		if err != nil {
			break
		}
		s.cmd = s.command(context.WithoutCancel(ctx), filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port))
		logf, ferr := os.Create(filepath.Join(dir, "server.log"))
		if ferr != nil {
			err = ferr
			break
		}
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		if err = s.cmd.Start(); err != nil {
			logf.Close()
			break
		}
		logf.Close()
		s.done = make(chan struct{})
		go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(s.cmd, s.done)
		if err = s.waitReady(ctx, 30*time.Second); err == nil {
			return s, nil
		}
		s.kill()
	}
	logb, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	os.RemoveAll(dir)
	return nil, fmt.Errorf("postgres did not start: %v\n%s", err, logb)
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.cred != nil {
		cmd.SysProcAttr.Credential = s.cred
	}
	cmd.Dir = s.Dir
	return cmd
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("server exited")
		default:
		}
		db, err := sql.Open("pgx", s.AdminDSN())
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("timed out")
}

// AdminDSN connects as the postgres superuser over TCP (trust).
func (s *Server) AdminDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
}

// CreateDatabase creates a database (and a login role of the same name that
// owns it) and returns a DSN for it.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", s.AdminDSN())
	if err != nil {
		return "", err
	}
	defer db.Close()
	for _, q := range []string{
		fmt.Sprintf(`CREATE ROLE %q LOGIN`, name),
		fmt.Sprintf(`CREATE DATABASE %q OWNER %q`, name, name),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", name, s.Port, name), nil
}

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() {
	testproc.Stop(s.cmd, s.done, syscall.SIGINT, 15*time.Second) // fast shutdown
	os.RemoveAll(s.Dir)
}

func (s *Server) kill() { testproc.Kill(s.cmd, s.done) }

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
