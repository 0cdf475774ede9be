package config

import (
	"strings"
	"testing"
)

func TestDefaultAutoprunePolicy(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		ok   bool
	}{
		{"{method: number_of_tags, value: 5}", true},
		{"{method: creation_date, value: 2w}", true},
		{"{method: number_of_tags, value: 0}", false},
		{"{method: creation_date, value: 5}", false},
		{"{method: creation_date, value: 2x}", false},
		{"{method: by_size, value: 5}", false},
	} {
		c := Default()
		if err := c.ApplyEnv(func(k string) string {
			if k == "WHARF_DEFAULT_NAMESPACE_AUTOPRUNE_POLICY" {
				return tc.yaml
			}
			return ""
		}); err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if c.DefaultAutoprunePolicy == nil {
			t.Fatalf("%s: not set", tc.yaml)
		}
		err := c.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "AUTOPRUNE"); got != tc.ok {
			t.Errorf("%s: Validate = %v", tc.yaml, err)
		}
	}
}
