package main

import (
	"bytes"
	"strings"
	"testing"
)

// Wrong arguments are usage errors; with replication off the commands say
// so and fail.
func TestAdminReplicateArguments(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"admin", "replicate"}, 2, "want backfill or status"},
		{[]string{"admin", "replicate", "copy"}, 2, "want backfill or status"},
		{[]string{"admin", "replicate", "backfill", "--batch", "0", "--data", dir}, 2, "--batch must be positive"},
		{[]string{"admin", "replicate", "status", "extra", "--data", dir}, 2, "no arguments"},
		{[]string{"admin", "replicate", "backfill", "--data", dir}, 1, "storage replication is not enabled"},
		{[]string{"admin", "replicate", "status", "--data", dir}, 1, "storage replication is not enabled"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr, func(string) string { return "" })
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
