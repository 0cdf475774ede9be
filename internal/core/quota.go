package core

import (
	"fmt"
	"strconv"
	"strings"
)

// Quota limit kinds (Quay's QuotaType names).
const (
	QuotaWarning = "Warning"
	QuotaReject  = "Reject"
)

// Quota is a namespace's storage limit and its thresholds.
type Quota struct {
	ID         int64
	Namespace  string
	LimitBytes int64
	Limits     []QuotaLimit
}

// QuotaLimit is a threshold of a quota in percent of its limit: past a
// Warning one pushes still succeed, past a Reject one they fail.
type QuotaLimit struct {
	ID               int64
	Kind             string
	ThresholdPercent int64
}

// RejectBytes is the usage above which pushes are refused, or -1 when the
// quota has no Reject threshold.
func (q Quota) RejectBytes() int64 {
	out := int64(-1)
	for _, l := range q.Limits {
		if l.Kind != QuotaReject {
			continue
		}
		b := q.LimitBytes/100*l.ThresholdPercent + q.LimitBytes%100*l.ThresholdPercent/100
		if out < 0 || b < out {
			out = b
		}
	}
	return out
}

var sizeUnits = []struct {
	name string
	mult int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"PiB", 1 << 50},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseByteSize reads a human size such as "10 GiB", "500 MB" or "1024"
// (bytes), as Quay's quota API accepts; invalid or non-positive sizes are
// CodeInvalid.
func ParseByteSize(s string) (int64, error) {
	v := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(v) > len(u.name) && strings.EqualFold(v[len(v)-len(u.name):], u.name) {
			v, mult = strings.TrimSpace(v[:len(v)-len(u.name)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f*float64(mult) >= 1<<62 {
		return 0, Errorf(CodeInvalid, "invalid quota size %q: want bytes or a number with a unit such as 10 GiB", s)
	}
	return int64(f * float64(mult)), nil
}

// FormatByteSize shows bytes in binary units, as Quay's quota views do
// ("10.0 GiB").
func FormatByteSize(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n)/1024, 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", f, units[u])
}
