package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	cases := map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond}
	for p, want := range cases {
		if got := percentile(d, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(empty) = %v", got)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile(one) = %v", got)
	}
	if got := median([]time.Duration{3, 1, 2, 4}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
}

func TestNextLink(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:5000/v2/foo/tags/list?n=100")
	cases := []struct {
		header, want string
		ok           bool
	}{
		{"", "", false},
		{`</v2/foo/tags/list?last=t99&n=100>; rel="next"`, "http://127.0.0.1:5000/v2/foo/tags/list?last=t99&n=100", true},
		{`<http://other:1/v2/foo/tags/list?last=b>; rel=next`, "http://other:1/v2/foo/tags/list?last=b", true},
		{`</a>; rel="prev", </b?last=x>; rel="next"`, "http://127.0.0.1:5000/b?last=x", true},
		{`</a>; rel="prev"`, "", false},
		{`</a>; title="x"; REL="Next"`, "http://127.0.0.1:5000/a", true},
	}
	for _, c := range cases {
		u, ok, err := nextLink(c.header, base)
		if err != nil {
			t.Errorf("nextLink(%q): %v", c.header, err)
			continue
		}
		if ok != c.ok || (ok && u.String() != c.want) {
			t.Errorf("nextLink(%q) = %v, %v; want %q, %v", c.header, u, ok, c.want, c.ok)
		}
	}
	if _, _, err := nextLink("garbage", base); err == nil {
		t.Error("nextLink(garbage): no error")
	}
}

func TestParseProcStatCPU(t *testing.T) {
	stat := "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseProcStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	if _, err := parseProcStatCPU("1 (x) S 1"); err == nil {
		t.Error("short stat: no error")
	}
	if n, err := parseKB("   2048 kB"); err != nil || n != 2<<20 {
		t.Errorf("parseKB = %d, %v", n, err)
	}
}

func TestBlobs(t *testing.T) {
	ds, err := newDataSource(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ds.newBlob(300 << 10)
	b, _ := ds.newBlob(300 << 10)
	if a.digest == b.digest {
		t.Fatal("two blobs share a digest")
	}
	for _, bl := range []*blob{a, b} {
		content, _ := io.ReadAll(bl.reader())
		sum := sha256.Sum256(content)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != bl.digest || int64(len(content)) != bl.size {
			t.Fatalf("digest/size mismatch: %s (%d) vs %s (%d)", got, len(content), bl.digest, bl.size)
		}
		// Sections in any chunking reassemble the content, including across the tail.
		for _, chunk := range []int64{1000, 64 << 10, bl.size - 10} {
			var buf bytes.Buffer
			for off := int64(0); off < bl.size; off += chunk {
				io.Copy(&buf, bl.section(off, min(chunk, bl.size-off)))
			}
			if !bytes.Equal(buf.Bytes(), content) {
				t.Fatalf("chunk %d: sections differ from content", chunk)
			}
		}
	}
	if _, err := ds.newBlob(2 << 20); err == nil {
		t.Error("blob larger than the buffer: no error")
	}
	c := bytesBlob([]byte(`{"a":1}`))
	if c.size != 7 || !bytes.Equal(c.bytes(), []byte(`{"a":1}`)) {
		t.Error("bytesBlob content")
	}
}

func TestScaling(t *testing.T) {
	if got := scaleSize(1<<30, 0.05, 4<<20); got != 51<<20 {
		t.Errorf("scaleSize = %d", got)
	}
	if got := scaleSize(64<<20, 0.001, 1<<20); got != 1<<20 {
		t.Errorf("scaleSize min = %d", got)
	}
	if got := scaleInt(10000, 0.05, 100); got != 500 {
		t.Errorf("scaleInt = %d", got)
	}
	if got := humanBytes(1 << 30); got != "1 GiB" {
		t.Errorf("humanBytes = %q", got)
	}
}

func TestReport(t *testing.T) {
	r := newReport([]string{"wharf", "distribution"}, []bool{true, false})
	e := &env{scale: 1, duration: time.Second}
	w, _ := workloadByName("tag-list")
	r.addWorkload(w, e)
	r.record("tag-list", 0, []measure{{value: 10}, {value: 40}}, nil)
	r.record("tag-list", 1, []measure{{value: 20}, {value: 20}}, nil)
	if v, ok := r.rows[0].ratio(); !ok || v != 2 {
		t.Errorf("ratio of times = %v, %v; want 2 (wharf twice as fast)", v, ok)
	}
	if v, _ := r.rows[1].ratio(); v != 0.5 {
		t.Errorf("ratio = %v, want 0.5", v)
	}
	var out strings.Builder
	r.writeMarkdown(&out)
	if !strings.Contains(out.String(), "| list 10000 tags, one request (median of 5) | 10.0 ms | 20.0 ms | 2.00 |") {
		t.Errorf("markdown:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "| CPU s, whole run | - | n/a | - |") {
		t.Errorf("markdown usage:\n%s", out.String())
	}
}

func TestSelectWorkloads(t *testing.T) {
	ws, err := selectWorkloads("tag-list, push-mono")
	if err != nil || len(ws) != 2 || ws[0].name != "push-mono" {
		t.Errorf("selectWorkloads = %v, %v", ws, err)
	}
	if _, err := selectWorkloads("nope"); err == nil {
		t.Error("unknown workload: no error")
	}
}

func TestFindDistribution(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	root := t.TempDir()
	t.Setenv("PATH", filepath.Dir(goBin))
	t.Setenv("GOPATH", t.TempDir())
	if _, err := exec.LookPath("registry"); err == nil {
		t.Skip("a registry binary sits next to go")
	}
	_, err = findDistribution("", root)
	if err == nil || !strings.Contains(err.Error(), distributionInstall) {
		t.Fatalf("missing binary: err = %v, want the install command", err)
	}
	bin := filepath.Join(root, ".tools", "bin", "registry")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findDistribution("", root); err != nil || got != bin {
		t.Fatalf("findDistribution = %q, %v; want %q", got, err, bin)
	}
	if _, err := findDistribution(filepath.Join(root, "nope"), root); err == nil {
		t.Fatal("bad -distribution-bin: no error")
	}
}
