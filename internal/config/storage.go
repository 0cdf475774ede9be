package config

import (
	"fmt"

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
