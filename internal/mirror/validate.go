package mirror

import (
	"encoding/json"
	"time"
)

// Validator checks mirror settings for the API (it implements the API's
// Mirrors interface).
type Validator struct {
	// Lease is how long a sync-now claim holds (0: DefaultLease).
	Lease time.Duration
}

// ValidateReference checks external_reference.
func (Validator) ValidateReference(ref string) error {
	_, err := ParseExternalReference(ref)
	return err
}

// TagPatterns validates root_rule.rule_value.
func (Validator) TagPatterns(values []string) ([]string, error) { return ParseTagPatterns(values) }

// Architectures validates architecture_filter.
func (Validator) Architectures(values []string) ([]string, error) { return ParseArchitectures(values) }

// RegistryConfig validates external_registry_config and returns it
// normalized.
func (Validator) RegistryConfig(b json.RawMessage) (json.RawMessage, error) {
	c, err := ParseRegistryConfig(b)
	if err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// SyncLease is how long a sync-now claim holds.
func (v Validator) SyncLease() time.Duration {
	if v.Lease > 0 {
		return v.Lease
	}
	return DefaultLease
}
