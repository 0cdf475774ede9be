package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // database/sql driver for the read-only checks
)

// The push protocol of the crash-safety test: a client that can be held
// mid-body and resumed after a restart.
// crashKind is how a push uploads its large layer.
type crashKind int

const (
	crashSmall       crashKind = iota // monolithic POST ?digest= (or a cross-repository mount)
	crashStreamPatch                  // POST to open an upload, one slow PATCH with the whole body, PUT ?digest=
	crashStreamPut                    // POST to open an upload, PUT ?digest= with a slow body
	crashStreamPost                   // POST ?digest= with a slow body (nothing to resume)
	crashChunked                      // POST to open an upload, PATCH chunks with pauses, PUT ?digest=
)

func (k crashKind) String() string {
	return [...]string{"small", "stream-patch", "stream-put", "stream-post", "chunked"}[k]
}

// errCrashInterrupted marks a request that failed because the test took the
// server down. Any other failure is a test failure.
var errCrashInterrupted = errors.New("interrupted by the server going down")

// crashGate holds a client at a chosen instant (mid-body, between chunks) until
// the server has been killed.
type crashGate struct {
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func newCrashGate() *crashGate {
	return &crashGate{reached: make(chan struct{}), release: make(chan struct{})}
}

// hold reports the gate reached and waits for its release.
func (g *crashGate) hold(ctx context.Context) error {
	g.once.Do(func() { close(g.reached) })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// crashSlowReader hands out data in small pieces, optionally stopping at gateAt
// until its gate is released. sent counts the bytes handed to the transport.
type crashSlowReader struct {
	ctx    context.Context
	data   []byte
	gate   *crashGate
	gateAt int
	pace   time.Duration
	sent   *atomic.Int64
}

func (r *crashSlowReader) Read(p []byte) (int, error) {
	off := int(r.sent.Load())
	if off >= len(r.data) {
		return 0, io.EOF
	}
	if r.gate != nil && off >= r.gateAt {
		if err := r.gate.hold(r.ctx); err != nil {
			return 0, err
		}
		r.gate = nil
	}
	n := min(len(p), crashPiece, len(r.data)-off)
	if r.gate != nil {
		n = min(n, r.gateAt-off)
	}
	if r.pace > 0 {
		time.Sleep(r.pace)
	}
	copy(p, r.data[off:off+n])
	r.sent.Add(int64(n))
	return n, nil
}

// crashPush is one image push and what the client knows about its progress,
// so that it can be retried after a restart.
type crashPush struct {
	img  *imgImage
	kind crashKind // how the big layer is uploaded
	big  string    // digest of the big layer ("" for none)
	// gate holds the big layer's upload at byte gateAt (stream kinds) or
	// after gateAt chunks (chunked); manifestGate holds the top manifest's
	// body halfway. Gates apply to the first attempt only.
	gate         *crashGate
	gateAt       int
	gateMid      bool // chunked: hold in the middle of chunk gateAt instead of before it
	manifestGate *crashGate
	chunkPause   func() time.Duration

	uploads map[string]string        // blob digest → location of its open upload
	sent    map[string]*atomic.Int64 // blob digest → bytes handed to the transport for that upload
	done    map[string]bool          // blob digests the server acknowledged in img.Repo
	err     error                    // outcome of the first attempt
	acked   bool                     // the final manifest PUT returned 201

	resumed, restarted, present int // retry statistics
}

func newCrashPush(img *imgImage, kind crashKind, big string) *crashPush {
	return &crashPush{img: img, kind: kind, big: big,
		uploads: map[string]string{}, sent: map[string]*atomic.Int64{}, done: map[string]bool{}}
}

// crashResp is a response with its body read.
type crashResp struct {
	status int
	header http.Header
	body   []byte
}

func (r *crashResp) String() string {
	return fmt.Sprintf("status %d (request id %s): %.300s", r.status, r.header.Get("X-Request-Id"), r.body)
}

// crashClient speaks the push and pull protocol with plain net/http.
type crashClient struct {
	ct *crashTest
	hc *http.Client
}

func (c *crashClient) close() { c.hc.CloseIdleConnections() }

func (c *crashClient) do(ctx context.Context, method, target string, hdr map[string]string, body io.Reader, size int64) (*crashResp, error) {
	u := target
	if strings.HasPrefix(u, "/") {
		u = c.ct.srv.URL + u
	}
	if body == nil || size == 0 {
		body, size = http.NoBody, 0
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	if c.ct.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.ct.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.netErr(method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, c.netErr(method, target, err)
	}
	return &crashResp{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (c *crashClient) netErr(method, target string, err error) error {
	if c.ct.down.Load() {
		return fmt.Errorf("%w: %s %s: %v", errCrashInterrupted, method, target, err)
	}
	return fmt.Errorf("%s %s: network error while the server is up: %w", method, target, err)
}

// crashExpect returns an error unless the response has one of the statuses.
func crashExpect(r *crashResp, what string, statuses ...int) error {
	for _, s := range statuses {
		if r.status == s {
			return nil
		}
	}
	return fmt.Errorf("%s: unexpected %s", what, r)
}

func crashWithQuery(loc, key, val string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + key + "=" + url.QueryEscape(val)
}

// crashLocation returns the Location header of an upload response.
func crashLocation(r *crashResp, what string) (string, error) {
	loc := r.header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s: no Location header in %s", what, r)
	}
	return loc, nil
}

// crashRangeEnd parses a Range header "0-<end>".
func crashRangeEnd(h string) (int64, bool) {
	a, b, ok := strings.Cut(h, "-")
	if !ok || a != "0" {
		return 0, false
	}
	end, err := strconv.ParseInt(b, 10, 64)
	return end, err == nil && end >= 0
}

// push pushes (or, with retry, resumes) p: blobs, index children, then the
// top manifest.
func (c *crashClient) push(ctx context.Context, p *crashPush, retry bool) error {
	for _, child := range p.img.Children {
		if err := c.pushManifest(ctx, p, child, retry); err != nil {
			return err
		}
	}
	return c.pushManifest(ctx, p, p.img, retry)
}

func (c *crashClient) pushManifest(ctx context.Context, p *crashPush, im *imgImage, retry bool) error {
	for _, b := range im.Blobs {
		if err := c.pushBlob(ctx, p, im.Repo, b, retry); err != nil {
			return err
		}
	}
	path := "/v2/" + im.Repo + "/manifests/" + im.Ref()
	var body io.Reader = bytes.NewReader(im.Manifest)
	if im == p.img && p.manifestGate != nil && !retry {
		body = &crashSlowReader{ctx: ctx, data: im.Manifest, gate: p.manifestGate, gateAt: len(im.Manifest) / 2, sent: new(atomic.Int64)}
	}
	r, err := c.do(ctx, http.MethodPut, path, map[string]string{"Content-Type": im.MediaType}, body, int64(len(im.Manifest)))
	if err != nil {
		return err
	}
	if err := crashExpect(r, "PUT "+path, http.StatusCreated); err != nil {
		return err
	}
	if got := r.header.Get("Docker-Content-Digest"); got != im.Digest {
		return fmt.Errorf("PUT %s: Docker-Content-Digest %q, want %s", path, got, im.Digest)
	}
	return nil
}

// blobAcked records a blob the server acknowledged (201) in repo.
func (c *crashClient) blobAcked(p *crashPush, repo string, b imgBlob) {
	p.done[b.Digest] = true
	delete(p.uploads, b.Digest)
	c.ct.mu.Lock()
	defer c.ct.mu.Unlock()
	c.ct.ackedBlobs[repo+"@"+b.Digest] = int64(len(b.Data))
	if _, ok := c.ct.holder[b.Digest]; !ok {
		c.ct.holder[b.Digest] = repo
	}
}

// headBlob reports whether repo serves the blob (checking its size).
func (c *crashClient) headBlob(ctx context.Context, repo string, b imgBlob) (bool, error) {
	path := "/v2/" + repo + "/blobs/" + b.Digest
	r, err := c.do(ctx, http.MethodHead, path, nil, nil, 0)
	if err != nil {
		return false, err
	}
	if err := crashExpect(r, "HEAD "+path, http.StatusOK, http.StatusNotFound); err != nil {
		return false, err
	}
	if r.status == http.StatusOK {
		if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(b.Data)) {
			return false, fmt.Errorf("HEAD %s: Content-Length %q, want %d", path, cl, len(b.Data))
		}
		if d := r.header.Get("Docker-Content-Digest"); d != b.Digest {
			return false, fmt.Errorf("HEAD %s: Docker-Content-Digest %q", path, d)
		}
	}
	return r.status == http.StatusOK, nil
}

func (c *crashClient) pushBlob(ctx context.Context, p *crashPush, repo string, b imgBlob, retry bool) error {
	if p.done[b.Digest] {
		if !retry {
			return nil
		}
		// Acknowledged with 201 before the crash: it must have survived.
		ok, err := c.headBlob(ctx, repo, b)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("blob %s of %s was acknowledged (201) before the crash but is unknown after the restart", b.Digest, repo)
		}
		return nil
	}
	if loc := p.uploads[b.Digest]; loc != "" && retry {
		ok, err := c.resume(ctx, p, repo, b, loc)
		if err != nil || ok {
			return err
		}
		// The upload is gone: start again from the first byte.
		p.restarted++
		delete(p.uploads, b.Digest)
	}
	// Like real clients, skip what the repository already has.
	ok, err := c.headBlob(ctx, repo, b)
	if err != nil {
		return err
	}
	if ok {
		if retry {
			p.present++
		}
		c.blobAcked(p, repo, b)
		return nil
	}
	kind := crashSmall
	if b.Digest == p.big {
		kind = p.kind
	}
	var gate *crashGate
	if !retry && b.Digest == p.big {
		gate = p.gate
	}
	var pace time.Duration
	if !retry {
		pace = 300 * time.Microsecond
	}
	uploads := "/v2/" + repo + "/blobs/uploads/"
	octet := map[string]string{"Content-Type": "application/octet-stream"}
	size := int64(len(b.Data))

	// openUpload opens an upload and remembers its location for a retry.
	openUpload := func() (string, error) {
		r, err := c.do(ctx, http.MethodPost, uploads, nil, nil, 0)
		if err != nil {
			return "", err
		}
		if err := crashExpect(r, "POST "+uploads, http.StatusAccepted); err != nil {
			return "", err
		}
		loc, err := crashLocation(r, "POST "+uploads)
		if err != nil {
			return "", err
		}
		p.uploads[b.Digest] = loc
		p.sent[b.Digest] = new(atomic.Int64)
		return loc, nil
	}
	finish := func(loc string, body io.Reader, n int64) error {
		r, err := c.do(ctx, http.MethodPut, crashWithQuery(loc, "digest", b.Digest), octet, body, n)
		if err != nil {
			return err
		}
		if err := crashExpect(r, "PUT "+loc, http.StatusCreated); err != nil {
			return err
		}
		c.blobAcked(p, repo, b)
		return nil
	}
	slow := func(sent *atomic.Int64) io.Reader {
		return &crashSlowReader{ctx: ctx, data: b.Data, gate: gate, gateAt: p.gateAt, pace: pace, sent: sent}
	}

	switch kind {
	case crashSmall:
		c.ct.mu.Lock()
		from, mountable := c.ct.holder[b.Digest]
		c.ct.mu.Unlock()
		if mountable && from != repo {
			target := uploads + "?mount=" + url.QueryEscape(b.Digest) + "&from=" + url.QueryEscape(from)
			r, err := c.do(ctx, http.MethodPost, target, nil, nil, 0)
			if err != nil {
				return err
			}
			if err := crashExpect(r, "POST "+target, http.StatusCreated, http.StatusAccepted); err != nil {
				return err
			}
			if r.status == http.StatusCreated {
				c.blobAcked(p, repo, b)
				return nil
			}
			// Not mountable: the server opened an upload; finish it monolithically.
			loc, err := crashLocation(r, "POST "+target)
			if err != nil {
				return err
			}
			p.uploads[b.Digest] = loc
			p.sent[b.Digest] = new(atomic.Int64)
			p.sent[b.Digest].Store(size)
			return finish(loc, bytes.NewReader(b.Data), size)
		}
		target := crashWithQuery(uploads, "digest", b.Digest)
		r, err := c.do(ctx, http.MethodPost, target, octet, bytes.NewReader(b.Data), size)
		if err != nil {
			return err
		}
		if err := crashExpect(r, "POST "+target, http.StatusCreated); err != nil {
			return err
		}
		c.blobAcked(p, repo, b)
		return nil

	case crashStreamPost:
		target := crashWithQuery(uploads, "digest", b.Digest)
		r, err := c.do(ctx, http.MethodPost, target, octet, slow(new(atomic.Int64)), size)
		if err != nil {
			return err
		}
		if err := crashExpect(r, "POST "+target, http.StatusCreated); err != nil {
			return err
		}
		c.blobAcked(p, repo, b)
		return nil

	case crashStreamPut:
		loc, err := openUpload()
		if err != nil {
			return err
		}
		return finish(loc, slow(p.sent[b.Digest]), size)

	case crashStreamPatch:
		loc, err := openUpload()
		if err != nil {
			return err
		}
		hdr := map[string]string{"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("0-%d", size-1)}
		r, err := c.do(ctx, http.MethodPatch, loc, hdr, slow(p.sent[b.Digest]), size)
		if err != nil {
			return err
		}
		if err := crashExpect(r, "PATCH "+loc, http.StatusAccepted); err != nil {
			return err
		}
		if loc, err = crashLocation(r, "PATCH "+loc); err != nil {
			return err
		}
		p.uploads[b.Digest] = loc
		return finish(loc, nil, 0)

	case crashChunked:
		loc, err := openUpload()
		if err != nil {
			return err
		}
		for off, chunk := int64(0), 0; off < size; chunk++ {
			end := min(off+crashChunkSize, size)
			var body io.Reader = bytes.NewReader(b.Data[off:end])
			if gate != nil && chunk == p.gateAt {
				if p.gateMid {
					body = &crashSlowReader{ctx: ctx, data: b.Data[off:end], gate: gate, gateAt: int(end-off) / 2, sent: new(atomic.Int64)}
				} else if err := gate.hold(ctx); err != nil {
					return err
				}
			}
			p.sent[b.Digest].Store(end)
			hdr := map[string]string{"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("%d-%d", off, end-1)}
			r, err := c.do(ctx, http.MethodPatch, loc, hdr, body, end-off)
			if err != nil {
				return err
			}
			if err := crashExpect(r, "PATCH "+loc, http.StatusAccepted); err != nil {
				return err
			}
			if e, ok := crashRangeEnd(r.header.Get("Range")); !ok || e != end-1 {
				return fmt.Errorf("PATCH %s: Range %q after a chunk ending at %d", loc, r.header.Get("Range"), end-1)
			}
			if loc, err = crashLocation(r, "PATCH "+loc); err != nil {
				return err
			}
			p.uploads[b.Digest] = loc
			off = end
			if !retry && p.chunkPause != nil && off < size {
				time.Sleep(p.chunkPause())
			}
		}
		return finish(loc, nil, 0)
	}
	return fmt.Errorf("unknown upload kind %v", kind)
}

// resume continues an open upload after a restart: it asks the server how
// much it holds, sends the rest and commits. It returns false when the upload
// no longer exists.
func (c *crashClient) resume(ctx context.Context, p *crashPush, repo string, b imgBlob, loc string) (bool, error) {
	size := int64(len(b.Data))
	var sent int64 = -1
	if s := p.sent[b.Digest]; s != nil {
		sent = s.Load()
	}
	tried0 := false
	for attempt := 0; attempt < 4; attempt++ {
		r, err := c.do(ctx, http.MethodGet, loc, nil, nil, 0)
		if err != nil {
			return false, err
		}
		if err := crashExpect(r, "GET "+loc, http.StatusNoContent, http.StatusNotFound); err != nil {
			return false, err
		}
		if r.status == http.StatusNotFound {
			return false, nil
		}
		rng := r.header.Get("Range")
		end, ok := crashRangeEnd(rng)
		if !ok {
			return false, fmt.Errorf("GET %s: bad Range %q", loc, rng)
		}
		off := end + 1
		if rng == "0-0" && !tried0 {
			// "0-0" is both an empty upload and one byte: try empty first.
			off, tried0 = 0, true
		}
		if sent >= 0 && off > sent {
			return false, fmt.Errorf("GET %s: the upload holds %d bytes but the client sent only %d", loc, off, sent)
		}
		if off > size {
			return false, fmt.Errorf("GET %s: the upload holds %d bytes, more than the blob's %d", loc, off, size)
		}
		if off < size {
			hdr := map[string]string{"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("%d-%d", off, size-1)}
			r, err = c.do(ctx, http.MethodPatch, loc, hdr, bytes.NewReader(b.Data[off:]), size-off)
			if err != nil {
				return false, err
			}
			if err := crashExpect(r, "PATCH "+loc, http.StatusAccepted, http.StatusRequestedRangeNotSatisfiable); err != nil {
				return false, err
			}
			if r.status == http.StatusRequestedRangeNotSatisfiable {
				continue
			}
			if loc, err = crashLocation(r, "PATCH "+loc); err != nil {
				return false, err
			}
		}
		r, err = c.do(ctx, http.MethodPut, crashWithQuery(loc, "digest", b.Digest), nil, nil, 0)
		if err != nil {
			return false, err
		}
		if err := crashExpect(r, fmt.Sprintf("PUT %s after resuming at offset %d", loc, off), http.StatusCreated); err != nil {
			return false, err
		}
		if off > 0 {
			p.resumed++
		}
		c.blobAcked(p, repo, b)
		return true, nil
	}
	return false, fmt.Errorf("resuming %s: the server kept rejecting the offset it reported", loc)
}
