package config

import (
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"
)

// StorageLocation is one entry of Quay's DISTRIBUTED_STORAGE_CONFIG: a driver
// name and its parameters, written as a two-element list:
//
//	DISTRIBUTED_STORAGE_CONFIG:
//	  default:
//	    - S3Storage
//	    - {s3_bucket: wharf, storage_path: /registry, host: s3.example.com}
type StorageLocation struct {
	Driver string
	Params map[string]string
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *StorageLocation) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: a storage location is [Driver, {params}]", n.Line)
	}
	if err := n.Content[0].Decode(&l.Driver); err != nil {
		return err
	}
	var raw map[string]any
	if err := n.Content[1].Decode(&raw); err != nil {
		return fmt.Errorf("line %d: storage parameters: %w", n.Line, err)
	}
	l.Params = make(map[string]string, len(raw))
	for k, v := range raw {
		l.Params[k] = fmt.Sprint(v)
	}
	return nil
}

// Storage drivers.
const (
	DriverLocal = "LocalStorage"
	DriverS3    = "S3Storage"
)

// Storage replication (Quay's FEATURE_STORAGE_REPLICATION): every process
// opens all locations of DISTRIBUTED_STORAGE_CONFIG, writes new blobs to its
// preferred one (the first of DISTRIBUTED_STORAGE_PREFERENCE) and replication
// jobs copy them to DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS plus the locations
// a superuser configured for the blob's namespace.

// validateReplication checks the storage lists name defined locations and
// that replication has locations to replicate between.
func (c *Config) validateReplication() []error {
	var errs []error
	if len(c.Storage) > 0 {
		errs = append(errs, c.checkLocationList("DISTRIBUTED_STORAGE_PREFERENCE", c.StoragePreference)...)
	}
	if len(c.StorageDefaultLocations) > 0 && len(c.Storage) == 0 {
		errs = append(errs, fmt.Errorf("DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS needs DISTRIBUTED_STORAGE_CONFIG"))
	} else {
		errs = append(errs, c.checkLocationList("DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS", c.StorageDefaultLocations)...)
	}
	if !c.StorageReplication {
		return errs
	}
	if len(c.Storage) == 0 {
		return append(errs, fmt.Errorf("FEATURE_STORAGE_REPLICATION needs named locations in DISTRIBUTED_STORAGE_CONFIG"))
	}
	for _, name := range c.StorageLocationNames() {
		if d := c.Storage[name].Driver; d != DriverLocal && d != DriverS3 {
			errs = append(errs, fmt.Errorf("storage location %q: unsupported driver %q (LocalStorage or S3Storage)", name, d))
		}
	}
	return errs
}

func (c *Config) checkLocationList(key string, names []string) []error {
	var errs []error
	seen := map[string]bool{}
	for _, n := range names {
		if _, ok := c.Storage[n]; !ok {
			errs = append(errs, fmt.Errorf("%s names %q, which DISTRIBUTED_STORAGE_CONFIG does not define", key, n))
		}
		if seen[n] {
			errs = append(errs, fmt.Errorf("%s names %q twice", key, n))
		}
		seen[n] = true
	}
	return errs
}

// StorageLocationNames lists the configured locations in this process's
// order: DISTRIBUTED_STORAGE_PREFERENCE first, then the others by name.
func (c *Config) StorageLocationNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range c.StoragePreference {
		if _, ok := c.Storage[n]; ok && !seen[n] {
			names = append(names, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range c.Storage {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}
