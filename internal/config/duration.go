package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as Go durations ("90s", "1h30m") or with
// Quay's day and week units ("2d", "2w"), or as a number of seconds.
type Duration time.Duration

// ParseDuration parses the forms Duration accepts.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return scale(s, n, time.Second)
	}
	unit := s[len(s)-1]
	if unit == 'd' || unit == 'w' {
		n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if unit == 'w' {
			return scale(s, n, 7*24*time.Hour)
		}
		return scale(s, n, 24*time.Hour)
	}
	return time.ParseDuration(s)
}

// scale returns n units, or an error when that does not fit a time.Duration.
func scale(s string, n int64, unit time.Duration) (time.Duration, error) {
	if n > int64(math.MaxInt64/unit) || n < int64(math.MinInt64/unit) {
		return 0, fmt.Errorf("duration %q out of range", s)
	}
	return time.Duration(n) * unit, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
