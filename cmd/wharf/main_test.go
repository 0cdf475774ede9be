package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "no args", args: nil, wantCode: 2, wantStderr: "usage:"},
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "wharf "},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "wharf serve"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate"`},
		{name: "bad flag", args: []string{"serve", "--nope"}, wantCode: 2, wantStderr: "flag provided but not defined"},
		{name: "bad listen address", args: []string{"serve", "--listen", "nonsense"}, wantCode: 2, wantStderr: "LISTEN_ADDRESS"},
		{name: "missing config file", args: []string{"serve", "--config", "/nonexistent/wharf.yaml"}, wantCode: 2, wantStderr: "config"},
		{name: "bad env value", args: []string{"serve"}, env: map[string]string{"WHARF_MAX_BLOB_SIZE_BYTES": "lots"}, wantCode: 2, wantStderr: "WHARF_MAX_BLOB_SIZE_BYTES"},
		{name: "bad log level from env", args: []string{"serve"}, env: map[string]string{"WHARF_LOG_LEVEL": "loud"}, wantCode: 2, wantStderr: "LOG_LEVEL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			code := run(tc.args, &stdout, &stderr, getenv)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d (stderr: %s)", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

func TestServeRejectsUnknownConfigKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("LISTEN_ADRESS: \":5000\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"serve", "--config", path}, &stdout, &stderr, noEnv); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "LISTEN_ADRESS") {
		t.Fatalf("stderr does not name the unknown key: %s", stderr.String())
	}
}
