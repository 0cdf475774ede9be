package core

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestParseAutoprunePolicy(t *testing.T) {
	for _, tc := range []struct {
		method, value string
		ok            bool
		want          any
	}{
		{PruneByNumberOfTags, `5`, true, 5},
		{PruneByNumberOfTags, `"5"`, true, 5},
		{PruneByNumberOfTags, `0`, false, nil},
		{PruneByNumberOfTags, `2.5`, false, nil},
		{PruneByCreationDate, `"2w"`, true, "2w"},
		{PruneByCreationDate, `" 1y "`, true, "1y"},
		{PruneByCreationDate, `7`, false, nil},
		{PruneByCreationDate, `"7x"`, false, nil},
		{PruneByCreationDate, `null`, false, nil},
		{"other", `1`, false, nil},
	} {
		p, err := ParseAutoprunePolicy(tc.method, json.RawMessage(tc.value), "", true)
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: err %v", tc.method, tc.value, err)
			continue
		}
		if tc.ok && p.JSONValue() != tc.want {
			t.Errorf("%s %s: value %v, want %v", tc.method, tc.value, p.JSONValue(), tc.want)
		}
	}
}

func TestSelectPruned(t *testing.T) {
	now := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }
	tags := []PruneCandidate{{"v1", day(20)}, {"v2", day(10)}, {"dev-1", day(9)}, {"v3", day(1)}, {"dev-2", day(0)}}
	for _, tc := range []struct {
		p    AutoprunePolicy
		want []string
	}{
		{AutoprunePolicy{Method: PruneByNumberOfTags, Value: "2"}, []string{"dev-1", "v1", "v2"}},
		{AutoprunePolicy{Method: PruneByNumberOfTags, Value: "9"}, nil},
		{AutoprunePolicy{Method: PruneByNumberOfTags, Value: "1", TagPattern: "v.*", TagPatternMatches: true}, []string{"v1", "v2"}},
		{AutoprunePolicy{Method: PruneByCreationDate, Value: "1w"}, []string{"dev-1", "v1", "v2"}},
		{AutoprunePolicy{Method: PruneByCreationDate, Value: "1w", TagPattern: "v.*", TagPatternMatches: false}, []string{"dev-1"}},
		{AutoprunePolicy{Method: PruneByCreationDate, Value: "1y"}, nil},
	} {
		got := tc.p.SelectPruned(slices.Clone(tags), now)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: pruned %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestByteSizes(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "10 GiB": 10 << 30, "1.5 MiB": 3 << 19, "500 MB": 500e6, "2kib": 2048, "7 B": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1 GiB", "ten", "GiB"} {
		if _, err := ParseByteSize(bad); !IsCode(err, CodeInvalid) {
			t.Errorf("ParseByteSize(%q): err %v", bad, err)
		}
	}
	if got := FormatByteSize(10 << 30); got != "10.0 GiB" {
		t.Errorf("FormatByteSize = %q", got)
	}
	q := Quota{LimitBytes: 1001, Limits: []QuotaLimit{{Kind: QuotaWarning, ThresholdPercent: 50}, {Kind: QuotaReject, ThresholdPercent: 90}}}
	if got := q.RejectBytes(); got != 900 {
		t.Errorf("RejectBytes = %d", got)
	}
	if got := (Quota{LimitBytes: 10}).RejectBytes(); got != -1 {
		t.Errorf("RejectBytes without a Reject limit = %d", got)
	}
}
