package main

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of the
// durations. The slice is sorted in place. It returns 0 for an empty slice.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	if !slices.IsSorted(d) {
		slices.Sort(d)
	}
	rank := int(math.Ceil(p / 100 * float64(len(d))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(d) {
		rank = len(d)
	}
	return d[rank-1]
}

// median returns the median of the durations (the lower middle element for an
// even count). The slice is sorted in place.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)-1)/2]
}

// nextLink extracts the target of the rel="next" link from a Link header value
// (RFC 8288), e.g. `</v2/foo/tags/list?last=t99&n=100>; rel="next"`, and resolves
// it against base. ok is false when there is no next link.
func nextLink(header string, base *url.URL) (next *url.URL, ok bool, err error) {
	for header != "" {
		header = strings.TrimLeft(header, " \t,")
		if !strings.HasPrefix(header, "<") {
			return nil, false, fmt.Errorf("malformed Link header %q", header)
		}
		end := strings.IndexByte(header, '>')
		if end < 0 {
			return nil, false, fmt.Errorf("malformed Link header %q", header)
		}
		target := header[1:end]
		header = header[end+1:]
		// Parameters run up to the next comma that starts another link.
		params := header
		if i := strings.Index(header, ",<"); i >= 0 {
			params, header = header[:i], header[i+1:]
		} else if i := strings.Index(header, ", <"); i >= 0 {
			params, header = header[:i], header[i+1:]
		} else {
			header = ""
		}
		if !hasRelNext(params) {
			continue
		}
		u, err := url.Parse(target)
		if err != nil {
			return nil, false, fmt.Errorf("link target %q: %w", target, err)
		}
		if base != nil {
			u = base.ResolveReference(u)
		}
		return u, true, nil
	}
	return nil, false, nil
}

// hasRelNext reports whether a link's parameter list (`; rel="next"; type=...`)
// contains the relation type "next".
func hasRelNext(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}

// humanBytes formats a byte count with binary units: "1 GiB", "64 MiB", "512 KiB".
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// formatValue prints a figure with about three significant digits.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mbps is a throughput in MB/s (1 MB = 10^6 bytes).
func mbps(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / 1e6 / d.Seconds()
}

// perSecond is a rate of count events over d.
func perSecond(count int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(count) / d.Seconds()
}

// scaleInt scales n by f, keeping at least min.
func scaleInt(n int, f float64, min int) int {
	v := int(math.Round(float64(n) * f))
	if v < min {
		return min
	}
	return v
}

// scaleSize scales a byte size by f, rounded to whole MiB, keeping at least min.
func scaleSize(n int64, f float64, min int64) int64 {
	v := int64(math.Round(float64(n)*f/(1<<20))) << 20
	if v < min {
		return min
	}
	return v
}
