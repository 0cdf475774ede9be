package pgtest

import (
	"context"
	"errors"
	"os"
	"testing"
)

// ForTest starts a server with opts for t and stops it when t and its
// subtests are done. Without the server binaries it skips t, or fails it
// under WHARF_E2E_REQUIRE=1 (where the suite must run everything).
func ForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	srv, err := Start(context.Background(), opts)
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// Database is CreateDatabase for a test: it returns the new database's DSN
// and fails t on error.
func (s *Server) Database(t testing.TB, name string) string {
	t.Helper()
	dsn, err := s.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
