// Package config defines Wharf's configuration: defaults, loading from a YAML
// file (with ${VAR} expansion), WHARF_<KEY> environment overrides, and
// validation. Keys use Quay's UPPER_SNAKE names where Quay has one. Only app and
// cmd import it.
package config
