package config

import (
	"strings"
	"testing"
	"time"
)

func TestLifecycleSettings(t *testing.T) {
	day := 24 * time.Hour
	c, err := Load(writeFile(t, "REGISTRY_STATE: readonly\nTAG_EXPIRATION_OPTIONS: [0s, 1d, 3w]\nDEFAULT_TAG_EXPIRATION: 1d\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.RegistryState != "readonly" || c.DefaultTagExpiration.Std() != day || len(c.TagExpirationOptions) != 3 ||
		c.TagExpirationOptions[2].Std() != 21*day {
		t.Fatalf("loaded %q %v %v", c.RegistryState, c.DefaultTagExpiration, c.TagExpirationOptions)
	}

	c = Default()
	if err := c.ApplyEnv(env("WHARF_TAG_EXPIRATION_OPTIONS", "1h,2d", "WHARF_DEFAULT_TAG_EXPIRATION", "2d",
		"WHARF_REGISTRY_STATE", "readonly")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.TagExpirationOptions[0].Std() != time.Hour || c.RegistryState != "readonly" {
		t.Fatalf("from the environment: %v %v %q", err, c.TagExpirationOptions, c.RegistryState)
	}

	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"state":           {func(c *Config) { c.RegistryState = "maintenance" }, "REGISTRY_STATE"},
		"no options":      {func(c *Config) { c.TagExpirationOptions = nil }, "TAG_EXPIRATION_OPTIONS"},
		"negative option": {func(c *Config) { c.TagExpirationOptions = append(c.TagExpirationOptions, Duration(-day)) }, "TAG_EXPIRATION_OPTIONS"},
		"fractional option": {func(c *Config) {
			c.TagExpirationOptions = append(c.TagExpirationOptions, Duration(1500*time.Millisecond))
		}, "TAG_EXPIRATION_OPTIONS"},
		"default not listed": {func(c *Config) { c.DefaultTagExpiration = Duration(3 * day) }, "DEFAULT_TAG_EXPIRATION"},
	} {
		c := Default()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", name, err, tc.want)
		}
	}
}
