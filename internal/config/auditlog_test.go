package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestActionLogSettings(t *testing.T) {
	c := Default()
	if c.ActionLogPulls != "all" || c.ActionLogRotation || c.ActionLogRotationThreshold.Std() != 30*24*time.Hour || !c.ActionLogAuditLogins {
		t.Fatalf("defaults: %q %v %v", c.ActionLogPulls, c.ActionLogRotation, c.ActionLogRotationThreshold.Std())
	}
	for _, tc := range []struct {
		env map[string]string
		ok  bool
	}{
		{map[string]string{"WHARF_ACTION_LOG_PULLS": "off"}, true},
		{map[string]string{"WHARF_ACTION_LOG_PULLS": "sampled", "WHARF_ACTION_LOG_PULL_SAMPLE_RATE": "0.25"}, true},
		{map[string]string{"WHARF_ACTION_LOG_PULLS": "some"}, false},
		{map[string]string{"WHARF_ACTION_LOG_PULL_SAMPLE_RATE": "1.5"}, false},
		{map[string]string{"WHARF_ACTION_LOG_PULL_SAMPLE_RATE": "-0.1"}, false},
		{map[string]string{"WHARF_FEATURE_ACTION_LOG_ROTATION": "true", "WHARF_ACTION_LOG_ROTATION_THRESHOLD": "2w"}, true},
		{map[string]string{"WHARF_FEATURE_ACTION_LOG_ROTATION": "true", "WHARF_ACTION_LOG_ROTATION_THRESHOLD": "0"}, false},
	} {
		c := Default()
		if err := c.ApplyEnv(func(k string) string { return tc.env[k] }); err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		err := c.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "ACTION_LOG"); got != tc.ok {
			t.Errorf("%v: Validate = %v", tc.env, err)
		}
	}
	// From a file, with Quay's keys.
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("ACTION_LOG_PULLS: sampled\nACTION_LOG_PULL_SAMPLE_RATE: 0.5\nFEATURE_ACTION_LOG_ROTATION: true\nACTION_LOG_ROTATION_THRESHOLD: 90d\nACTION_LOG_AUDIT_LOGINS: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.ActionLogPulls != "sampled" || c.ActionLogPullSampleRate != 0.5 || !c.ActionLogRotation || c.ActionLogRotationThreshold.Std() != 90*24*time.Hour || c.ActionLogAuditLogins {
		t.Fatalf("loaded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
