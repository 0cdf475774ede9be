package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/wharfhq/wharf"

// allowed lists, per package (relative to the module; a trailing "/..." covers
// sub-packages), the internal packages it may import directly. Packages not
// listed may import any internal package except those in forbiddenEverywhere.
var allowed = map[string][]string{
	"internal/core":     {},
	"internal/oci":      {"internal/core"},
	"internal/httpx":    {},
	"internal/blob":     {"internal/core", "internal/oci"},
	"internal/blob/...": {"internal/blob", "internal/core", "internal/oci"},
	"internal/store":    {"internal/core", "internal/oci"},
	"internal/auth":     {"internal/core", "internal/oci", "internal/store"},
	"internal/registry": {"internal/core", "internal/oci", "internal/blob", "internal/store", "internal/auth", "internal/httpx"},
	"internal/api":      {"internal/core", "internal/oci", "internal/store", "internal/auth", "internal/httpx"},
	"internal/ui":       {"internal/core", "internal/httpx"},
	"internal/gc":       {"internal/core", "internal/oci", "internal/blob", "internal/store"},
	"internal/mirror":   {"internal/core", "internal/oci", "internal/blob", "internal/store", "internal/auth"},
	"internal/vulndb":   {},
	"internal/scanner":  {"internal/core", "internal/oci", "internal/blob", "internal/store", "internal/vulndb"},
	"internal/jobs":     {"internal/core", "internal/store"},
	"internal/notify":   {"internal/core", "internal/store"},
	"internal/smtptest": {},
	"internal/testproc": {},
	"internal/config":   {},

	// The pull-through cache talks to upstream registries, never to the HTTP edges.
	"internal/proxycache": {"internal/core", "internal/oci", "internal/blob", "internal/store", "internal/auth"},
}

// onlyImportedBy restricts who may import a package.
var onlyImportedBy = map[string][]string{
	"internal/config": {"cmd/wharf", "internal/app"},
	"internal/app":    {"cmd/wharf"},
	// The queue is wired by app; workers (gc, ...) get plain functions.
	"internal/jobs": {"internal/app"},
	// Test helpers that start real servers: tests and the benchmark only.
	"internal/pgtest":   {"bench", "bench/gc"},
	"internal/s3test":   {"bench"},
	"internal/ldaptest": {},
	"internal/oidctest": {},
	"internal/smtptest": {},
	"internal/testproc": {"internal/pgtest", "internal/s3test", "internal/ldaptest"},
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func rel(importPath string) (string, bool) {
	if importPath == module {
		return "", true
	}
	return strings.CutPrefix(importPath, module+"/")
}

func rulesFor(p string) ([]string, bool) {
	if r, ok := allowed[p]; ok {
		return r, true
	}
	for k, r := range allowed {
		if base, ok := strings.CutSuffix(k, "/..."); ok && strings.HasPrefix(p, base+"/") {
			return r, true
		}
	}
	return nil, false
}

func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	checked := 0
	for _, p := range pkgs {
		from, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := rel(imp)
			if !ok {
				continue
			}
			checked++
			if rules, ok := rulesFor(from); ok && !contains(rules, to) {
				t.Errorf("%s imports %s; allowed internal imports: %v", from, to, rules)
			}
			if importers, ok := onlyImportedBy[to]; ok && !contains(importers, from) {
				t.Errorf("%s imports %s; only %v may", from, to, importers)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no internal imports checked")
	}
}

func contains(list []string, p string) bool {
	for _, l := range list {
		if l == p || (strings.HasSuffix(l, "/...") && strings.HasPrefix(p, path.Dir(l)+"/")) {
			return true
		}
	}
	return false
}
