package registry

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestGetBlob(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("0123456789abcdefghij")
	d := e.pushBlob("org/app", content)
	path := "/v2/org/app/blobs/" + string(d)

	r := e.get(path).want(t, http.StatusOK, "")
	if !bytes.Equal(r.body, content) {
		t.Fatalf("body %q", r.body)
	}
	if r.header.Get("Docker-Content-Digest") != string(d) || r.header.Get("Content-Length") != "20" {
		t.Fatalf("headers %v", r.header)
	}
	h := e.head(path).want(t, http.StatusOK, "")
	if h.header.Get("Content-Length") != "20" || h.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatalf("HEAD headers %v", h.header)
	}

	// Blobs are per repository.
	e.get("/v2/org/other/blobs/"+string(d)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	e.get("/v2/org/app/blobs/"+string(digest.FromString("nope"))).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	for _, bad := range []string{"sha256:abc", "sha256:" + strings.Repeat("G", 64), "md5:d41d8cd98f00b204e9800998ecf8427e", "latest", "sha384:" + strings.Repeat("a", 96)} {
		e.get("/v2/org/app/blobs/"+bad).want(t, http.StatusBadRequest, "DIGEST_INVALID")
		e.del("/v2/org/app/blobs/"+bad).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	}

	// An empty blob.
	ed := e.pushBlob("org/app", nil)
	r = e.get("/v2/org/app/blobs/"+string(ed)).want(t, http.StatusOK, "")
	if len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Fatalf("empty blob: %q %v", r.body, r.header)
	}
	e.head("/v2/org/app/blobs/"+string(ed)).want(t, http.StatusOK, "")
}

func TestGetBlobRange(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("0123456789abcdefghij")
	d := e.pushBlob("org/app", content)
	path := "/v2/org/app/blobs/" + string(d)

	for _, tc := range []struct {
		rng, want, contentRange string
	}{
		{"bytes=0-0", "0", "bytes 0-0/20"},
		{"bytes=2-5", "2345", "bytes 2-5/20"},
		{"bytes=15-", "fghij", "bytes 15-19/20"},
		{"bytes=-3", "hij", "bytes 17-19/20"},
		{"bytes=10-100", "abcdefghij", "bytes 10-19/20"},
		{"bytes=-100", string(content), "bytes 0-19/20"},
	} {
		r := e.get(path, "Range", tc.rng).want(t, http.StatusPartialContent, "")
		if string(r.body) != tc.want || r.header.Get("Content-Range") != tc.contentRange {
			t.Errorf("Range %s: body %q Content-Range %q; want %q %q", tc.rng, r.body, r.header.Get("Content-Range"), tc.want, tc.contentRange)
		}
		h := e.head(path, "Range", tc.rng).want(t, http.StatusPartialContent, "")
		if h.header.Get("Content-Length") != stringLen(tc.want) {
			t.Errorf("HEAD Range %s: Content-Length %q", tc.rng, h.header.Get("Content-Length"))
		}
	}

	// Several ranges are served as the whole blob.
	r := e.get(path, "Range", "bytes=0-1,4-5").want(t, http.StatusOK, "")
	if !bytes.Equal(r.body, content) {
		t.Fatalf("multi-range body %q", r.body)
	}

	for _, rng := range []string{"bytes=20-", "bytes=100-200", "bytes=5-2", "bytes=-0", "bytes=abc", "bytes=", "items=0-1", "bytes=99999999999999999999-"} {
		r := e.get(path, "Range", rng).want(t, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
		if cr := r.header.Get("Content-Range"); cr != "bytes */20" {
			t.Errorf("Range %s: Content-Range %q, want bytes */20", rng, cr)
		}
		e.head(path, "Range", rng).want(t, http.StatusRequestedRangeNotSatisfiable, "")
	}
}

func stringLen(s string) string { return strconv.Itoa(len(s)) }

func TestDeleteBlob(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.pushBlob("org/app", []byte("layer"))
	e.pushBlob("org/other", []byte("layer"))

	e.del("/v2/org/app/blobs/"+string(d)).want(t, http.StatusAccepted, "")
	e.get("/v2/org/app/blobs/"+string(d)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	e.del("/v2/org/app/blobs/"+string(d)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	e.del("/v2/org/none/blobs/"+string(d)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	// Still served where it is linked.
	e.get("/v2/org/other/blobs/"+string(d)).want(t, http.StatusOK, "")
}
