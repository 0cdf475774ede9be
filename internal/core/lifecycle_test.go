package core

import (
	"strings"
	"testing"
	"time"
)

func TestParseExpiresAfter(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2w", 14 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{" 12h ", 12 * time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"90s", 90 * time.Second, true},
		{"1y", 365 * 24 * time.Hour, true},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"2x", 0, false},
		{"w", 0, false},
		{"", 0, false},
		{"1.5d", 0, false},
		{"999999999999y", 0, false},
	} {
		got, ok := ParseExpiresAfter(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseExpiresAfter(%q) = %s, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if !LabelSaysImmutable(" TRUE ") || LabelSaysImmutable("yes") || LabelSaysImmutable("") {
		t.Error("LabelSaysImmutable")
	}
}

func TestImmutabilityRules(t *testing.T) {
	repo := ImmutabilityPolicy{UUID: "r1", Repository: "acme/app", TagPattern: "dev-.*", TagPatternMatches: false}
	ns := ImmutabilityPolicy{UUID: "n1", Namespace: "acme", TagPattern: `v\d+(\.\d+)*`, TagPatternMatches: true}
	broken := ImmutabilityPolicy{UUID: "b", TagPattern: "(", TagPatternMatches: false}
	only := NewImmutabilityRules([]ImmutabilityPolicy{broken, ns})
	for tag, want := range map[string]bool{"v1": true, "v1.2.3": true, "xv1": false, "v1-rc": false, "latest": false, "V1": false} {
		if _, got := only.Match(tag); got != want {
			t.Errorf("namespace policy, %q: %v, want %v", tag, got, want)
		}
	}
	both := NewImmutabilityRules([]ImmutabilityPolicy{repo, ns})
	for tag, want := range map[string]string{"latest": "r1", "dev-1": "", "v2": "r1"} {
		p, ok := both.Match(tag)
		if ok != (want != "") || p.UUID != want {
			t.Errorf("both, %q: %q %v, want %q", tag, p.UUID, ok, want)
		}
	}
	if r := both.ImmutableReason("dev-1", true); !strings.Contains(r, "marked immutable") {
		t.Errorf("flag reason %q", r)
	}
	if r := both.ImmutableReason("latest", false); !strings.Contains(r, "repository immutability policy r1") || !strings.Contains(r, `not matching "dev-.*"`) {
		t.Errorf("policy reason %q", r)
	}
	if r := (ImmutabilityRules{}).ImmutableReason("x", false); r != "" {
		t.Errorf("no rules: %q", r)
	}
	for _, bad := range []string{"", " ", "(", strings.Repeat("a", MaxTagPatternLength+1)} {
		if _, err := CompileTagPattern(bad); !IsCode(err, CodeInvalid) {
			t.Errorf("CompileTagPattern(%q) = %v", bad, err)
		}
	}
	err := ErrTagImmutable("v1", "overwrite", "the tag is marked immutable")
	if !IsCode(err, CodeTagImmutable) || err.Error() != `cannot overwrite immutable tag "v1": the tag is marked immutable` {
		t.Errorf("ErrTagImmutable = %v", err)
	}
}
