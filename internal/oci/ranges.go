package oci

import (
	"math"
	"strconv"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

// ParseContentRange parses the Content-Range header of a chunked upload PATCH:
// "start-end" (inclusive), optionally written "bytes start-end" or with a
// trailing "/total". It returns start and end with 0 <= start <= end <
// math.MaxInt64, so the length end-start+1 never overflows.
func ParseContentRange(s string) (start, end int64, err error) {
	v := strings.TrimSpace(s)
	v = strings.TrimPrefix(v, "bytes ")
	v = strings.TrimPrefix(v, "bytes=")
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[:i]
	}
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, rangeErr(s)
	}
	start, err1 := parseNonNeg(a)
	end, err2 := parseNonNeg(b)
	if err1 != nil || err2 != nil || end < start || end == math.MaxInt64 {
		return 0, 0, rangeErr(s)
	}
	return start, end, nil
}

// ByteRange is a resolved byte range of a blob: Start and Length.
type ByteRange struct{ Start, Length int64 }

// ParseRange parses a single-range HTTP Range header ("bytes=a-b", "bytes=a-",
// "bytes=-n") against a resource of the given size. ok is false when the header
// is absent or should be ignored (several ranges are served as the whole
// resource); an error means the range is unsatisfiable (416).
func ParseRange(header string, size int64) (r ByteRange, ok bool, err error) {
	if header == "" {
		return ByteRange{}, false, nil
	}
	v, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !found {
		return ByteRange{}, false, rangeErr(header)
	}
	if strings.Contains(v, ",") {
		return ByteRange{}, false, nil
	}
	a, b, cut := strings.Cut(strings.TrimSpace(v), "-")
	if !cut {
		return ByteRange{}, false, rangeErr(header)
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == "" && b == "":
		return ByteRange{}, false, rangeErr(header)
	case a == "": // suffix: last n bytes
		n, perr := parseNonNeg(b)
		if perr != nil || n == 0 || size == 0 {
			return ByteRange{}, false, rangeErr(header)
		}
		if n > size {
			n = size
		}
		return ByteRange{Start: size - n, Length: n}, true, nil
	default:
		start, perr := parseNonNeg(a)
		if perr != nil || start >= size {
			return ByteRange{}, false, rangeErr(header)
		}
		end := size - 1
		if b != "" {
			e, perr := parseNonNeg(b)
			if perr != nil || e < start {
				return ByteRange{}, false, rangeErr(header)
			}
			if e < end {
				end = e
			}
		}
		return ByteRange{Start: start, Length: end - start + 1}, true, nil
	}
}

func parseNonNeg(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, strconv.ErrSyntax
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func rangeErr(s string) error {
	return core.Errorf(core.CodeRangeInvalid, "invalid range %q", truncate(s, 80))
}
