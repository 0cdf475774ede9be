package oci_test

import (
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

var contentRangeCases = []struct {
	in         string
	start, end int64
	ok         bool
}{
	{"0-0", 0, 0, true},
	{"0-99", 0, 99, true},
	{"100-199", 100, 199, true},
	{"bytes 0-99/100", 0, 99, true},
	{"bytes 0-99/*", 0, 99, true},
	{"bytes=5-9", 5, 9, true},
	{"  10-20  ", 10, 20, true},
	{"007-010", 7, 10, true},
	{"9223372036854775806-9223372036854775806", 9223372036854775806, 9223372036854775806, true},
	{"", 0, 0, false},
	{" ", 0, 0, false},
	{"-", 0, 0, false},
	{"abc", 0, 0, false},
	{"10", 0, 0, false},
	{"-10", 0, 0, false},
	{"10-", 0, 0, false},
	{"100-99", 0, 0, false},
	{"1-2-3", 0, 0, false},
	{"+1-2", 0, 0, false},
	{"1-+2", 0, 0, false},
	{"-1-2", 0, 0, false},
	{"0x1-0x2", 0, 0, false},
	{"1 - 2", 0, 0, false},
	{"1.0-2", 0, 0, false},
	{"bytes bytes 0-1", 0, 0, false},
	{"bytes */100", 0, 0, false},
	{"١-٢", 0, 0, false},
	// The end must leave room for end-start+1 without overflow.
	{"0-9223372036854775807", 0, 0, false},
	{"9223372036854775807-9223372036854775807", 0, 0, false},
	{"9223372036854775808-9223372036854775809", 0, 0, false},
	{"0-99999999999999999999", 0, 0, false},
	{strings.Repeat("9", 1000) + "-1", 0, 0, false},
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range contentRangeCases {
		start, end, err := oci.ParseContentRange(tc.in)
		if !tc.ok {
			if err == nil {
				t.Errorf("ParseContentRange(%q) = %d, %d; want an error", tc.in, start, end)
				continue
			}
			wantCode(t, err, core.CodeRangeInvalid)
			continue
		}
		if err != nil {
			t.Errorf("ParseContentRange(%q): %v", tc.in, err)
			continue
		}
		if start != tc.start || end != tc.end {
			t.Errorf("ParseContentRange(%q) = %d, %d; want %d, %d", tc.in, start, end, tc.start, tc.end)
		}
	}
}

type rangeCase struct {
	header string
	size   int64
	want   oci.ByteRange
	ok     bool // a range was returned
	err    bool // 416
}

var rangeCases = []rangeCase{
	{"", 100, oci.ByteRange{}, false, false},
	{"", 0, oci.ByteRange{}, false, false},
	{"bytes=0-0", 100, oci.ByteRange{Start: 0, Length: 1}, true, false},
	{"bytes=0-99", 100, oci.ByteRange{Start: 0, Length: 100}, true, false},
	{"bytes=10-19", 100, oci.ByteRange{Start: 10, Length: 10}, true, false},
	{"bytes=0-1000", 100, oci.ByteRange{Start: 0, Length: 100}, true, false},
	{"bytes=99-99", 100, oci.ByteRange{Start: 99, Length: 1}, true, false},
	{"bytes=50-", 100, oci.ByteRange{Start: 50, Length: 50}, true, false},
	{"bytes=0-", 100, oci.ByteRange{Start: 0, Length: 100}, true, false},
	{"bytes=99-", 100, oci.ByteRange{Start: 99, Length: 1}, true, false},
	{"bytes=-10", 100, oci.ByteRange{Start: 90, Length: 10}, true, false},
	{"bytes=-100", 100, oci.ByteRange{Start: 0, Length: 100}, true, false},
	{"bytes=-1000", 100, oci.ByteRange{Start: 0, Length: 100}, true, false},
	{"bytes=-9223372036854775807", 100, oci.ByteRange{Start: 0, Length: 100}, true, false},
	{"bytes=-1", 1, oci.ByteRange{Start: 0, Length: 1}, true, false},
	{"bytes=0-0", 1, oci.ByteRange{Start: 0, Length: 1}, true, false},
	{"bytes= 5 - 10 ", 100, oci.ByteRange{Start: 5, Length: 6}, true, false},
	{"  bytes=5-10", 100, oci.ByteRange{Start: 5, Length: 6}, true, false},
	{"bytes=0-9223372036854775807", 100, oci.ByteRange{Start: 0, Length: 100}, true, false},
	{"bytes=9223372036854775806-", 9223372036854775807, oci.ByteRange{Start: 9223372036854775806, Length: 1}, true, false},
	// Several ranges: served as the whole resource.
	{"bytes=0-0,5-6", 100, oci.ByteRange{}, false, false},
	{"bytes=0-1, 3-4", 100, oci.ByteRange{}, false, false},
	{"bytes=-5,-6", 100, oci.ByteRange{}, false, false},
	// Unsatisfiable or malformed.
	{"bytes=100-", 100, oci.ByteRange{}, false, true},
	{"bytes=100-200", 100, oci.ByteRange{}, false, true},
	{"bytes=1000-", 100, oci.ByteRange{}, false, true},
	{"bytes=0-", 0, oci.ByteRange{}, false, true},
	{"bytes=0-0", 0, oci.ByteRange{}, false, true},
	{"bytes=-5", 0, oci.ByteRange{}, false, true},
	{"bytes=-0", 100, oci.ByteRange{}, false, true},
	{"bytes=-", 100, oci.ByteRange{}, false, true},
	{"bytes=", 100, oci.ByteRange{}, false, true},
	{"bytes=5-4", 100, oci.ByteRange{}, false, true},
	{"bytes=abc", 100, oci.ByteRange{}, false, true},
	{"bytes=a-b", 100, oci.ByteRange{}, false, true},
	{"bytes=1-2-3", 100, oci.ByteRange{}, false, true},
	{"bytes=+5-10", 100, oci.ByteRange{}, false, true},
	{"bytes=0x10-", 100, oci.ByteRange{}, false, true},
	{"bytes=-+5", 100, oci.ByteRange{}, false, true},
	{"bytes=--5", 100, oci.ByteRange{}, false, true},
	{"bytes=9223372036854775807-", 100, oci.ByteRange{}, false, true},
	{"bytes=99999999999999999999-", 100, oci.ByteRange{}, false, true},
	{"bytes=0-99999999999999999999", 100, oci.ByteRange{}, false, true},
	{"bytes=-99999999999999999999", 100, oci.ByteRange{}, false, true},
	{"bytes 0-1", 100, oci.ByteRange{}, false, true},
	{"items=0-1", 100, oci.ByteRange{}, false, true},
	{"0-1", 100, oci.ByteRange{}, false, true},
	{"garbage", 100, oci.ByteRange{}, false, true},
}

func TestParseRange(t *testing.T) {
	for _, tc := range rangeCases {
		got, ok, err := oci.ParseRange(tc.header, tc.size)
		if tc.err {
			if err == nil {
				t.Errorf("ParseRange(%q, %d) = %+v, %v; want an error", tc.header, tc.size, got, ok)
				continue
			}
			wantCode(t, err, core.CodeRangeInvalid)
			if ok {
				t.Errorf("ParseRange(%q, %d): ok with an error", tc.header, tc.size)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRange(%q, %d): %v", tc.header, tc.size, err)
			continue
		}
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseRange(%q, %d) = %+v, %v; want %+v, %v", tc.header, tc.size, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseContentRange: an accepted range has 0 <= start <= end and its
// length end-start+1 does not overflow.
func FuzzParseContentRange(f *testing.F) {
	for _, tc := range contentRangeCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := oci.ParseContentRange(s)
		if err != nil {
			if c := core.CodeOf(err); c != core.CodeRangeInvalid {
				t.Fatalf("ParseContentRange(%q): code %v", s, c)
			}
			if start != 0 || end != 0 {
				t.Fatalf("ParseContentRange(%q) = %d, %d with an error", s, start, end)
			}
			return
		}
		if start < 0 || end < start {
			t.Fatalf("ParseContentRange(%q) = %d, %d", s, start, end)
		}
		if end-start+1 <= 0 {
			t.Fatalf("ParseContentRange(%q) = %d, %d: length overflows", s, start, end)
		}
	})
}

// FuzzParseRange: an accepted range lies inside the resource and is not empty;
// an absent range is only reported for no header or several ranges.
func FuzzParseRange(f *testing.F) {
	for _, tc := range rangeCases {
		f.Add(tc.header, tc.size)
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -(size + 1) // sizes of real blobs are never negative
		}
		r, ok, err := oci.ParseRange(header, size)
		if err != nil {
			if c := core.CodeOf(err); c != core.CodeRangeInvalid {
				t.Fatalf("ParseRange(%q, %d): code %v", header, size, c)
			}
			if ok {
				t.Fatalf("ParseRange(%q, %d): ok with an error", header, size)
			}
			return
		}
		if !ok {
			if header != "" && !strings.Contains(header, ",") {
				t.Fatalf("ParseRange(%q, %d) ignored a single range", header, size)
			}
			return
		}
		if r.Start < 0 || r.Length <= 0 || r.Start >= size || r.Length > size-r.Start {
			t.Fatalf("ParseRange(%q, %d) = %+v: outside the resource", header, size, r)
		}
	})
}
