package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// env is a registry on a real SQLite store and filesystem blob store, served
// over HTTP.
type env struct {
	t   *testing.T
	h   *Handler
	srv *httptest.Server
	db  *store.DB
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := New(db, blobs, log, opts)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, h: h, srv: srv, db: db}
}

// response is a finished HTTP exchange.
type response struct {
	method string
	path   string
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of the first error in an error body.
func (r *response) errorCode() string {
	var eb struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(r.body, &eb) != nil || len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Code
}

// want fails unless the response has the status and, for errors, the code.
func (r *response) want(t *testing.T, status int, code string) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, r.status, status, truncate(r.body))
	}
	if code != "" && r.method != http.MethodHead && r.errorCode() != code {
		t.Fatalf("%s %s: error code %q, want %q; body %s", r.method, r.path, r.errorCode(), code, truncate(r.body))
	}
	return r
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// hdr is a list of header name/value pairs.
type hdr []string

// do sends a request and checks the invariants every response must meet: no
// 5xx, every error has the spec's JSON body (none on HEAD), and a declared
// Content-Length matches the body.
func (e *env) do(method, path string, body io.Reader, h hdr) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(h); i += 2 {
		if strings.EqualFold(h[i], "Content-Length") {
			fmt.Sscan(h[i+1], &req.ContentLength)
			continue
		}
		req.Header.Add(h[i], h[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	r := &response{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: b}
	checkResponse(e.t, r)
	return r
}

func checkResponse(t *testing.T, r *response) {
	t.Helper()
	if r.status >= 500 {
		t.Fatalf("%s %s: server error %d: %s", r.method, r.path, r.status, truncate(r.body))
	}
	if r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Errorf("%s %s: no Docker-Distribution-API-Version header", r.method, r.path)
	}
	if r.method == http.MethodHead {
		if len(r.body) != 0 {
			t.Fatalf("HEAD %s: %d body bytes", r.path, len(r.body))
		}
		return
	}
	if cl := r.header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(r.body)) {
		t.Fatalf("%s %s: Content-Length %s, body %d bytes", r.method, r.path, cl, len(r.body))
	}
	if r.status < 400 {
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: error with Content-Type %q: %s", r.method, r.path, ct, truncate(r.body))
	}
	var eb struct {
		Errors []struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &eb); err != nil || len(eb.Errors) == 0 {
		t.Fatalf("%s %s: status %d with an invalid error body %q: %v", r.method, r.path, r.status, truncate(r.body), err)
	}
	for _, e := range eb.Errors {
		if e.Code == nil || *e.Code == "" || e.Message == nil || *e.Message == "" {
			t.Fatalf("%s %s: error without code or message: %s", r.method, r.path, r.body)
		}
		if strings.ToUpper(*e.Code) != *e.Code {
			t.Fatalf("%s %s: error code %q is not upper case", r.method, r.path, *e.Code)
		}
	}
}

func (e *env) get(path string, h ...string) *response { return e.do(http.MethodGet, path, nil, hdr(h)) }
func (e *env) head(path string, h ...string) *response {
	return e.do(http.MethodHead, path, nil, hdr(h))
}
func (e *env) del(path string) *response { return e.do(http.MethodDelete, path, nil, nil) }
func (e *env) send(method, path string, body []byte, h ...string) *response {
	return e.do(method, path, bytes.NewReader(body), hdr(h))
}

// pushBlob uploads content monolithically to repo and returns its digest.
func (e *env) pushBlob(repo string, content []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(content)
	e.send(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+string(d), content).want(e.t, http.StatusCreated, "")
	return d
}

// manifestDoc is an OCI image manifest document.
type manifestDoc = map[string]any

func descriptor(mt string, d digest.Digest, size int) map[string]any {
	return map[string]any{"mediaType": mt, "digest": string(d), "size": size}
}

// imageManifest uploads a config and a layer to repo and returns an image
// manifest naming them. seed makes it unique.
func (e *env) imageManifest(repo, seed string) manifestDoc {
	e.t.Helper()
	cfg := []byte(`{"seed":"` + seed + `"}`)
	layer := []byte("layer " + seed)
	return manifestDoc{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"config":        descriptor("application/vnd.oci.image.config.v1+json", e.pushBlob(repo, cfg), len(cfg)),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar", e.pushBlob(repo, layer), len(layer))},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putManifest PUTs a manifest document with its media type as Content-Type.
func (e *env) putManifest(repo, ref string, doc manifestDoc) (*response, []byte) {
	e.t.Helper()
	body := mustJSON(e.t, doc)
	ct, _ := doc["mediaType"].(string)
	return e.send(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, body, "Content-Type", ct), body
}

// pushImage pushes a fresh image manifest under ref and returns its digest
// and bytes.
func (e *env) pushImage(repo, ref, seed string) (digest.Digest, []byte) {
	e.t.Helper()
	r, body := e.putManifest(repo, ref, e.imageManifest(repo, seed))
	r.want(e.t, http.StatusCreated, "")
	return digest.FromBytes(body), body
}

func TestBase(t *testing.T) {
	e := newEnv(t, Options{})
	for _, p := range []string{"/v2/", "/v2"} {
		r := e.get(p).want(t, http.StatusOK, "")
		if string(r.body) != "{}" || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %q %q", p, r.body, r.header.Get("Content-Type"))
		}
		if h := e.head(p).want(t, http.StatusOK, ""); h.header.Get("Content-Length") != "2" {
			t.Fatalf("HEAD %s: Content-Length %q", p, h.header.Get("Content-Length"))
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		e.send(m, "/v2/", nil).want(t, http.StatusMethodNotAllowed, "UNSUPPORTED")
	}
}

func TestUnknownEndpoints(t *testing.T) {
	e := newEnv(t, Options{})
	for _, p := range []string{
		"/", "/v1/", "/v3/", "/v2/org", "/v2/org/app", "/v2/org/app/",
		"/v2/org/app/unknown/x", "/v2/org/app/manifests/", "/v2/org/app/tags",
		"/v2/org/app/blobs/uploads/id/extra", "/v2/_catalog/", "/v2//manifests/latest",
	} {
		e.get(p).want(t, http.StatusNotFound, "NOT_FOUND")
		e.head(p).want(t, http.StatusNotFound, "")
		e.send(http.MethodPost, p, []byte("x")).want(t, http.StatusNotFound, "NOT_FOUND")
	}
}

// Every route rejects an invalid repository name before anything else.
func TestInvalidNames(t *testing.T) {
	e := newEnv(t, Options{})
	d := digest.FromString("x")
	names := []string{"Org/App", "org//app", "org/app-", "-org/app", "org/a..b", "org/a b", "org/" + strings.Repeat("a", 300)}
	for _, name := range names {
		for _, rq := range []struct{ method, path string }{
			{http.MethodGet, "/v2/" + name + "/tags/list"},
			{http.MethodGet, "/v2/" + name + "/manifests/latest"},
			{http.MethodHead, "/v2/" + name + "/manifests/latest"},
			{http.MethodPut, "/v2/" + name + "/manifests/latest"},
			{http.MethodDelete, "/v2/" + name + "/manifests/latest"},
			{http.MethodGet, "/v2/" + name + "/blobs/" + string(d)},
			{http.MethodDelete, "/v2/" + name + "/blobs/" + string(d)},
			{http.MethodPost, "/v2/" + name + "/blobs/uploads/"},
			{http.MethodPatch, "/v2/" + name + "/blobs/uploads/0123456789abcdef0123"},
			{http.MethodGet, "/v2/" + name + "/referrers/" + string(d)},
		} {
			path := strings.ReplaceAll(rq.path, " ", "%20")
			e.send(rq.method, path, []byte("{}")).want(t, http.StatusBadRequest, "NAME_INVALID")
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, Options{})
	d := string(digest.FromString("x"))
	for _, rq := range []struct{ method, path string }{
		{http.MethodPost, "/v2/_catalog"},
		{http.MethodDelete, "/v2/_catalog"},
		{http.MethodPut, "/v2/org/app/tags/list"},
		{http.MethodDelete, "/v2/org/app/tags/list"},
		{http.MethodPost, "/v2/org/app/manifests/latest"},
		{http.MethodPatch, "/v2/org/app/manifests/latest"},
		{http.MethodPost, "/v2/org/app/blobs/" + d},
		{http.MethodPut, "/v2/org/app/blobs/" + d},
		{http.MethodPatch, "/v2/org/app/blobs/" + d},
		{http.MethodGet, "/v2/org/app/blobs/uploads/"},
		{http.MethodPut, "/v2/org/app/blobs/uploads/"},
		{http.MethodDelete, "/v2/org/app/blobs/uploads/"},
		{http.MethodPost, "/v2/org/app/blobs/uploads/0123456789abcdef0123"},
		{http.MethodHead, "/v2/org/app/blobs/uploads/0123456789abcdef0123"},
		{http.MethodPost, "/v2/org/app/referrers/" + d},
		{http.MethodDelete, "/v2/org/app/referrers/" + d},
		{"PROPFIND", "/v2/org/app/manifests/latest"},
	} {
		e.send(rq.method, rq.path, nil).want(t, http.StatusMethodNotAllowed, "UNSUPPORTED")
	}
}

// A HEAD error has the status of the GET error and no body.
func TestHeadErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.pushImage("org/app", "latest", "x")
	d := string(digest.FromString("x"))
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v2/org/app/manifests/missing", http.StatusNotFound},
		{"/v2/org/none/manifests/latest", http.StatusNotFound},
		{"/v2/org/app/manifests/sha256:abc", http.StatusBadRequest},
		{"/v2/org/app/blobs/" + d, http.StatusNotFound},
		{"/v2/org/app/blobs/sha256:abc", http.StatusBadRequest},
		{"/v2/Org/app/blobs/" + d, http.StatusBadRequest},
	} {
		e.head(tc.path).want(t, tc.status, "")
		e.get(tc.path).want(t, tc.status, "")
	}
}

// HEAD writes no body bytes at all (checked on the handler, below net/http,
// which would drop them) and declares the Content-Length of the GET.
func TestHeadWritesNoBody(t *testing.T) {
	e := newEnv(t, Options{})
	d, _ := e.pushImage("org/app", "latest", "x")
	blob := e.pushBlob("org/app", []byte("0123456789"))
	for _, p := range []string{
		"/v2/",
		"/v2/org/app/manifests/latest",
		"/v2/org/app/manifests/" + string(d),
		"/v2/org/app/blobs/" + string(blob),
		"/v2/org/app/manifests/missing",
		"/v2/org/none/manifests/latest",
		"/v2/org/app/blobs/sha256:abc",
		"/v2/Bad/manifests/latest",
	} {
		get := httptest.NewRecorder()
		e.h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, p, nil))
		head := httptest.NewRecorder()
		e.h.ServeHTTP(head, httptest.NewRequest(http.MethodHead, p, nil))
		if head.Code != get.Code {
			t.Errorf("HEAD %s: status %d, GET %d", p, head.Code, get.Code)
		}
		if head.Body.Len() != 0 {
			t.Errorf("HEAD %s: wrote %d body bytes", p, head.Body.Len())
		}
		if get.Code == http.StatusOK && head.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) {
			t.Errorf("HEAD %s: Content-Length %q, GET body %d bytes", p, head.Header().Get("Content-Length"), get.Body.Len())
		}
	}
}
