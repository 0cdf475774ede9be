package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/pgtest"
)

// startTLSPostgres starts PostgreSQL requiring a client certificate from ca
// for role "wharf" on database "wharf".
func startTLSPostgres(t *testing.T, ca *pgtest.CA) *pgtest.Server {
	t.Helper()
	opts, err := pgtest.TLSOptions(ca, "wharf", "wharf")
	if err != nil {
		t.Fatal(err)
	}
	srv := pgtest.ForTest(t, opts)
	srv.Database(t, "wharf")
	return srv
}

// writeDBConfig writes a wharf config that reaches PostgreSQL with
// verify-full TLS and the given client certificate; an empty cert leaves
// the certificate out.
func writeDBConfig(t *testing.T, pg *pgtest.Server, ca *pgtest.CA, certPEM, keyPEM []byte) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := fmt.Sprintf("  sslmode: verify-full\n  sslrootcert: %s\n", write("root.crt", ca.CertPEM))
	if certPEM != nil {
		args += fmt.Sprintf("  sslcert: %s\n  sslkey: %s\n", write("client.crt", certPEM), write("client.key", keyPEM))
	}
	cfg := fmt.Sprintf("DB_URI: postgresql://wharf@127.0.0.1:%d/wharf\nDB_CONNECTION_ARGS:\n%sFEATURE_SPARSE_MANIFESTS: true\nCREATE_NAMESPACE_ON_PUSH: true\n", pg.Port, args)
	return write("config.yaml", []byte(cfg))
}

// TestPostgresCertificateAuth runs wharf on PostgreSQL authenticated by a
// client certificate (verify-full), passes the OCI conformance runner on it,
// and shows that a certificate from another CA, or none, stops wharf from
// starting with a clear message.
func TestPostgresCertificateAuth(t *testing.T) {
	ca, err := pgtest.NewCA("wharf test CA")
	if err != nil {
		t.Fatal(err)
	}
	pg := startTLSPostgres(t, ca)
	cert, key, err := ca.Issue("wharf", false)
	if err != nil {
		t.Fatal(err)
	}
	good := writeDBConfig(t, pg, ca, cert, key)

	t.Run("refused", func(t *testing.T) {
		other, err := pgtest.NewCA("another CA")
		if err != nil {
			t.Fatal(err)
		}
		ocert, okey, err := other.Issue("wharf", false)
		if err != nil {
			t.Fatal(err)
		}
		for name, cfg := range map[string]string{
			"certificate from another CA": writeDBConfig(t, pg, ca, ocert, okey),
			"no client certificate":       writeDBConfig(t, pg, ca, nil, nil),
		} {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			cmd := exec.CommandContext(ctx, wharfBin, "serve", "--listen", freeAddr(t), "--data", t.TempDir(), "--config", cfg)
			out, err := cmd.CombinedOutput()
			cancel()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("%s: wharf did not refuse to start (err %v):\n%s", name, err, out)
			}
			if !strings.Contains(string(out), "postgres: cannot connect") {
				t.Fatalf("%s: the error does not say what failed:\n%s", name, out)
			}
			t.Logf("%s: %s", name, lastLogLine(string(out)))
		}
	})

	t.Run("conformance", func(t *testing.T) {
		srv := startServer(t, "--config", good)
		init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
			map[string]any{"username": "pgadmin", "password": "pgadmin-password", "access_token": true}, 200)
		if init["access_token"] == nil {
			t.Fatalf("initialize: %v", init)
		}
		runConformance(t, srv, "pgadmin", "pgadmin-password", "pgconf", "conformance-postgres")
	})
}

func lastLogLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
