package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	mediaTypeOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	manifestAccept       = mediaTypeOCIManifest + ", application/vnd.oci.image.index.v1+json, " +
		"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
)

// client speaks the OCI distribution API to one registry over plain HTTP/1.1 with
// keep-alive connections.
type client struct {
	base *url.URL
	hc   *http.Client
	// user and pass, when set (from the URL's user info), are sent as Basic
	// credentials with every request.
	user, pass string
}

func newClient(rawURL string) (*client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("registry URL %q: scheme must be http or https", rawURL)
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	u.Path, u.RawQuery = "", ""
	tr := &http.Transport{
		Proxy:                 nil, // loopback only; never go through a proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 5 * time.Minute,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	return &client{base: u, hc: &http.Client{Transport: tr}, user: user, pass: pass}, nil
}

func (c *client) close() { c.hc.CloseIdleConnections() }

func (c *client) url(path string) *url.URL {
	return c.base.ResolveReference(&url.URL{Path: path})
}

// statusError describes an unexpected response, with the start of its body.
type statusError struct {
	op     string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: unexpected status %d: %s", e.op, e.status, e.body)
}

// do sends a request and checks the status; the body is drained and closed so
// that the connection is reused. The response is returned for its headers.
func (c *client) do(req *http.Request, op string, want ...int) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	for _, w := range want {
		if resp.StatusCode == w {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			return resp, nil
		}
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp, &statusError{op: op, status: resp.StatusCode, body: string(bytes.TrimSpace(snippet))}
}

func (c *client) newRequest(ctx context.Context, method string, u *url.URL, body io.Reader, size int64) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	return req, nil
}

// ping checks that GET /v2/ answers 200.
func (c *client) ping(ctx context.Context) error {
	req, err := c.newRequest(ctx, http.MethodGet, c.url("/v2/"), nil, 0)
	if err != nil {
		return err
	}
	_, err = c.do(req, "GET /v2/", http.StatusOK)
	return err
}

// location resolves a response's Location header against the request URL.
func location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%s %s: response has no Location header", resp.Request.Method, resp.Request.URL.Path)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return resp.Request.URL.ResolveReference(u), nil
}

// startUpload opens a blob upload (POST /v2/<repo>/blobs/uploads/).
func (c *client) startUpload(ctx context.Context, repo string) (*url.URL, error) {
	req, err := c.newRequest(ctx, http.MethodPost, c.url("/v2/"+repo+"/blobs/uploads/"), bytes.NewReader(nil), 0)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req, "POST upload", http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	return location(resp)
}

func withDigest(u *url.URL, digest string) *url.URL {
	v := *u
	q := v.Query()
	q.Set("digest", digest)
	v.RawQuery = q.Encode()
	return &v
}

// pushMonolithic uploads a blob with POST then one PUT carrying the whole body.
func (c *client) pushMonolithic(ctx context.Context, repo string, b *blob) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodPut, withDigest(loc, b.digest), b.reader(), b.size)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	_, err = c.do(req, "PUT blob", http.StatusCreated)
	return err
}

// pushChunked uploads a blob with POST, one PATCH per chunk (with Content-Range)
// and a final PUT without body.
func (c *client) pushChunked(ctx context.Context, repo string, b *blob, chunk int64) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	for off := int64(0); off < b.size; off += chunk {
		n := min(chunk, b.size-off)
		req, err := c.newRequest(ctx, http.MethodPatch, loc, b.section(off, n), n)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
		resp, err := c.do(req, "PATCH chunk", http.StatusAccepted)
		if err != nil {
			return err
		}
		if loc, err = location(resp); err != nil {
			return err
		}
	}
	req, err := c.newRequest(ctx, http.MethodPut, withDigest(loc, b.digest), bytes.NewReader(nil), 0)
	if err != nil {
		return err
	}
	_, err = c.do(req, "PUT chunked blob", http.StatusCreated)
	return err
}

// blobExists answers HEAD /v2/<repo>/blobs/<digest>.
func (c *client) blobExists(ctx context.Context, repo, digest string) (bool, error) {
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+repo+"/blobs/"+digest), nil, 0)
	if err != nil {
		return false, err
	}
	resp, err := c.do(req, "HEAD blob", http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK, nil
}

// ensureBlob uploads a blob unless the repository already has it.
func (c *client) ensureBlob(ctx context.Context, repo string, b *blob) error {
	ok, err := c.blobExists(ctx, repo, b.digest)
	if err != nil || ok {
		return err
	}
	return c.pushMonolithic(ctx, repo, b)
}

// pullBlob downloads a blob into buf-sized reads and returns the byte count,
// which must equal want.
func (c *client) pullBlob(ctx context.Context, repo, digest string, want int64, buf []byte) error {
	req, err := c.newRequest(ctx, http.MethodGet, c.url("/v2/"+repo+"/blobs/"+digest), nil, 0)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET blob: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &statusError{op: "GET blob", status: resp.StatusCode, body: string(snippet)}
	}
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("GET blob body: %w", err)
		}
	}
	if n != want {
		return fmt.Errorf("GET blob: got %d bytes, want %d", n, want)
	}
	return nil
}

// putManifest stores an OCI image manifest under ref (a tag or digest).
func (c *client) putManifest(ctx context.Context, repo, ref string, body []byte) error {
	req, err := c.newRequest(ctx, http.MethodPut, c.url("/v2/"+repo+"/manifests/"+ref), bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaTypeOCIManifest)
	_, err = c.do(req, "PUT manifest", http.StatusCreated)
	return err
}

// headManifest answers HEAD /v2/<repo>/manifests/<ref>, which must exist.
func (c *client) headManifest(ctx context.Context, repo, ref string) error {
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+repo+"/manifests/"+ref), nil, 0)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", manifestAccept)
	_, err = c.do(req, "HEAD manifest", http.StatusOK)
	return err
}

// listTags fetches the tag list of repo, following rel="next" Link headers. n <= 0
// asks for everything in one page (the server may still paginate). It returns
// the number of tags and of pages.
func (c *client) listTags(ctx context.Context, repo string, n int) (tags, pages int, err error) {
	u := c.url("/v2/" + repo + "/tags/list")
	if n > 0 {
		u.RawQuery = "n=" + strconv.Itoa(n)
	}
	for guard := 0; ; guard++ {
		if guard > 1_000_000 {
			return tags, pages, fmt.Errorf("tag list: too many pages")
		}
		req, err := c.newRequest(ctx, http.MethodGet, u, nil, 0)
		if err != nil {
			return tags, pages, err
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return tags, pages, fmt.Errorf("GET tags: %w", err)
		}
		var body struct {
			Tags []string `json:"tags"`
		}
		if resp.StatusCode != http.StatusOK {
			snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return tags, pages, &statusError{op: "GET tags", status: resp.StatusCode, body: string(snippet)}
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return tags, pages, fmt.Errorf("GET tags: decoding: %w", err)
		}
		tags += len(body.Tags)
		pages++
		next, ok, err := nextLink(resp.Header.Get("Link"), u)
		if err != nil {
			return tags, pages, err
		}
		if !ok {
			return tags, pages, nil
		}
		if len(body.Tags) == 0 {
			return tags, pages, fmt.Errorf("GET tags: empty page with a next link")
		}
		u = next
	}
}

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// ociManifest renders an OCI image manifest.
func ociManifest(config *blob, layers []*blob, annotations map[string]string) []byte {
	m := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        descriptor        `json:"config"`
		Layers        []descriptor      `json:"layers"`
		Annotations   map[string]string `json:"annotations,omitempty"`
	}{
		SchemaVersion: 2,
		MediaType:     mediaTypeOCIManifest,
		Config:        descriptor{MediaType: mediaTypeOCIConfig, Digest: config.digest, Size: config.size},
		Layers:        []descriptor{},
		Annotations:   annotations,
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, descriptor{MediaType: mediaTypeOCILayer, Digest: l.digest, Size: l.size})
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(err) // cannot happen for these types
	}
	return out
}

// ociConfig renders a minimal image configuration; label makes it unique.
func ociConfig(label string, layers int) *blob {
	diffIDs := make([]string, layers)
	for i := range diffIDs {
		diffIDs[i] = fmt.Sprintf("sha256:%064x", i+1)
	}
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Labels": map[string]string{"wharf.bench": label}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return bytesBlob(out)
}
