package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// cell is one target's figure for one metric.
type cell struct {
	ran bool
	m   measure
	err bool
}

// row is one line of the results table.
type row struct {
	workload string
	metric   metric
	cells    []cell
}

// usageRow is the server CPU time of one workload's timed part, per target.
type usageRow struct {
	workload string
	cpu      []time.Duration
	have     []bool
}

// report collects everything the benchmark prints.
type report struct {
	meta     []string
	targets  []string
	rows     []*row
	usage    []*usageRow
	totalCPU []time.Duration
	peakRSS  []int64
	haveProc []bool // whole-run figures were read
	started  []bool // the benchmark started this server (so /proc figures exist)
	errors   []string
}

func newReport(targets []string, started []bool) *report {
	n := len(targets)
	return &report{
		targets:  targets,
		started:  started,
		totalCPU: make([]time.Duration, n),
		peakRSS:  make([]int64, n),
		haveProc: make([]bool, n),
	}
}

// addWorkload creates the rows of a workload before it runs, so that a failed
// run still shows up.
func (r *report) addWorkload(w workload, e *env) {
	for _, m := range w.metrics(e) {
		r.rows = append(r.rows, &row{workload: w.name, metric: m, cells: make([]cell, len(r.targets))})
	}
	r.usage = append(r.usage, &usageRow{workload: w.name, cpu: make([]time.Duration, len(r.targets)), have: make([]bool, len(r.targets))})
}

// record stores a target's measures (or its error) for a workload.
func (r *report) record(workloadName string, ti int, ms []measure, err error) {
	if err != nil {
		r.errors = append(r.errors, fmt.Sprintf("%s, %s: %v", r.targets[ti], workloadName, err))
	}
	i := 0
	for _, rw := range r.rows {
		if rw.workload != workloadName {
			continue
		}
		switch {
		case err != nil:
			rw.cells[ti] = cell{ran: true, err: true}
		case i < len(ms):
			rw.cells[ti] = cell{ran: true, m: ms[i]}
		}
		i++
	}
}

// recordCPU stores the server CPU time used by a workload's timed part.
func (r *report) recordCPU(workloadName string, ti int, d time.Duration) {
	for _, u := range r.usage {
		if u.workload == workloadName {
			u.cpu[ti], u.have[ti] = d, true
		}
	}
}

// ratio is wharf speed / distribution speed: >1 means the first target is faster.
func (rw *row) ratio() (float64, bool) {
	if len(rw.cells) < 2 {
		return 0, false
	}
	a, b := rw.cells[0], rw.cells[1]
	if !a.ran || !b.ran || a.err || b.err || a.m.value <= 0 || b.m.value <= 0 {
		return 0, false
	}
	if rw.metric.higherBetter {
		return a.m.value / b.m.value, true
	}
	return b.m.value / a.m.value, true
}

func (c cell) String(unit string) string {
	switch {
	case !c.ran:
		return "-"
	case c.err:
		return "error"
	}
	s := formatValue(c.m.value) + " " + unit
	if c.m.note != "" {
		s += " (" + c.m.note + ")"
	}
	return s
}

func ratioString(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// resultsTable returns the header and lines of the main table.
func (r *report) resultsTable() ([]string, [][]string) {
	head := append(append([]string{"workload"}, r.targets...), "ratio")
	var lines [][]string
	for _, rw := range r.rows {
		line := []string{rw.metric.label}
		for _, c := range rw.cells {
			line = append(line, c.String(rw.metric.unit))
		}
		line = append(line, ratioString(rw.ratio()))
		lines = append(lines, line)
	}
	return head, lines
}

// usageTable returns the header and lines of the CPU/RSS table. Its ratio is
// distribution / wharf, so >1 again favours wharf (it used less).
func (r *report) usageTable() ([]string, [][]string) {
	head := append(append([]string{"server resources"}, r.targets...), "ratio")
	var lines [][]string
	cpuRatio := func(a, b time.Duration, ok bool) string {
		if !ok || a <= 0 || b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", b.Seconds()/a.Seconds())
	}
	for _, u := range r.usage {
		line := []string{"CPU s, " + u.workload}
		for i := range r.targets {
			line = append(line, r.optional(i, u.have[i], fmt.Sprintf("%.2f s", u.cpu[i].Seconds())))
		}
		ok := len(u.have) >= 2 && u.have[0] && u.have[1]
		lines = append(lines, append(line, cpuRatio(u.cpu[0], u.cpu[min(1, len(u.cpu)-1)], ok)))
	}
	ok := len(r.haveProc) >= 2 && r.haveProc[0] && r.haveProc[1]
	line := []string{"CPU s, whole run"}
	for i := range r.targets {
		line = append(line, r.optional(i, r.haveProc[i], fmt.Sprintf("%.2f s", r.totalCPU[i].Seconds())))
	}
	lines = append(lines, append(line, cpuRatio(r.totalCPU[0], r.totalCPU[min(1, len(r.totalCPU)-1)], ok)))
	line = []string{"peak RSS (VmHWM)"}
	for i := range r.targets {
		line = append(line, r.optional(i, r.haveProc[i], fmt.Sprintf("%.0f MiB", float64(r.peakRSS[i])/(1<<20))))
	}
	rss := "-"
	if ok && r.peakRSS[0] > 0 {
		rss = fmt.Sprintf("%.2f", float64(r.peakRSS[1])/float64(r.peakRSS[0]))
	}
	lines = append(lines, append(line, rss))
	return head, lines
}

// optional is s when the figure exists, "n/a" for a registry the benchmark did
// not start, "-" for a figure that was not taken (workload failed).
func (r *report) optional(target int, have bool, s string) string {
	switch {
	case have:
		return s
	case !r.started[target]:
		return "n/a"
	}
	return "-"
}

const (
	ratioNote = "ratio: wharf speed / distribution speed (for times and latencies: distribution / wharf); >1 means wharf is faster."
	usageNote = "Server CPU (utime+stime from /proc/PID/stat) during each workload's timed part and from readiness to the end; " +
		"peak RSS is VmHWM. ratio: distribution / wharf; >1 means wharf used less. n/a: registry given by URL."
)

// writeText prints the report as aligned plain-text tables.
func (r *report) writeText(w io.Writer) {
	for _, m := range r.meta {
		fmt.Fprintln(w, m)
	}
	fmt.Fprintln(w)
	head, lines := r.resultsTable()
	writeAligned(w, head, lines)
	fmt.Fprintln(w, ratioNote)
	fmt.Fprintln(w)
	head, lines = r.usageTable()
	writeAligned(w, head, lines)
	fmt.Fprintln(w, usageNote)
	if len(r.errors) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Errors:")
		for _, e := range r.errors {
			fmt.Fprintln(w, "  "+e)
		}
	}
}

// writeMarkdown prints the report as Markdown tables.
func (r *report) writeMarkdown(w io.Writer) {
	fmt.Fprintln(w, "# Wharf vs distribution benchmark")
	fmt.Fprintln(w)
	for _, m := range r.meta {
		fmt.Fprintln(w, "- "+m)
	}
	fmt.Fprintln(w)
	head, lines := r.resultsTable()
	writeMarkdownTable(w, head, lines)
	fmt.Fprintln(w)
	fmt.Fprintln(w, ratioNote)
	fmt.Fprintln(w)
	head, lines = r.usageTable()
	writeMarkdownTable(w, head, lines)
	fmt.Fprintln(w)
	fmt.Fprintln(w, usageNote)
	if len(r.errors) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Errors:")
		fmt.Fprintln(w)
		for _, e := range r.errors {
			fmt.Fprintln(w, "- `"+strings.ReplaceAll(firstLine(e), "`", "'")+"`")
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// writeAligned prints columns padded to equal width; all but the first are
// right-aligned.
func writeAligned(w io.Writer, head []string, lines [][]string) {
	widths := make([]int, len(head))
	for _, l := range append([][]string{head}, lines...) {
		for i, c := range l {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	pad := func(l []string) string {
		var b strings.Builder
		for i, c := range l {
			gap := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + gap)
			} else {
				b.WriteString("  " + gap + c)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	fmt.Fprintln(w, pad(head))
	total := 0
	for _, x := range widths {
		total += x + 2
	}
	fmt.Fprintln(w, strings.Repeat("-", total-2))
	for _, l := range lines {
		fmt.Fprintln(w, pad(l))
	}
}

func writeMarkdownTable(w io.Writer, head []string, lines [][]string) {
	esc := func(l []string) string {
		out := make([]string, len(l))
		for i, c := range l {
			out[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		return "| " + strings.Join(out, " | ") + " |"
	}
	fmt.Fprintln(w, esc(head))
	sep := []string{"---"}
	for range head[1:] {
		sep = append(sep, "---:")
	}
	fmt.Fprintln(w, "| "+strings.Join(sep, " | ")+" |")
	for _, l := range lines {
		fmt.Fprintln(w, esc(l))
	}
}
