package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportImportArguments(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"admin", "export", "--data", data}, 2, "--output"},
		{[]string{"admin", "export", "acme/app", "--data", data}, 2, "--output"},
		{[]string{"admin", "import", "--data", data}, 2, "exactly one PATH"},
		{[]string{"admin", "import", "a", "b", "--data", data}, 2, "exactly one PATH"},
		{[]string{"admin", "export", "acme/app", "--output", filepath.Join(t.TempDir(), "out.tar"), "--data", data}, 1, "not found"},
		{[]string{"admin", "import", filepath.Join(t.TempDir(), "missing"), "--data", data}, 1, "no such file"},
		{[]string{"admin", "export", "nonsense", "--output", filepath.Join(t.TempDir(), "x"), "--data", data}, 1, "namespace/name"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr, noEnv)
		if code != tc.wantCode || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("wharf %s: exit %d (want %d), stderr %q (want %q)", strings.Join(tc.args, " "), code, tc.wantCode, stderr.String(), tc.want)
		}
	}
}
