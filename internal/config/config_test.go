package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}
	if c.ListenAddress != ":5000" || c.BlobUploadExpiration.Std() != 48*time.Hour || c.ShutdownTimeout.Std() != 30*time.Second {
		t.Fatalf("defaults changed: %+v", c)
	}
	if c.MaxBlobSizeBytes != 0 || c.AllowSparseManifests {
		t.Fatalf("limits and features are off by default: %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // substring of the error; "" means valid
	}{
		{"default", func(c *Config) {}, ""},
		{"host and port", func(c *Config) { c.ListenAddress = "127.0.0.1:8080" }, ""},
		{"ipv6", func(c *Config) { c.ListenAddress = "[::1]:5000" }, ""},
		{"no port", func(c *Config) { c.ListenAddress = "localhost" }, "LISTEN_ADDRESS"},
		{"port only", func(c *Config) { c.ListenAddress = "5000" }, "LISTEN_ADDRESS"},
		{"empty address", func(c *Config) { c.ListenAddress = "" }, "LISTEN_ADDRESS"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "DATA_DIR"},
		{"log level", func(c *Config) { c.LogLevel = "verbose" }, "LOG_LEVEL"},
		{"log level case", func(c *Config) { c.LogLevel = "INFO" }, "LOG_LEVEL"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "LOG_FORMAT"},
		{"text format", func(c *Config) { c.LogFormat = "text"; c.LogLevel = "debug" }, ""},
		{"negative blob size", func(c *Config) { c.MaxBlobSizeBytes = -1 }, "MAX_BLOB_SIZE_BYTES"},
		{"blob size", func(c *Config) { c.MaxBlobSizeBytes = 1 << 30 }, ""},
		{"zero expiration", func(c *Config) { c.BlobUploadExpiration = 0 }, "BLOBUPLOAD_DELETION_DATE_THRESHOLD"},
		{"negative expiration", func(c *Config) { c.BlobUploadExpiration = Duration(-time.Hour) }, "BLOBUPLOAD_DELETION_DATE_THRESHOLD"},
	}
	for _, tc := range tests {
		c := Default()
		tc.change(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: no error, want one about %s", tc.name, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.want)
		}
	}

	// Every problem is reported at once.
	c := Default()
	c.ListenAddress, c.DataDir, c.LogLevel, c.LogFormat, c.MaxBlobSizeBytes, c.BlobUploadExpiration = "x", "", "x", "x", -1, 0
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"LISTEN_ADDRESS", "DATA_DIR", "LOG_LEVEL", "LOG_FORMAT", "MAX_BLOB_SIZE_BYTES", "BLOBUPLOAD_DELETION_DATE_THRESHOLD"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("joined error does not name %s: %v", key, err)
		}
	}
}

func TestLoad(t *testing.T) {
	p := writeFile(t, `
# A comment.
LISTEN_ADDRESS: "${ADDR}"
DATA_DIR: ${BASE}/data
SERVER_HOSTNAME: registry.example.com:${PORT}
LOG_LEVEL: debug
MAX_BLOB_SIZE_BYTES: 1048576
BLOBUPLOAD_DELETION_DATE_THRESHOLD: 2d
SHUTDOWN_TIMEOUT: 90s
FEATURE_SPARSE_MANIFESTS: true
`)
	c, err := Load(p, env("ADDR", "127.0.0.1:6000", "BASE", "/srv/wharf", "PORT", "443"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ListenAddress != "127.0.0.1:6000" || c.DataDir != "/srv/wharf/data" || c.ServerHostname != "registry.example.com:443" {
		t.Fatalf("expansion: %+v", c)
	}
	if c.LogLevel != "debug" || c.MaxBlobSizeBytes != 1<<20 || !c.AllowSparseManifests {
		t.Fatalf("values: %+v", c)
	}
	if c.BlobUploadExpiration.Std() != 48*time.Hour || c.ShutdownTimeout.Std() != 90*time.Second {
		t.Fatalf("durations: %v %v", c.BlobUploadExpiration.Std(), c.ShutdownTimeout.Std())
	}
	// Keys not in the file keep their defaults.
	if c.LogFormat != "json" {
		t.Fatalf("LOG_FORMAT %q, want the default", c.LogFormat)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	// An unset variable expands to nothing.
	c, err = Load(writeFile(t, "SERVER_HOSTNAME: \"${UNSET}x\"\n"), env())
	if err != nil || c.ServerHostname != "x" {
		t.Fatalf("unset variable: %q, %v", c.ServerHostname, err)
	}
	// A number of seconds is a duration too.
	c, err = Load(writeFile(t, "SHUTDOWN_TIMEOUT: 3600\n"), env())
	if err != nil || c.ShutdownTimeout.Std() != time.Hour {
		t.Fatalf("seconds: %v, %v", c.ShutdownTimeout.Std(), err)
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load("", env())
	if err != nil || c.ListenAddress != Default().ListenAddress || c.DataDir != Default().DataDir {
		t.Fatalf("no path: %+v, %v", c, err)
	}
	for _, content := range []string{"", "\n", "# only a comment\n", "---\n"} {
		c, err := Load(writeFile(t, content), env())
		if err != nil {
			t.Fatalf("Load(%q): %v", content, err)
		}
		if c.ListenAddress != Default().ListenAddress || c.BlobUploadExpiration != Default().BlobUploadExpiration {
			t.Fatalf("Load(%q) = %+v, want defaults", content, c)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"unknown key", "LISTEN_ADDRESS: :5000\nNO_SUCH_KEY: 1\n", "NO_SUCH_KEY"},
		{"lower-case key", "listen_address: :5000\n", "listen_address"},
		{"not yaml", "LISTEN_ADDRESS: [unclosed\n", ""},
		{"not a mapping", "- a\n- b\n", ""},
		{"bad number", "MAX_BLOB_SIZE_BYTES: lots\n", "lots"},
		{"bad bool", "FEATURE_SPARSE_MANIFESTS: maybe\n", "maybe"},
		{"bad duration", "SHUTDOWN_TIMEOUT: soon\n", "soon"},
		{"bad duration unit", "BLOBUPLOAD_DELETION_DATE_THRESHOLD: 2y\n", "2y"},
		{"variable makes it invalid", "MAX_BLOB_SIZE_BYTES: ${SIZE}\n", "ten"},
	}
	for _, tc := range tests {
		p := writeFile(t, tc.content)
		_, err := Load(p, env("SIZE", "ten"))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
		if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), env()); err == nil {
		t.Error("missing file: no error")
	}
}

func TestApplyEnv(t *testing.T) {
	c := Default()
	err := c.ApplyEnv(env(
		"WHARF_LISTEN_ADDRESS", "127.0.0.1:7000",
		"WHARF_DATA_DIR", `/data/with "quotes" and \ and # hash: [x]`,
		"WHARF_MAX_BLOB_SIZE_BYTES", "5368709120",
		"WHARF_FEATURE_SPARSE_MANIFESTS", "true",
		"WHARF_BLOBUPLOAD_DELETION_DATE_THRESHOLD", "2w",
		"WHARF_SHUTDOWN_TIMEOUT", "45s",
		"LISTEN_ADDRESS", "ignored:1", // only WHARF_ variables count
	))
	if err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	if c.ListenAddress != "127.0.0.1:7000" || c.DataDir != `/data/with "quotes" and \ and # hash: [x]` {
		t.Fatalf("strings: %q %q", c.ListenAddress, c.DataDir)
	}
	if c.MaxBlobSizeBytes != 5<<30 || !c.AllowSparseManifests {
		t.Fatalf("number and bool: %d %v", c.MaxBlobSizeBytes, c.AllowSparseManifests)
	}
	if c.BlobUploadExpiration.Std() != 14*24*time.Hour || c.ShutdownTimeout.Std() != 45*time.Second {
		t.Fatalf("durations: %v %v", c.BlobUploadExpiration.Std(), c.ShutdownTimeout.Std())
	}
	// Unset variables change nothing.
	if c.LogLevel != "info" || c.LogFormat != "json" {
		t.Fatalf("unset keys changed: %+v", c)
	}

	// Environment overrides the file.
	c, err = Load(writeFile(t, "LISTEN_ADDRESS: :5001\nFEATURE_SPARSE_MANIFESTS: true\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(env("WHARF_LISTEN_ADDRESS", ":5002", "WHARF_FEATURE_SPARSE_MANIFESTS", "false")); err != nil {
		t.Fatal(err)
	}
	if c.ListenAddress != ":5002" || c.AllowSparseManifests {
		t.Fatalf("override: %+v", c)
	}
}

func TestApplyEnvErrors(t *testing.T) {
	for _, kv := range [][2]string{
		{"WHARF_MAX_BLOB_SIZE_BYTES", "big"},
		{"WHARF_MAX_BLOB_SIZE_BYTES", "[1]"},
		{"WHARF_FEATURE_SPARSE_MANIFESTS", "perhaps"},
		{"WHARF_SHUTDOWN_TIMEOUT", "later"},
		{"WHARF_BLOBUPLOAD_DELETION_DATE_THRESHOLD", "-2d"},
	} {
		c := Default()
		err := c.ApplyEnv(env(kv[0], kv[1]))
		if err == nil {
			t.Errorf("%s=%q: no error", kv[0], kv[1])
			continue
		}
		if !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%q: error %q does not name the variable", kv[0], kv[1], err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"2d", 48 * time.Hour, true},
		{"0d", 0, true},
		{"2w", 14 * 24 * time.Hour, true},
		{"3600", time.Hour, true},
		{"0", 0, true},
		{" 10s ", 10 * time.Second, true},
		{"106751d", 106751 * 24 * time.Hour, true},
		{"", 0, false},
		{"   ", 0, false},
		{"abc", 0, false},
		{"d", 0, false},
		{"w", 0, false},
		{"-2d", 0, false},
		{"+-2d", 0, false},
		{"1.5d", 0, false},
		{"2 d", 0, false},
		{"2x", 0, false},
		{"2y", 0, false},
		{"10 s", 0, false},
		{"1e3", 0, false},
		// Out of range: must fail rather than wrap around.
		{"106752d", 0, false},
		{"15251w", 0, false},
		{"9223372037", 0, false},
		{"9223372036854775807", 0, false},
		{"99999999999999999999", 0, false},
		{"99999999999999999999d", 0, false},
		{"9999999999999999h", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if !tc.ok {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "2d", "2w", "3600", "-5", "1h30m", "106752d", "9223372037"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		// The integer forms are exact: no rounding, no wrapping around.
		trim := strings.TrimSpace(s)
		if n, perr := strconv.ParseInt(trim, 10, 64); perr == nil {
			if d%time.Second != 0 || int64(d/time.Second) != n {
				t.Fatalf("ParseDuration(%q) = %v", s, d)
			}
			return
		}
		if strings.HasSuffix(trim, "d") || strings.HasSuffix(trim, "w") {
			if d < 0 || d%(24*time.Hour) != 0 {
				t.Fatalf("ParseDuration(%q) = %v", s, d)
			}
		}
	})
}
