package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// conformanceTimeout bounds one run of the OCI conformance runner.
const conformanceTimeout = 10 * time.Minute

// conformanceEnv configures the runner (github.com/opencontainers/distribution-spec/conformance,
// installed as oci-conformance): spec version 1.1 with every API and data area enabled,
// including the ones that are optional in 1.1.
var conformanceEnv = []string{
	"OCI_VERSION=1.1",
	"OCI_TLS=disabled",
	"OCI_API_PING=true",
	"OCI_API_PULL=true",
	"OCI_API_PUSH=true",
	"OCI_API_BLOBS_ATOMIC=true",
	"OCI_API_BLOBS_DELETE=true",
	"OCI_API_BLOBS_DIGEST_HEADER=true",
	"OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
	"OCI_API_BLOBS_UPLOAD_CANCEL=true",
	"OCI_API_MANIFESTS_ATOMIC=true",
	"OCI_API_MANIFESTS_DELETE=true",
	"OCI_API_MANIFESTS_DIGEST_HEADER=true",
	"OCI_API_MANIFESTS_TAG_PARAM=true",
	"OCI_API_TAGS_ATOMIC=true",
	"OCI_API_TAGS_DELETE=true",
	"OCI_API_TAGS_LIST=true",
	"OCI_API_REFERRER=true",
	"OCI_DATA_IMAGE=true",
	"OCI_DATA_INDEX=true",
	"OCI_DATA_INDEX_LIST=true",
	"OCI_DATA_SPARSE=true",
	"OCI_DATA_ARTIFACT=true",
	"OCI_DATA_SUBJECT=true",
	"OCI_DATA_SUBJECT_MISSING=true",
	"OCI_DATA_ARTIFACT_LIST=true",
	"OCI_DATA_SUBJECT_LIST=true",
	"OCI_DATA_DATA_FIELD=true",
	"OCI_DATA_NONDISTRIBUTABLE=true",
	"OCI_DATA_CUSTOM_FIELDS=true",
	"OCI_DATA_NO_LAYERS=true",
	"OCI_DATA_EMPTY_BLOB=true",
	"OCI_DATA_SHA512=true",
}

// TestOCIConformance runs the OCI distribution-spec conformance runner against a fresh
// wharf (as a user when the server requires authentication) and fails on any failing
// conformance test. The reports (results.yaml, junit.xml,
// report.html, the console output and the wharf log) are copied to
// $WHARF_ARTIFACTS/conformance when WHARF_ARTIFACTS is set.
func TestOCIConformance(t *testing.T) {
	requireTool(t, "oci-conformance")
	// The runner's sparse-manifest area needs FEATURE_SPARSE_MANIFESTS.
	srv := startServerEnv(t, []string{"WHARF_FEATURE_SPARSE_MANIFESTS=true"})
	// when the server requires authentication, the repositories are in the namespace
	// of the user "conformance"
	user, password := registryUser(t, srv, "conformance")
	runConformance(t, srv, user, password, "conformance", "conformance")
}

// runConformance runs the conformance runner against srv as user, with
// repositories under namespace, and fails the test on any failure. Reports go
// to $WHARF_ARTIFACTS/<artifacts>.
func runConformance(t *testing.T, srv *server, user, password, namespace, artifacts string) {
	t.Helper()
	runner := requireTool(t, "oci-conformance")
	results := t.TempDir()
	rnd := randomHex(t, 4)

	env := []string{
		"OCI_REGISTRY=" + srv.Host,
		"OCI_REPO1=" + namespace + "/" + rnd + "/repo1",
		"OCI_REPO2=" + namespace + "/" + rnd + "/repo2",
		"OCI_RESULTS_DIR=" + results,
	}
	if user != "" {
		env = append(env, "OCI_USERNAME="+user, "OCI_PASSWORD="+password)
	}
	env = append(env, conformanceEnv...)

	ctx, cancel := context.WithTimeout(t.Context(), conformanceTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runner)
	// Run in the (empty) results directory: the runner would also read an
	// oci-conformance.yaml from its working directory.
	cmd.Dir = results
	cmd.Env = append(withoutOCIVars(os.Environ()), env...)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start)
	if err := os.WriteFile(filepath.Join(results, "output.txt"), out.Bytes(), 0o644); err != nil {
		t.Error(err)
	}
	defer func() {
		if err := os.WriteFile(filepath.Join(results, "wharf.log"), []byte(srv.Log()), 0o644); err != nil {
			t.Error(err)
		}
		copyArtifacts(t, results, artifacts)
	}()

	if ctx.Err() != nil {
		t.Fatalf("conformance runner did not finish within %v; output:\n%s", conformanceTimeout, tailText(out.String(), 4000))
	}
	// The runner exits 1 when a test failed; the reports say which.
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		t.Fatalf("running the conformance runner: %v", runErr)
	}
	junit, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance runner wrote no junit.xml (%v, exit: %v); output:\n%s", err, runErr, tailText(out.String(), 4000))
	}
	sum, err := summarizeJUnit(junit)
	if err != nil {
		t.Fatalf("parsing junit.xml: %v", err)
	}
	t.Logf("conformance: %d passed, %d failed, %d skipped in %.1fs (leaf tests of junit.xml)",
		sum.passed, sum.failedN, sum.skippedN, elapsed.Seconds())
	if rows, err := readResultsYAML(filepath.Join(results, "results.yaml")); err != nil {
		t.Errorf("reading results.yaml: %v", err)
	} else {
		var notPass []string
		for _, r := range rows {
			if r.status != "Pass" {
				notPass = append(notPass, fmt.Sprintf("%-4s %s: %s", r.section, r.name, r.status))
			}
		}
		if len(notPass) > 0 {
			t.Logf("results.yaml rows that are not Pass:\n  %s", strings.Join(notPass, "\n  "))
		}
	}
	if sum.skippedN > 0 {
		t.Logf("skipped tests (features the registry answered as unsupported):\n  %s", strings.Join(sum.skipped, "\n  "))
	}
	if sum.failedN > 0 {
		t.Errorf("%d conformance tests failed (%d distinct names); reports in %s:\n  %s",
			sum.failedN, len(sum.failed), reportsWhere(), strings.Join(sum.failed, "\n  "))
	}
	if sum.passed == 0 {
		t.Errorf("no conformance test passed (exit: %v); output:\n%s", runErr, tailText(out.String(), 4000))
	}
	if runErr != nil && sum.failedN == 0 {
		t.Errorf("conformance runner failed (%v) without a failing test; output:\n%s", runErr, tailText(out.String(), 4000))
	}
}

// withoutOCIVars drops every OCI_* variable: the runner reads its whole configuration
// from them, including the legacy names (OCI_ROOT_URL, OCI_NAMESPACE, OCI_TEST_*, ...)
// that would override the settings given here.
func withoutOCIVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "OCI_") {
			out = append(out, kv)
		}
	}
	return out
}

type junitSummary struct {
	passed, failedN, skippedN int      // leaf test counts
	failed                    []string // distinct names, "name (xN): first error line", sorted
	skipped                   []string // distinct names, "name (xN)", sorted
}

// summarizeJUnit counts the leaf tests of the runner's junit.xml. The runner writes only
// leaf tests as <testcase> elements and marks their outcome with a status attribute
// (passed, skipped, failure, error) rather than with <failure> elements; the tests=
// counts of its <testsuite> elements also include group nodes, so they are not used.
// Test names repeat (one per pushed object), so each name is listed once with a count.
func summarizeJUnit(data []byte) (junitSummary, error) {
	type testcase struct {
		Name      string    `xml:"name,attr"`
		Status    string    `xml:"status,attr"`
		Failure   *struct{} `xml:"failure"`
		Error     *struct{} `xml:"error"`
		Skipped   *struct{} `xml:"skipped"`
		SystemOut string    `xml:"system-out"`
	}
	type suite struct {
		Cases  []testcase `xml:"testcase"`
		Suites []suite    `xml:"testsuite"`
	}
	var root suite
	if err := xml.Unmarshal(data, &root); err != nil {
		return junitSummary{}, err
	}
	var cases []testcase
	var walk func(s suite)
	walk = func(s suite) {
		cases = append(cases, s.Cases...)
		for _, c := range s.Suites {
			walk(c)
		}
	}
	walk(root)

	type agg struct {
		n   int
		msg string
	}
	failed, skipped := map[string]*agg{}, map[string]*agg{}
	var sum junitSummary
	for _, c := range cases {
		var into map[string]*agg
		switch junitOutcome(c.Status, c.Failure != nil || c.Error != nil, c.Skipped != nil) {
		case "pass":
			sum.passed++
			continue
		case "skip":
			sum.skippedN++
			into = skipped
		default:
			sum.failedN++
			into = failed
		}
		a := into[c.Name]
		if a == nil {
			a = &agg{}
			into[c.Name] = a
		}
		a.n++
		if a.msg == "" {
			a.msg, _, _ = strings.Cut(strings.TrimSpace(c.SystemOut), "\n")
		}
	}
	list := func(m map[string]*agg, withMsg bool) []string {
		var out []string
		for name, a := range m {
			s := name
			if a.n > 1 {
				s += fmt.Sprintf(" (x%d)", a.n)
			}
			if withMsg && a.msg != "" {
				s += ": " + truncText(a.msg, 300)
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return out
	}
	sum.failed = list(failed, true)
	sum.skipped = list(skipped, false)
	return sum, nil
}

// junitOutcome classifies one test case as pass, fail or skip: by its status attribute
// when it has one, else by its child elements.
func junitOutcome(status string, failed, skipped bool) string {
	switch strings.ToLower(status) {
	case "passed", "pass", "success":
		return "pass"
	case "skipped", "skip", "disabled":
		return "skip"
	case "failure", "failed", "fail", "error":
		return "fail"
	}
	switch {
	case failed:
		return "fail"
	case skipped:
		return "skip"
	}
	return "pass"
}

type conformanceRow struct{ section, name, status string }

// readResultsYAML reads the per-API and per-data verdicts of results.yaml
// ("apis:" and "data:" maps of name -> Pass|FAIL|Skip|Disabled|Error).
func readResultsYAML(path string) ([]conformanceRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []conformanceRow
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "apis:":
			section = "api"
		case line == "data:":
			section = "data"
		case !strings.HasPrefix(line, " "):
			section = ""
		case section != "" && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   "):
			name, status, ok := strings.Cut(strings.TrimSpace(line), ": ")
			if ok {
				rows = append(rows, conformanceRow{section, name, status})
			}
		}
	}
	return rows, sc.Err()
}

func truncText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// reportsWhere says where the reports of a run can be read after the test.
func reportsWhere() string {
	if root := os.Getenv("WHARF_ARTIFACTS"); root != "" {
		return filepath.Join(root, "conformance")
	}
	return "the test's temporary directory (set WHARF_ARTIFACTS to keep them)"
}

// copyArtifacts copies the files of dir to $WHARF_ARTIFACTS/<sub> when WHARF_ARTIFACTS is set.
func copyArtifacts(t *testing.T, dir, sub string) {
	t.Helper()
	root := os.Getenv("WHARF_ARTIFACTS")
	if root == "" {
		return
	}
	dst := filepath.Join(root, sub)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Errorf("artifacts: %v", err)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("artifacts: %v", err)
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
		}
		if err != nil {
			t.Errorf("artifacts: %v", err)
		}
	}
	t.Logf("reports copied to %s", dst)
}
