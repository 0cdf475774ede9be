package config

import (
	"errors"
	"fmt"
)

// validateActionLog checks the audit log settings.
func (c *Config) validateActionLog() []error {
	var errs []error
	switch c.ActionLogPulls {
	case "off", "sampled", "all":
	default:
		errs = append(errs, fmt.Errorf("ACTION_LOG_PULLS %q: want off, sampled or all", c.ActionLogPulls))
	}
	if c.ActionLogPullSampleRate < 0 || c.ActionLogPullSampleRate > 1 || c.ActionLogPullSampleRate != c.ActionLogPullSampleRate {
		errs = append(errs, errors.New("ACTION_LOG_PULL_SAMPLE_RATE must be between 0 and 1"))
	}
	if c.ActionLogRotation && c.ActionLogRotationThreshold <= 0 {
		errs = append(errs, errors.New("ACTION_LOG_ROTATION_THRESHOLD must be positive when FEATURE_ACTION_LOG_ROTATION is on"))
	}
	return errs
}
