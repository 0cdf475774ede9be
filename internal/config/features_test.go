package config

import (
	"strings"
	"testing"
	"time"
)

// Quay's feature gates and the vulnerability data download: defaults,
// loading, environment overrides and validation.
func TestFeatureGateKeys(t *testing.T) {
	d := Default()
	if !d.AutoPrune || !d.QuotaManagement || !d.ImmutableTags || !d.PermanentlyDeleteTags || d.DefaultSystemRejectQuotaBytes != 0 {
		t.Fatalf("defaults: %+v", d)
	}
	if len(d.VulnerabilityDataSources) != 0 || d.VulnerabilityDataInterval.Std() != 6*time.Hour {
		t.Fatalf("download defaults: %v %v", d.VulnerabilityDataSources, d.VulnerabilityDataInterval)
	}
	c, err := Load(writeFile(t, `
FEATURE_AUTO_PRUNE: false
FEATURE_QUOTA_MANAGEMENT: false
FEATURE_IMMUTABLE_TAGS: false
PERMANENTLY_DELETE_TAGS: false
DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: 1073741824
VULNERABILITY_DATA_SOURCES:
  - https://osv-vulnerabilities.storage.googleapis.com/Go/all.zip
VULNERABILITY_DATA_UPDATE_INTERVAL: 12h
`), env("WHARF_FEATURE_IMMUTABLE_TAGS", "true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(env("WHARF_FEATURE_IMMUTABLE_TAGS", "true")); err != nil {
		t.Fatal(err)
	}
	if c.AutoPrune || c.QuotaManagement || !c.ImmutableTags || c.PermanentlyDeleteTags || c.DefaultSystemRejectQuotaBytes != 1<<30 ||
		len(c.VulnerabilityDataSources) != 1 || c.VulnerabilityDataInterval.Std() != 12*time.Hour {
		t.Fatalf("loaded: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.DefaultSystemRejectQuotaBytes = -1 }, "DEFAULT_SYSTEM_REJECT_QUOTA_BYTES"},
		{func(c *Config) { c.VulnerabilityDataSources = []string{"file:///srv/osv.zip"} }, "VULNERABILITY_DATA_SOURCES"},
		{func(c *Config) { c.VulnerabilityDataSources = []string{"https://"} }, "VULNERABILITY_DATA_SOURCES"},
		{func(c *Config) { c.VulnerabilityDataInterval = Duration(time.Second) }, "VULNERABILITY_DATA_UPDATE_INTERVAL"},
	} {
		bad := c
		tc.mod(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
}
