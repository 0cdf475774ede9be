package registry

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// startUpload opens an upload and returns its path.
func (e *env) startUpload(repo string) string {
	e.t.Helper()
	r := e.send(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil).want(e.t, http.StatusAccepted, "")
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/"+repo+"/blobs/uploads/") || r.header.Get("Docker-Upload-UUID") == "" {
		e.t.Fatalf("upload headers %v", r.header)
	}
	if r.header.Get("Range") != "0-0" {
		e.t.Fatalf("new upload Range %q", r.header.Get("Range"))
	}
	return loc
}

func TestChunkedUpload(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("hello, chunked world")
	d := digest.FromBytes(content)
	loc := e.startUpload("org/app")

	e.get(loc).want(t, http.StatusNoContent, "")
	r := e.send(http.MethodPatch, loc, content[:5], "Content-Range", "0-4", "Content-Type", "application/octet-stream").want(t, http.StatusAccepted, "")
	if r.header.Get("Range") != "0-4" || r.header.Get("Location") != loc {
		t.Fatalf("after chunk 1: %v", r.header)
	}
	// Without Content-Range the body is appended.
	r = e.send(http.MethodPatch, loc, content[5:10]).want(t, http.StatusAccepted, "")
	if r.header.Get("Range") != "0-9" {
		t.Fatalf("after chunk 2: Range %q", r.header.Get("Range"))
	}
	r = e.get(loc).want(t, http.StatusNoContent, "")
	if r.header.Get("Range") != "0-9" {
		t.Fatalf("status Range %q", r.header.Get("Range"))
	}

	// Out of order: the chunk must start at the current offset.
	for _, cr := range []string{"0-4", "5-9", "11-15", "bytes 20-29/30"} {
		size := 5
		if cr == "bytes 20-29/30" {
			size = 10
		}
		r := e.send(http.MethodPatch, loc, bytes.Repeat([]byte("X"), size), "Content-Range", cr)
		r.want(t, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
		if r.header.Get("Range") != "0-9" || r.header.Get("Location") != loc {
			t.Fatalf("Content-Range %s: 416 without the upload's Range: %v", cr, r.header)
		}
	}
	// Content-Range and Content-Length disagree.
	e.send(http.MethodPatch, loc, []byte("abc"), "Content-Range", "10-14").want(t, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
	// Malformed Content-Range.
	for _, cr := range []string{"garbage", "14-10", "-5", "10-", "0-9223372036854775807"} {
		e.send(http.MethodPatch, loc, []byte("abc"), "Content-Range", cr).want(t, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
	}
	// None of the rejected chunks was written.
	if r := e.get(loc).want(t, http.StatusNoContent, ""); r.header.Get("Range") != "0-9" {
		t.Fatalf("rejected chunks changed the upload: Range %q", r.header.Get("Range"))
	}

	// Finish with the last chunk in the PUT.
	r = e.send(http.MethodPut, loc+"?digest="+string(d), content[10:], "Content-Range", "10-19").want(t, http.StatusCreated, "")
	if r.header.Get("Docker-Content-Digest") != string(d) || r.header.Get("Location") != "/v2/org/app/blobs/"+string(d) {
		t.Fatalf("created headers %v", r.header)
	}
	if got := e.get("/v2/org/app/blobs/"+string(d)).want(t, http.StatusOK, ""); !bytes.Equal(got.body, content) {
		t.Fatalf("blob %q", got.body)
	}
	// The upload is gone.
	e.get(loc).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.send(http.MethodPatch, loc, []byte("x")).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}

func TestStreamedUploadChunked(t *testing.T) {
	e := newEnv(t, Options{})
	content := bytes.Repeat([]byte("stream "), 1000)
	d := digest.FromBytes(content)
	loc := e.startUpload("org/app")
	// Content-Length -1: sent with chunked transfer encoding.
	e.do(http.MethodPatch, loc, io.MultiReader(bytes.NewReader(content)), hdr{"Content-Length", "-1"}).want(t, http.StatusAccepted, "")
	e.send(http.MethodPut, loc+"?digest="+string(d), nil).want(t, http.StatusCreated, "")
	e.get("/v2/org/app/blobs/"+string(d)).want(t, http.StatusOK, "")
}

func TestFinishUploadErrors(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("some content")
	loc := e.startUpload("org/app")
	e.send(http.MethodPatch, loc, content).want(t, http.StatusAccepted, "")

	e.send(http.MethodPut, loc, nil).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	e.send(http.MethodPut, loc+"?digest=", nil).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	e.send(http.MethodPut, loc+"?digest=sha256:abc", nil).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	e.send(http.MethodPut, loc+"?digest=md5:abc", nil).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	wrong := digest.FromString("other content")
	e.send(http.MethodPut, loc+"?digest="+string(wrong), nil).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	e.get("/v2/org/app/blobs/"+string(wrong)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	// The upload survives a failed commit and can still finish.
	if r := e.get(loc).want(t, http.StatusNoContent, ""); r.header.Get("Range") != fmt.Sprintf("0-%d", len(content)-1) {
		t.Fatalf("Range %q", r.header.Get("Range"))
	}
	e.send(http.MethodPut, loc+"?digest="+string(digest.FromBytes(content)), nil).want(t, http.StatusCreated, "")
}

func TestUploadOfAnotherRepository(t *testing.T) {
	e := newEnv(t, Options{})
	loc := e.startUpload("org/a")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	e.startUpload("org/b")
	other := "/v2/org/b/blobs/uploads/" + id
	d := digest.FromString("")

	e.get(other).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.send(http.MethodPatch, other, []byte("x")).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.send(http.MethodPut, other+"?digest="+string(d), nil).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.del(other).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.get("/v2/org/none/blobs/uploads/"+id).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	// Unknown and malformed ids.
	for _, bad := range []string{"0123456789abcdef0123456789abcdef", "nope", "UPPERCASE0123456789", "..", "%2e%2e", strings.Repeat("a", 100)} {
		e.get("/v2/org/a/blobs/uploads/"+bad).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		e.send(http.MethodPatch, "/v2/org/a/blobs/uploads/"+bad, []byte("x")).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	}
	// The upload in its own repository is untouched.
	if r := e.get(loc).want(t, http.StatusNoContent, ""); r.header.Get("Range") != "0-0" {
		t.Fatalf("Range %q", r.header.Get("Range"))
	}
}

func TestCancelUpload(t *testing.T) {
	e := newEnv(t, Options{})
	loc := e.startUpload("org/app")
	e.send(http.MethodPatch, loc, []byte("abc")).want(t, http.StatusAccepted, "")
	e.del(loc).want(t, http.StatusNoContent, "")
	e.get(loc).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.del(loc).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.send(http.MethodPut, loc+"?digest="+string(digest.FromString("abc")), nil).want(t, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}

func TestMonolithicUpload(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("monolithic")
	d := digest.FromBytes(content)
	r := e.send(http.MethodPost, "/v2/org/app/blobs/uploads/?digest="+string(d), content).want(t, http.StatusCreated, "")
	if r.header.Get("Location") != "/v2/org/app/blobs/"+string(d) || r.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatalf("headers %v", r.header)
	}
	// Again: the blob exists already.
	e.send(http.MethodPost, "/v2/org/app/blobs/uploads/?digest="+string(d), content).want(t, http.StatusCreated, "")
	// sha512.
	d512 := digest.SHA512.FromBytes(content)
	e.send(http.MethodPost, "/v2/org/app/blobs/uploads/?digest="+string(d512), content).want(t, http.StatusCreated, "")
	e.get("/v2/org/app/blobs/"+string(d512)).want(t, http.StatusOK, "")

	wrong := digest.FromString("else")
	e.send(http.MethodPost, "/v2/org/app/blobs/uploads/?digest="+string(wrong), content).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	e.get("/v2/org/app/blobs/"+string(wrong)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	for _, bad := range []string{"sha256:abc", "nope", "sha384:" + strings.Repeat("a", 96)} {
		e.send(http.MethodPost, "/v2/org/app/blobs/uploads/?digest="+bad, content).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	}
}

func TestMaxBlobSize(t *testing.T) {
	e := newEnv(t, Options{MaxBlobSize: 10})
	ok := []byte("0123456789")
	e.pushBlob("org/app", ok)
	big := []byte("0123456789A")
	e.send(http.MethodPost, "/v2/org/app/blobs/uploads/?digest="+string(digest.FromBytes(big)), big).want(t, http.StatusBadRequest, "SIZE_INVALID")
	e.get("/v2/org/app/blobs/"+string(digest.FromBytes(big))).want(t, http.StatusNotFound, "BLOB_UNKNOWN")

	loc := e.startUpload("org/app")
	e.send(http.MethodPatch, loc, big[:6]).want(t, http.StatusAccepted, "")
	e.send(http.MethodPatch, loc, big[6:]).want(t, http.StatusBadRequest, "SIZE_INVALID")
	// The over-limit chunk was not kept.
	if r := e.get(loc).want(t, http.StatusNoContent, ""); r.header.Get("Range") != "0-5" {
		t.Fatalf("Range %q", r.header.Get("Range"))
	}
}

func TestMount(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.pushBlob("org/src", []byte("shared"))

	r := e.send(http.MethodPost, "/v2/org/dst/blobs/uploads/?mount="+string(d)+"&from=org/src", nil).want(t, http.StatusCreated, "")
	if r.header.Get("Location") != "/v2/org/dst/blobs/"+string(d) {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	e.get("/v2/org/dst/blobs/"+string(d)).want(t, http.StatusOK, "")
	// Without from.
	e.send(http.MethodPost, "/v2/org/dst2/blobs/uploads/?mount="+string(d), nil).want(t, http.StatusCreated, "")

	// Not mountable: an upload is opened instead.
	missing := digest.FromString("missing")
	r = e.send(http.MethodPost, "/v2/org/dst/blobs/uploads/?mount="+string(missing)+"&from=org/src", nil).want(t, http.StatusAccepted, "")
	if r.header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("fallback upload headers %v", r.header)
	}
	e.send(http.MethodPost, "/v2/org/dst/blobs/uploads/?mount="+string(d)+"&from=org/none", nil).want(t, http.StatusAccepted, "")

	e.send(http.MethodPost, "/v2/org/dst/blobs/uploads/?mount=sha256:abc&from=org/src", nil).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	e.send(http.MethodPost, "/v2/org/dst/blobs/uploads/?mount="+string(d)+"&from=Bad//Name", nil).want(t, http.StatusBadRequest, "NAME_INVALID")
}

// rawRequest writes a request on a fresh connection, half-closes it, and
// returns the response status.
func rawRequest(t *testing.T, e *env, req string) int {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkResponse(t, &response{method: "RAW", path: strings.SplitN(req, "\r\n", 2)[0], status: resp.StatusCode, header: resp.Header, body: b})
	return resp.StatusCode
}

// A body shorter than its Content-Length is a client error, not a server one.
func TestTruncatedBody(t *testing.T) {
	e := newEnv(t, Options{})
	d := digest.FromString("0123456789")
	status := rawRequest(t, e, "POST /v2/org/app/blobs/uploads/?digest="+string(d)+" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
	if status != http.StatusBadRequest {
		t.Fatalf("truncated monolithic upload: status %d", status)
	}
	e.get("/v2/org/app/blobs/"+string(d)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")

	loc := e.startUpload("org/app")
	status = rawRequest(t, e, "PATCH "+loc+" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
	if status != http.StatusBadRequest {
		t.Fatalf("truncated PATCH: status %d", status)
	}
	// What arrived may be kept; the upload still answers with its offset.
	e.get(loc).want(t, http.StatusNoContent, "")

	status = rawRequest(t, e, "PUT /v2/org/app/manifests/latest HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 100\r\n\r\n{\"schemaVersion\":2")
	if status != http.StatusBadRequest {
		t.Fatalf("truncated manifest: status %d", status)
	}
	e.get("/v2/org/app/manifests/latest").want(t, http.StatusNotFound, "")

}
