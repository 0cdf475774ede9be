package config

import (
	"slices"
	"strings"
	"testing"
)

func twoLocations(c *Config) {
	c.Storage = map[string]StorageLocation{
		"west": {Driver: DriverS3, Params: map[string]string{"s3_bucket": "w"}},
		"east": {Driver: DriverLocal, Params: map[string]string{"storage_path": "/srv/east"}},
	}
	c.StoragePreference = []string{"west"}
}

func TestValidateReplication(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // substring of the error; "" means valid
	}{
		{"off, no locations", func(c *Config) {}, ""},
		{"on", func(c *Config) {
			twoLocations(c)
			c.StorageReplication = true
			c.StorageDefaultLocations = []string{"east", "west"}
		}, ""},
		{"on without defaults", func(c *Config) { twoLocations(c); c.StorageReplication = true }, ""},
		{"on without locations", func(c *Config) { c.StorageReplication = true }, "FEATURE_STORAGE_REPLICATION needs"},
		{"unknown default", func(c *Config) {
			twoLocations(c)
			c.StorageDefaultLocations = []string{"east", "north"}
		}, `DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS names "north"`},
		{"duplicate default", func(c *Config) {
			twoLocations(c)
			c.StorageDefaultLocations = []string{"east", "east"}
		}, `names "east" twice`},
		{"defaults without locations", func(c *Config) { c.StorageDefaultLocations = []string{"east"} }, "needs DISTRIBUTED_STORAGE_CONFIG"},
		{"unknown later preference", func(c *Config) {
			twoLocations(c)
			c.StoragePreference = []string{"west", "south"}
		}, `DISTRIBUTED_STORAGE_PREFERENCE names "south"`},
		{"unsupported driver of another location", func(c *Config) {
			twoLocations(c)
			c.Storage["azure"] = StorageLocation{Driver: "AzureStorage"}
			c.StorageReplication = true
		}, `"azure": unsupported driver`},
		{"unsupported driver ignored without replication", func(c *Config) {
			twoLocations(c)
			c.Storage["azure"] = StorageLocation{Driver: "AzureStorage"}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestStorageLocationNames(t *testing.T) {
	c := Default()
	twoLocations(&c)
	c.Storage["central"] = StorageLocation{Driver: DriverLocal}
	if got := c.StorageLocationNames(); !slices.Equal(got, []string{"west", "central", "east"}) {
		t.Fatalf("order: %v", got)
	}
	c.StoragePreference = nil
	if got := c.StorageLocationNames(); !slices.Equal(got, []string{"central", "east", "west"}) {
		t.Fatalf("order without preference: %v", got)
	}
}

func TestLoadReplication(t *testing.T) {
	c, err := Load(writeFile(t, `
FEATURE_STORAGE_REPLICATION: true
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [east, west]
DISTRIBUTED_STORAGE_PREFERENCE: [east, west]
DISTRIBUTED_STORAGE_CONFIG:
  east:
    - LocalStorage
    - {storage_path: /srv/east}
  west:
    - S3Storage
    - {s3_bucket: wharf, host: s3.example.com}
`), env())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(env("WHARF_DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS", "west")); err != nil {
		t.Fatal(err)
	}
	if !c.StorageReplication || !slices.Equal(c.StorageDefaultLocations, []string{"west"}) {
		t.Fatalf("replication settings: %v %v", c.StorageReplication, c.StorageDefaultLocations)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
