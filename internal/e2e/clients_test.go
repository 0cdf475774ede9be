package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestClients drives one wharf server with the registry clients people actually use:
// crane, skopeo, oras, regctl, podman and buildah. Steps run in order and build on
// what earlier steps pushed (digests, repositories), as a user would; a step whose
// input an earlier step failed to produce fails and says so.
//
// Every client gets a private HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE and container
// storage in a temporary directory, and talks plain HTTP to the loopback server.
// When the server requires authentication, the test creates a user, checks that
// anonymous access and a wrong password are refused, and logs every client in.
func TestClients(t *testing.T) {
	srv := startServer(t)
	user, password := registryUser(t, srv, "e2e")
	c := newClientRun(t, srv, user, password)
	t.Logf("clients: target %s, repositories under %s", srv.URL, c.prefix)

	type step struct {
		name string
		fn   func(*testing.T)
	}
	var steps []step
	if c.user != "" {
		steps = append(steps, []step{
			{"anon-denied", c.stepAnonDenied},
			{"login-wrong-password", c.stepLoginWrongPassword},
			{"login-crane", c.stepLoginCrane},
			{"login-skopeo", c.stepLoginSkopeo},
			{"login-oras", c.stepLoginOras},
			{"login-regctl", c.stepLoginRegctl},
			{"login-podman", c.stepLoginPodman},
		}...)
	}
	steps = append(steps, []step{
		{"ping", c.stepPing},
		{"crane-push-docker-mt", c.stepCranePushDocker},
		{"crane-push-oci", c.stepCranePushOCI},
		{"crane-blob-digest", c.stepCraneBlob},
		{"crane-index", c.stepCraneIndex},
		{"crane-copy-crossrepo", c.stepCraneCopyCrossRepo},
		{"skopeo-inspect", c.stepSkopeoInspect},
		{"skopeo-copy", c.stepSkopeoCopy},
		{"skopeo-oci-layout-index", c.stepSkopeoOCILayout},
		{"skopeo-list-tags", c.stepSkopeoListTags},
		{"oras-push-artifact", c.stepOrasPush},
		{"oras-pull-artifact", c.stepOrasPull},
		{"oras-attach-signature", c.stepOrasAttach},
		{"oras-discover", c.stepOrasDiscover},
		{"referrers-api", c.stepReferrersAPI},
		{"regctl-tag-ls", c.stepRegctlTagLs},
		{"regctl-manifest-get", c.stepRegctlManifest},
		{"regctl-artifact-list", c.stepRegctlArtifactList},
		{"regctl-copy-referrers", c.stepRegctlCopyReferrers},
		{"delete-tag-crane", c.stepDeleteTagCrane},
		{"delete-tag-regctl", c.stepDeleteTagRegctl},
		{"delete-manifest-oras", c.stepDeleteManifestOras},
		{"pull-digest-crane", c.stepPullDigestCrane},
		{"pull-digest-skopeo", c.stepPullDigestSkopeo},
		{"podman-pull-push", c.stepPodmanPullPush},
		{"buildah-scratch-push", c.stepBuildahScratch},
		{"catalog", c.stepCatalog},
	}...)
	for _, s := range steps {
		t.Run(s.name, s.fn)
	}
}

const (
	// clientCmdTimeout bounds every single client command.
	clientCmdTimeout = 2 * time.Minute

	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtOCILayerGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtSignature      = "application/vnd.dev.cosign.artifact.sig.v1+json"
	mtTestArtifact   = "application/vnd.wharf.e2e.test.v1"
	acceptManifests  = mtOCIManifest + ", " + mtOCIIndex + ", " + mtDockerManifest +
		", application/vnd.docker.distribution.manifest.list.v2+json"
)

// clientRun is the shared state of one TestClients run.
type clientRun struct {
	srv    *server
	user   string // credentials when the server requires authentication, else ""
	pass   string
	work   string   // scratch directory (HOME, data, container storage)
	data   string   // files pushed and pulled
	env    []string // environment of every client command
	rnd    string   // random id of this run
	prefix string   // repository prefix, e.g. e2e/c1a2b3c4
	ref    string   // host:port/prefix, the start of every image reference
	store  []string // podman/buildah storage flags

	tools     map[string]string // resolved client binaries
	regctlSet bool              // regctl knows the registry is plain HTTP

	// Produced by steps, empty when the producing step failed.
	d1        string            // digest of crane:v1 (OCI image, 2 layers)
	d1Layers  []ociDescriptor   // layers of crane:v1
	d1DiffIDs []string          // rootfs.diff_ids of crane:v1
	d1b       string            // digest of crane:v1b (OCI image, 1 layer)
	layerTars map[string][]byte // uncompressed layer tarballs by sha256 digest
	idx       string            // digest of crane:index
	art       string            // digest of the oras artifact oras:v1
	sig       string            // digest of the signature attached to crane@d1
	pushed    []string          // repositories (without prefix) that steps pushed to
}

func newClientRun(t *testing.T, srv *server, user, password string) *clientRun {
	t.Helper()
	work := t.TempDir()
	c := &clientRun{
		srv:       srv,
		user:      user,
		pass:      password,
		work:      work,
		data:      filepath.Join(work, "data"),
		rnd:       randomHex(t, 4),
		tools:     map[string]string{},
		layerTars: map[string][]byte{},
	}
	c.prefix = "e2e/c" + c.rnd
	if user != "" {
		c.prefix = user + "/c" + c.rnd // a user may create repositories in their namespace
	}
	c.ref = srv.Host + "/" + c.prefix
	home := filepath.Join(work, "home")
	authFile := filepath.Join(home, "containers-auth.json")
	for _, d := range []string{c.data, home, filepath.Join(home, ".docker"), filepath.Join(home, "run"), filepath.Join(work, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// podman and buildah insist that the auth file exists
	if err := os.WriteFile(authFile, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	override := map[string]string{
		"HOME":               home,
		"DOCKER_CONFIG":      filepath.Join(home, ".docker"),
		"REGISTRY_AUTH_FILE": authFile,
		"XDG_RUNTIME_DIR":    filepath.Join(home, "run"),
		"XDG_CONFIG_HOME":    filepath.Join(home, ".config"),
		"XDG_DATA_HOME":      filepath.Join(home, ".local", "share"),
		"TMPDIR":             filepath.Join(work, "tmp"),
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := override[k]; ok || k == "CONTAINERS_REGISTRIES_CONF" || k == "CONTAINERS_STORAGE_CONF" {
			continue
		}
		c.env = append(c.env, kv)
	}
	for k, v := range override {
		c.env = append(c.env, k+"="+v)
	}
	c.store = []string{
		"--root", filepath.Join(work, "ctr", "root"),
		"--runroot", filepath.Join(work, "ctr", "runroot"),
		"--storage-driver", "vfs",
	}
	return c
}

// ---------------------------------------------------------------- helpers

// tool resolves a client binary (skipping or failing the step when it is missing).
func (c *clientRun) tool(t *testing.T, name string) string {
	t.Helper()
	if p, ok := c.tools[name]; ok {
		return p
	}
	p := requireTool(t, name)
	c.tools[name] = p
	return p
}

type clientCmdOpt struct {
	dir   string
	stdin string
	env   []string // added to the client environment
}

// execTool runs one client command with a timeout and returns its stdout.
func (c *clientRun) execTool(t *testing.T, o clientCmdOpt, name string, args ...string) ([]byte, error) {
	t.Helper()
	bin := c.tool(t, name)
	ctx, cancel := context.WithTimeout(t.Context(), clientCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(slices.Clone(c.env), o.env...)
	cmd.Dir = c.work
	if o.dir != "" {
		cmd.Dir = o.dir
	}
	if o.stdin != "" {
		cmd.Stdin = strings.NewReader(o.stdin)
	}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ %s %s (%.1fs)", name, strings.Join(args, " "), time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timeout %v)", err, clientCmdTimeout)
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %v\nstderr:\n%s\nstdout:\n%s", name, strings.Join(args, " "), err,
			tailText(stderr.String(), 3000), tailText(stdout.String(), 1000))
	}
	return stdout.Bytes(), nil
}

// run runs a client command that must succeed and returns its stdout.
func (c *clientRun) run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := c.execTool(t, clientCmdOpt{}, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *clientRun) runIn(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	out, err := c.execTool(t, clientCmdOpt{dir: dir}, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Per-client shorthands with the plain-HTTP flags each one needs.
func (c *clientRun) crane(t *testing.T, args ...string) []byte {
	t.Helper()
	return c.run(t, "crane", append([]string{"--insecure"}, args...)...)
}

func (c *clientRun) craneDigest(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(string(c.crane(t, "digest", ref)))
}

// regctl runs regctl, first telling it (once) that the registry speaks plain HTTP;
// regctl keeps that in $HOME/.regctl/config.json.
func (c *clientRun) regctl(t *testing.T, args ...string) []byte {
	t.Helper()
	c.regctlInit(t)
	return c.run(t, "regctl", args...)
}

func (c *clientRun) regctlInit(t *testing.T) {
	t.Helper()
	if !c.regctlSet {
		c.run(t, "regctl", "registry", "set", c.srv.Host, "--tls", "disabled")
		c.regctlSet = true
	}
}

func (c *clientRun) podman(t *testing.T, args ...string) []byte {
	t.Helper()
	return c.run(t, "podman", append(c.podmanFlags(), args...)...)
}

// podmanFlags keeps podman's storage and state in the test's directory.
func (c *clientRun) podmanFlags() []string {
	return append(slices.Clone(c.store), "--tmpdir", filepath.Join(c.work, "ctr", "libpod"), "--events-backend", "file")
}

func (c *clientRun) buildah(t *testing.T, args ...string) []byte {
	t.Helper()
	return c.run(t, "buildah", append(slices.Clone(c.store), args...)...)
}

// need fails the step when a value from an earlier step is missing.
func needStep(t *testing.T, what, val string) {
	t.Helper()
	if val == "" {
		t.Fatalf("needs %s, which an earlier step failed to produce", what)
	}
}

// httpDo sends one request to the server (with the test user's credentials, if any)
// and returns the response with its body read.
func (c *clientRun) httpDo(t *testing.T, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return c.httpSend(t, true, method, path, hdr...)
}

func (c *clientRun) httpSend(t *testing.T, withAuth bool, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if withAuth && c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, body
}

// v2 is the API path of a repository below the run's prefix.
func (c *clientRun) v2(repo, rest string) string {
	return "/v2/" + c.prefix + "/" + repo + "/" + rest
}

func (c *clientRun) markPushed(repo string) {
	if !slices.Contains(c.pushed, repo) {
		c.pushed = append(c.pushed, repo)
	}
}

type ociDescriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type ociManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	ArtifactType  string          `json:"artifactType"`
	Config        ociDescriptor   `json:"config"`
	Layers        []ociDescriptor `json:"layers"`
	Manifests     []ociDescriptor `json:"manifests"`
	Subject       *ociDescriptor  `json:"subject"`
}

type ociImageConfig struct {
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

func decodeJSON[T any](t *testing.T, what string, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: not the expected JSON: %v\n%s", what, err, tailText(string(b), 2000))
	}
	return v
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func descDigests(ds []ociDescriptor) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

func outputLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func expectEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func expectContains(t *testing.T, what string, list []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(list, w) {
			t.Fatalf("%s: %q not found in %q", what, w, list)
		}
	}
}

func expectAbsent(t *testing.T, what string, list []string, unwanted string) {
	t.Helper()
	if slices.Contains(list, unwanted) {
		t.Fatalf("%s: %q still present in %q", what, unwanted, list)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func tailText(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// mkLayer writes an uncompressed layer tarball with size random bytes and an id file
// to data/name and remembers its bytes under its sha256 digest (the layer's diff ID).
func (c *clientRun) mkLayer(t *testing.T, name string, size int) string {
	t.Helper()
	random := make([]byte, size)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		body []byte
	}{
		{"random-" + c.rnd + ".bin", random},
		{"id.txt", fmt.Appendf(nil, "wharf e2e %s %s %d\n", c.rnd, name, time.Now().UnixNano())},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Now().Truncate(time.Second), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(c.data, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c.layerTars[sha256Digest(buf.Bytes())] = buf.Bytes()
	return p
}

// checkImage fetches an image manifest through the raw API and checks what every
// client relies on: served bytes hash to the digest the client computed, the
// Content-Type and Docker-Content-Digest headers, the config digest, and the layers:
// each gzip blob hashes to its digest and unpacks to the tarball it was made from.
func (c *clientRun) checkImage(t *testing.T, repo, tag, wantDigest, wantMT string, wantTars []string) (ociManifest, ociImageConfig) {
	t.Helper()
	resp, body := c.httpDo(t, http.MethodGet, c.v2(repo, "manifests/"+tag), "Accept", acceptManifests)
	expectEq(t, "GET manifest "+tag+" status", resp.StatusCode, http.StatusOK)
	expectEq(t, "manifest digest (sha256 of the served bytes)", sha256Digest(body), wantDigest)
	expectEq(t, "manifest Content-Type", resp.Header.Get("Content-Type"), wantMT)
	expectEq(t, "manifest Docker-Content-Digest", resp.Header.Get("Docker-Content-Digest"), wantDigest)
	m := decodeJSON[ociManifest](t, "manifest", body)
	expectEq(t, "manifest mediaType field", m.MediaType, wantMT)

	resp, cfgBytes := c.httpDo(t, http.MethodGet, c.v2(repo, "blobs/"+m.Config.Digest))
	expectEq(t, "GET config blob status", resp.StatusCode, http.StatusOK)
	expectEq(t, "config blob digest", sha256Digest(cfgBytes), m.Config.Digest)
	expectEq(t, "config blob size", int64(len(cfgBytes)), m.Config.Size)
	cfg := decodeJSON[ociImageConfig](t, "image config", cfgBytes)
	if !slices.Equal(cfg.RootFS.DiffIDs, wantTars) {
		t.Fatalf("config diff_ids %q, want the sha256 of the pushed tarballs %q", cfg.RootFS.DiffIDs, wantTars)
	}
	expectEq(t, "number of layers", len(m.Layers), len(wantTars))
	for i, l := range m.Layers {
		resp, blob := c.httpDo(t, http.MethodGet, c.v2(repo, "blobs/"+l.Digest))
		expectEq(t, "GET layer status", resp.StatusCode, http.StatusOK)
		expectEq(t, "layer blob digest", sha256Digest(blob), l.Digest)
		expectEq(t, "layer blob size", int64(len(blob)), l.Size)
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			t.Fatalf("layer %s is not gzip: %v", l.Digest, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("layer %s: %v", l.Digest, err)
		}
		if !bytes.Equal(raw, c.layerTars[wantTars[i]]) {
			t.Fatalf("layer %d (%s) does not unpack to the pushed tarball", i, l.Digest)
		}
	}
	return m, cfg
}

// registryUser creates a user named name on srv (which always requires
// authentication) and returns its credentials. Tests push into that user's
// own namespace.
func registryUser(t *testing.T, srv *server, name string) (user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v2/: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous GET /v2/: HTTP %d, want 401", resp.StatusCode)
	}
	password = "pw-" + randomHex(t, 12) + "-x"
	// The admin command opens the same database while the server runs
	// (SQLite in WAL mode allows it).
	cmd := exec.CommandContext(ctx, wharfBin, "admin", "create-user", name, "--password", password, "--data", srv.DataDir)
	cmd.Env = append(os.Environ(), srv.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wharf admin create-user %s: %v\n%s", name, err, out)
	}
	return name, password
}

// ---------------------------------------------------------------- steps

func (c *clientRun) stepAnonDenied(t *testing.T) {
	resp, _ := c.httpSend(t, false, http.MethodGet, "/v2/")
	expectEq(t, "anonymous GET /v2/ status", resp.StatusCode, http.StatusUnauthorized)
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("anonymous GET /v2/: 401 without a WWW-Authenticate challenge")
	}
}

// stepLoginWrongPassword: skopeo and oras check credentials against the registry when
// logging in; a wrong password must be refused.
func (c *clientRun) stepLoginWrongPassword(t *testing.T) {
	wrong := "wrong-" + c.pass
	_, err := c.execTool(t, clientCmdOpt{stdin: wrong}, "skopeo", "login", "--tls-verify=false",
		"--authfile", filepath.Join(c.work, "bad-auth.json"), "-u", c.user, "--password-stdin", c.srv.Host)
	if err == nil {
		t.Fatal("skopeo login with a wrong password succeeded")
	}
	_, err = c.execTool(t, clientCmdOpt{stdin: wrong, env: []string{"DOCKER_CONFIG=" + filepath.Join(c.work, "bad-docker")}},
		"oras", "login", "--plain-http", "-u", c.user, "--password-stdin", c.srv.Host)
	if err == nil {
		t.Fatal("oras login with a wrong password succeeded")
	}
}

func (c *clientRun) stepLoginCrane(t *testing.T) {
	c.login(t, "crane", "auth", "login", c.srv.Host, "-u", c.user, "--password-stdin")
}

func (c *clientRun) stepLoginSkopeo(t *testing.T) {
	// skopeo, podman and buildah share $REGISTRY_AUTH_FILE
	c.login(t, "skopeo", "login", "--tls-verify=false", "-u", c.user, "--password-stdin", c.srv.Host)
}

func (c *clientRun) stepLoginOras(t *testing.T) {
	c.login(t, "oras", "login", "--plain-http", "-u", c.user, "--password-stdin", c.srv.Host)
}

func (c *clientRun) stepLoginRegctl(t *testing.T) {
	c.regctlInit(t) // "regctl registry set" must come before the login
	c.login(t, "regctl", "registry", "login", c.srv.Host, "-u", c.user, "--pass-stdin")
}

func (c *clientRun) stepLoginPodman(t *testing.T) {
	c.login(t, "podman", append(c.podmanFlags(), "login", "--tls-verify=false", "-u", c.user, "--password-stdin", c.srv.Host)...)
}

func (c *clientRun) login(t *testing.T, tool string, args ...string) {
	t.Helper()
	if _, err := c.execTool(t, clientCmdOpt{stdin: c.pass + "\n"}, tool, args...); err != nil {
		t.Fatal(err)
	}
}

func (c *clientRun) stepPing(t *testing.T) {
	resp, _ := c.httpDo(t, http.MethodGet, "/v2/")
	expectEq(t, "GET /v2/ status", resp.StatusCode, http.StatusOK)
}

func (c *clientRun) stepCranePushDocker(t *testing.T) {
	l1 := c.mkLayer(t, "d1.tar", 200000)
	l2 := c.mkLayer(t, "d2.tar", 50000)
	c.crane(t, "append", "-f", l1, "-f", l2, "-t", c.ref+"/crane:docker")
	m := c.crane(t, "manifest", c.ref+"/crane:docker")
	d := c.craneDigest(t, c.ref+"/crane:docker")
	expectEq(t, "served manifest hashes to crane's digest", sha256Digest(m), d)
	mf, _ := c.checkImage(t, "crane", "docker", d, mtDockerManifest, []string{fileDigest(t, l1), fileDigest(t, l2)})
	expectEq(t, "config mediaType", mf.Config.MediaType, mtDockerConfig)
	for _, l := range mf.Layers {
		expectEq(t, "layer mediaType", l.MediaType, mtDockerLayer)
	}
	c.markPushed("crane")
}

func (c *clientRun) stepCranePushOCI(t *testing.T) {
	l1 := c.mkLayer(t, "o1.tar", 300000)
	l2 := c.mkLayer(t, "o2.tar", 70000)
	c.crane(t, "append", "--oci-empty-base", "-f", l1, "-f", l2, "-t", c.ref+"/crane:v1")
	raw := c.crane(t, "manifest", c.ref+"/crane:v1")
	d := c.craneDigest(t, c.ref+"/crane:v1")
	expectEq(t, "served manifest hashes to crane's digest", sha256Digest(raw), d)
	m, cfg := c.checkImage(t, "crane", "v1", d, mtOCIManifest, []string{fileDigest(t, l1), fileDigest(t, l2)})
	for _, l := range m.Layers {
		expectEq(t, "layer mediaType", l.MediaType, mtOCILayerGzip)
	}
	// a second OCI image, for the index
	l3 := c.mkLayer(t, "o3.tar", 40000)
	c.crane(t, "append", "--oci-empty-base", "-f", l3, "-t", c.ref+"/crane:v1b")
	db := c.craneDigest(t, c.ref+"/crane:v1b")
	c.checkImage(t, "crane", "v1b", db, mtOCIManifest, []string{fileDigest(t, l3)})
	c.d1, c.d1Layers, c.d1DiffIDs, c.d1b = d, m.Layers, cfg.RootFS.DiffIDs, db
	c.markPushed("crane")
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Digest(b)
}

func (c *clientRun) stepCraneBlob(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	l := c.d1Layers[0]
	blob := c.crane(t, "blob", c.ref+"/crane@"+l.Digest)
	expectEq(t, "crane blob digest", sha256Digest(blob), l.Digest)
	resp, body := c.httpDo(t, http.MethodHead, c.v2("crane", "blobs/"+l.Digest))
	expectEq(t, "HEAD blob status", resp.StatusCode, http.StatusOK)
	expectEq(t, "HEAD blob Content-Length", resp.ContentLength, l.Size)
	expectEq(t, "HEAD blob Docker-Content-Digest", resp.Header.Get("Docker-Content-Digest"), l.Digest)
	expectEq(t, "HEAD blob body length", len(body), 0)
}

func (c *clientRun) stepCraneIndex(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	c.crane(t, "index", "append", "-m", c.ref+"/crane:v1", "-m", c.ref+"/crane:v1b", "-t", c.ref+"/crane:index")
	raw := c.crane(t, "manifest", c.ref+"/crane:index")
	d := c.craneDigest(t, c.ref+"/crane:index")
	expectEq(t, "served index hashes to crane's digest", sha256Digest(raw), d)
	m := decodeJSON[ociManifest](t, "index", raw)
	expectEq(t, "index mediaType", m.MediaType, mtOCIIndex)
	if got := descDigests(m.Manifests); !slices.Equal(got, []string{c.d1, c.d1b}) {
		t.Fatalf("index children %q, want %q", got, []string{c.d1, c.d1b})
	}
	resp, _ := c.httpDo(t, http.MethodHead, c.v2("crane", "manifests/index"), "Accept", acceptManifests)
	expectEq(t, "HEAD index status", resp.StatusCode, http.StatusOK)
	expectEq(t, "HEAD index Content-Type", resp.Header.Get("Content-Type"), mtOCIIndex)
	expectEq(t, "HEAD index Docker-Content-Digest", resp.Header.Get("Docker-Content-Digest"), d)
	expectEq(t, "HEAD index Content-Length", resp.ContentLength, int64(len(raw)))
	c.idx = d
}

func (c *clientRun) stepCraneCopyCrossRepo(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	c.crane(t, "copy", c.ref+"/crane:v1", c.ref+"/crane-copy:v1")
	expectEq(t, "digest of the copy", c.craneDigest(t, c.ref+"/crane-copy:v1"), c.d1)
	for _, l := range c.d1Layers {
		resp, _ := c.httpDo(t, http.MethodHead, c.v2("crane-copy", "blobs/"+l.Digest))
		expectEq(t, "HEAD copied layer in the target repository", resp.StatusCode, http.StatusOK)
	}
	c.markPushed("crane-copy")
}

func (c *clientRun) stepSkopeoInspect(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	out := c.run(t, "skopeo", "inspect", "--tls-verify=false", "docker://"+c.ref+"/crane:v1")
	j := decodeJSON[struct {
		Digest string
		Layers []string
	}](t, "skopeo inspect", out)
	expectEq(t, "skopeo inspect Digest", j.Digest, c.d1)
	if !slices.Equal(j.Layers, descDigests(c.d1Layers)) {
		t.Fatalf("skopeo inspect Layers %q, want %q", j.Layers, descDigests(c.d1Layers))
	}
}

func (c *clientRun) stepSkopeoCopy(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	c.run(t, "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
		"docker://"+c.ref+"/crane:v1", "docker://"+c.ref+"/skopeo:v1")
	expectEq(t, "digest of the copy", c.craneDigest(t, c.ref+"/skopeo:v1"), c.d1)
	c.markPushed("skopeo")
}

func (c *clientRun) stepSkopeoOCILayout(t *testing.T) {
	needStep(t, "crane:index", c.idx)
	layout := filepath.Join(c.data, "layout")
	c.run(t, "skopeo", "copy", "--src-tls-verify=false", "--all", "docker://"+c.ref+"/crane:index", "oci:"+layout+":idx")
	c.run(t, "skopeo", "copy", "--dest-tls-verify=false", "--all", "oci:"+layout+":idx", "docker://"+c.ref+"/skopeo-oci:idx")
	// skopeo 1.9 re-serializes an index whose descriptors carry artifactType, so
	// compare the child manifests rather than the index digest
	orig := decodeJSON[ociManifest](t, "index", c.crane(t, "manifest", c.ref+"/crane:index"))
	back := decodeJSON[ociManifest](t, "index", c.crane(t, "manifest", c.ref+"/skopeo-oci:idx"))
	a, b := descDigests(orig.Manifests), descDigests(back.Manifests)
	sort.Strings(a)
	sort.Strings(b)
	if !slices.Equal(a, b) {
		t.Fatalf("index children after the OCI-layout round trip %q, want %q", b, a)
	}
	for _, d := range b {
		resp, _ := c.httpDo(t, http.MethodHead, c.v2("skopeo-oci", "manifests/"+d), "Accept", acceptManifests)
		expectEq(t, "HEAD child manifest "+d, resp.StatusCode, http.StatusOK)
	}
	// a single image keeps its digest through docker -> oci layout -> docker
	c.run(t, "skopeo", "copy", "--src-tls-verify=false", "docker://"+c.ref+"/crane:v1", "oci:"+layout+":v1")
	c.run(t, "skopeo", "copy", "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+c.ref+"/skopeo-oci:v1")
	expectEq(t, "digest after the OCI-layout round trip", c.craneDigest(t, c.ref+"/skopeo-oci:v1"), c.d1)
	c.markPushed("skopeo-oci")
}

func (c *clientRun) stepSkopeoListTags(t *testing.T) {
	needStep(t, "crane:index", c.idx)
	out := c.run(t, "skopeo", "list-tags", "--tls-verify=false", "docker://"+c.ref+"/crane")
	j := decodeJSON[struct{ Tags []string }](t, "skopeo list-tags", out)
	expectContains(t, "skopeo list-tags", j.Tags, "v1", "v1b", "docker", "index")
}

func (c *clientRun) stepOrasPush(t *testing.T) {
	content := "wharf e2e artifact " + c.rnd + "\n"
	if err := os.WriteFile(filepath.Join(c.data, "artifact.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c.runIn(t, c.data, "oras", "push", "--plain-http", "--artifact-type", mtTestArtifact,
		c.ref+"/oras:v1", "artifact.txt:text/plain")
	raw := c.run(t, "oras", "manifest", "fetch", "--plain-http", c.ref+"/oras:v1")
	m := decodeJSON[ociManifest](t, "artifact manifest", raw)
	expectEq(t, "artifactType", m.ArtifactType, mtTestArtifact)
	expectEq(t, "number of layers", len(m.Layers), 1)
	expectEq(t, "layer mediaType", m.Layers[0].MediaType, "text/plain")
	expectEq(t, "layer digest", m.Layers[0].Digest, sha256Digest([]byte(content)))
	expectEq(t, "layer title", m.Layers[0].Annotations["org.opencontainers.image.title"], "artifact.txt")
	resp, _ := c.httpDo(t, http.MethodHead, c.v2("oras", "manifests/v1"), "Accept", acceptManifests)
	expectEq(t, "HEAD artifact Docker-Content-Digest", resp.Header.Get("Docker-Content-Digest"), sha256Digest(raw))
	c.art = sha256Digest(raw)
	c.markPushed("oras")
}

func (c *clientRun) stepOrasPull(t *testing.T) {
	needStep(t, "oras:v1", c.art)
	out := filepath.Join(c.data, "pulled")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	c.run(t, "oras", "pull", "--plain-http", "-o", out, c.ref+"/oras@"+c.art)
	got, err := os.ReadFile(filepath.Join(out, "artifact.txt"))
	if err != nil {
		t.Fatal(err)
	}
	expectEq(t, "pulled artifact content", string(got), "wharf e2e artifact "+c.rnd+"\n")
}

func (c *clientRun) stepOrasAttach(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	sig := fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"wharf e2e signature"}}`,
		c.ref+"/crane", c.d1)
	if err := os.WriteFile(filepath.Join(c.data, "sig.json"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.runIn(t, c.data, "oras", "attach", "--plain-http", "--format", "json",
		"--artifact-type", mtSignature, c.ref+"/crane@"+c.d1, "sig.json:application/json")
	j := decodeJSON[struct{ Digest string }](t, "oras attach output", out)
	if !strings.HasPrefix(j.Digest, "sha256:") {
		t.Fatalf("oras attach printed no digest: %s", out)
	}
	// the signature manifest as served: subject = the image, the layer = our file
	resp, raw := c.httpDo(t, http.MethodGet, c.v2("crane", "manifests/"+j.Digest), "Accept", acceptManifests)
	expectEq(t, "GET signature manifest status", resp.StatusCode, http.StatusOK)
	expectEq(t, "signature manifest digest", sha256Digest(raw), j.Digest)
	m := decodeJSON[ociManifest](t, "signature manifest", raw)
	if m.Subject == nil {
		t.Fatalf("signature manifest has no subject: %s", raw)
	}
	expectEq(t, "signature subject", m.Subject.Digest, c.d1)
	expectEq(t, "signature artifactType", m.ArtifactType, mtSignature)
	expectEq(t, "signature layer digest", m.Layers[0].Digest, sha256Digest([]byte(sig)))
	c.sig = j.Digest
}

func (c *clientRun) stepOrasDiscover(t *testing.T) {
	needStep(t, "signature", c.sig)
	out := c.run(t, "oras", "discover", "--plain-http", "--format", "json", c.ref+"/crane@"+c.d1)
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("oras discover output is not JSON: %v\n%s", err, out)
	}
	expectContains(t, "digests reported by oras discover", collectDigests(v), c.sig)
}

// collectDigests returns every "digest" string field anywhere in a JSON value.
func collectDigests(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if d, ok := x["digest"].(string); ok {
			out = append(out, d)
		}
		for _, e := range x {
			out = append(out, collectDigests(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, collectDigests(e)...)
		}
	}
	return out
}

func (c *clientRun) stepReferrersAPI(t *testing.T) {
	needStep(t, "signature", c.sig)
	resp, body := c.httpDo(t, http.MethodGet, c.v2("crane", "referrers/"+c.d1))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET referrers: HTTP %d, want 200 (the referrers API is required): %s", resp.StatusCode, tailText(string(body), 500))
	}
	expectEq(t, "referrers Content-Type", resp.Header.Get("Content-Type"), mtOCIIndex)
	idx := decodeJSON[ociManifest](t, "referrers index", body)
	expectEq(t, "referrers index mediaType", idx.MediaType, mtOCIIndex)
	var found *ociDescriptor
	for i := range idx.Manifests {
		if idx.Manifests[i].Digest == c.sig {
			found = &idx.Manifests[i]
		}
	}
	if found == nil {
		t.Fatalf("signature %s not among the referrers: %s", c.sig, body)
	}
	expectEq(t, "referrer artifactType", found.ArtifactType, mtSignature)
	expectEq(t, "referrer mediaType", found.MediaType, mtOCIManifest)

	// filtering by artifactType
	resp, body = c.httpDo(t, http.MethodGet, c.v2("crane", "referrers/"+c.d1+"?artifactType="+url.QueryEscape("application/vnd.wharf.none")))
	expectEq(t, "filtered referrers status", resp.StatusCode, http.StatusOK)
	expectEq(t, "referrers filtered by an unused artifactType", len(decodeJSON[ociManifest](t, "filtered referrers", body).Manifests), 0)
	expectEq(t, "OCI-Filters-Applied", resp.Header.Get("OCI-Filters-Applied"), "artifactType")
	resp, body = c.httpDo(t, http.MethodGet, c.v2("crane", "referrers/"+c.d1+"?artifactType="+url.QueryEscape(mtSignature)))
	expectEq(t, "filtered referrers status", resp.StatusCode, http.StatusOK)
	expectContains(t, "referrers filtered by the signature type", descDigests(decodeJSON[ociManifest](t, "filtered referrers", body).Manifests), c.sig)

	// a manifest without referrers: 200 and an empty list, never 404
	needStep(t, "crane:v1b", c.d1b)
	resp, body = c.httpDo(t, http.MethodGet, c.v2("crane", "referrers/"+c.d1b))
	expectEq(t, "referrers of an image without referrers: status", resp.StatusCode, http.StatusOK)
	expectEq(t, "referrers of an image without referrers", len(decodeJSON[ociManifest](t, "referrers", body).Manifests), 0)

	// clients saw the OCI-Subject header and did not fall back to the tag schema
	tags := c.tagList(t, "crane")
	expectAbsent(t, "tags (referrers tag-schema fallback)", tags, strings.Replace(c.d1, ":", "-", 1))
}

// tagList reads GET /v2/<name>/tags/list.
func (c *clientRun) tagList(t *testing.T, repo string) []string {
	t.Helper()
	resp, body := c.httpDo(t, http.MethodGet, c.v2(repo, "tags/list"))
	expectEq(t, "GET tags/list status", resp.StatusCode, http.StatusOK)
	return decodeJSON[struct{ Tags []string }](t, "tag list", body).Tags
}

func (c *clientRun) stepRegctlTagLs(t *testing.T) {
	needStep(t, "crane:index", c.idx)
	expectContains(t, "regctl tag ls", outputLines(c.regctl(t, "tag", "ls", c.ref+"/crane")), "v1", "v1b", "index", "docker")
}

func (c *clientRun) stepRegctlManifest(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	raw := c.regctl(t, "manifest", "get", "--format", "raw-body", c.ref+"/crane:v1")
	expectEq(t, "digest of regctl's raw body", sha256Digest(raw), c.d1)
	expectEq(t, "regctl manifest head", strings.TrimSpace(string(c.regctl(t, "manifest", "head", c.ref+"/crane:v1"))), c.d1)
}

func (c *clientRun) regctlReferrers(t *testing.T, ref string) []string {
	t.Helper()
	out := c.regctl(t, "artifact", "list", "--format", "{{json .}}", ref)
	j := decodeJSON[struct{ Descriptors []ociDescriptor }](t, "regctl artifact list", out)
	return descDigests(j.Descriptors)
}

func (c *clientRun) stepRegctlArtifactList(t *testing.T) {
	needStep(t, "signature", c.sig)
	expectContains(t, "regctl artifact list", c.regctlReferrers(t, c.ref+"/crane@"+c.d1), c.sig)
}

func (c *clientRun) stepRegctlCopyReferrers(t *testing.T) {
	needStep(t, "signature", c.sig)
	c.regctl(t, "image", "copy", "--referrers", c.ref+"/crane:v1", c.ref+"/regctl:v1")
	expectEq(t, "digest of the copy", strings.TrimSpace(string(c.regctl(t, "image", "digest", c.ref+"/regctl:v1"))), c.d1)
	expectContains(t, "regctl artifact list of the copy", c.regctlReferrers(t, c.ref+"/regctl@"+c.d1), c.sig)
	resp, body := c.httpDo(t, http.MethodGet, c.v2("regctl", "referrers/"+c.d1))
	expectEq(t, "GET referrers of the copy: status", resp.StatusCode, http.StatusOK)
	expectContains(t, "referrers of the copy", descDigests(decodeJSON[ociManifest](t, "referrers", body).Manifests), c.sig)
	c.markPushed("regctl")
}

func (c *clientRun) stepDeleteTagCrane(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	c.crane(t, "tag", c.ref+"/crane:v1", "del-a")
	expectContains(t, "crane ls", outputLines(c.crane(t, "ls", c.ref+"/crane")), "del-a")
	c.crane(t, "delete", c.ref+"/crane:del-a")
	expectAbsent(t, "crane ls after the tag delete", outputLines(c.crane(t, "ls", c.ref+"/crane")), "del-a")
	resp, _ := c.httpDo(t, http.MethodGet, c.v2("crane", "manifests/del-a"), "Accept", acceptManifests)
	expectEq(t, "GET deleted tag status", resp.StatusCode, http.StatusNotFound)
	// the manifest itself and its other tags survive a tag delete
	expectEq(t, "digest by digest after the tag delete", c.craneDigest(t, c.ref+"/crane@"+c.d1), c.d1)
	expectEq(t, "digest of crane:v1 after the tag delete", c.craneDigest(t, c.ref+"/crane:v1"), c.d1)
}

func (c *clientRun) stepDeleteTagRegctl(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	c.regctl(t, "image", "copy", c.ref+"/crane:v1", c.ref+"/crane:del-b")
	expectContains(t, "regctl tag ls", outputLines(c.regctl(t, "tag", "ls", c.ref+"/crane")), "del-b")
	c.regctl(t, "tag", "delete", c.ref+"/crane:del-b")
	tags := outputLines(c.regctl(t, "tag", "ls", c.ref+"/crane"))
	expectAbsent(t, "regctl tag ls after the tag delete", tags, "del-b")
	expectContains(t, "regctl tag ls after the tag delete", tags, "v1")
	expectEq(t, "digest of crane:v1 after the tag delete", c.craneDigest(t, c.ref+"/crane:v1"), c.d1)
}

func (c *clientRun) stepDeleteManifestOras(t *testing.T) {
	l := c.mkLayer(t, "x.tar", 10000)
	c.crane(t, "append", "--oci-empty-base", "-f", l, "-t", c.ref+"/delete-me:v1")
	d := c.craneDigest(t, c.ref+"/delete-me:v1")
	resp, _ := c.httpDo(t, http.MethodGet, c.v2("delete-me", "manifests/"+d), "Accept", mtOCIManifest)
	expectEq(t, "GET manifest before the delete", resp.StatusCode, http.StatusOK)
	c.run(t, "oras", "manifest", "delete", "--plain-http", "--force", c.ref+"/delete-me@"+d)
	resp, _ = c.httpDo(t, http.MethodGet, c.v2("delete-me", "manifests/"+d), "Accept", mtOCIManifest)
	expectEq(t, "GET deleted manifest by digest", resp.StatusCode, http.StatusNotFound)
	resp, _ = c.httpDo(t, http.MethodGet, c.v2("delete-me", "manifests/v1"), "Accept", mtOCIManifest)
	expectEq(t, "GET tag of the deleted manifest", resp.StatusCode, http.StatusNotFound)
}

func (c *clientRun) stepPullDigestCrane(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	dir := filepath.Join(c.data, "pull-crane")
	c.crane(t, "pull", "--format", "oci", c.ref+"/crane@"+c.d1, dir)
	idx := decodeJSON[ociManifest](t, "index.json", mustReadFile(t, filepath.Join(dir, "index.json")))
	expectEq(t, "manifests in the pulled layout", len(idx.Manifests), 1)
	expectEq(t, "digest in the pulled layout", idx.Manifests[0].Digest, c.d1)
	m := decodeJSON[ociManifest](t, "pulled manifest", checkLayoutBlob(t, dir, c.d1))
	checkLayoutBlob(t, dir, m.Config.Digest)
	if !slices.Equal(descDigests(m.Layers), descDigests(c.d1Layers)) {
		t.Fatalf("pulled layers %q, want %q", descDigests(m.Layers), descDigests(c.d1Layers))
	}
	for _, l := range m.Layers {
		checkLayoutBlob(t, dir, l.Digest)
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLayoutBlob reads a blob of an OCI layout and checks that it hashes to its name.
func checkLayoutBlob(t *testing.T, dir, d string) []byte {
	t.Helper()
	algo, hexPart, _ := strings.Cut(d, ":")
	b := mustReadFile(t, filepath.Join(dir, "blobs", algo, hexPart))
	expectEq(t, "blob "+d+" in the layout", sha256Digest(b), d)
	return b
}

func (c *clientRun) stepPullDigestSkopeo(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	dir := filepath.Join(c.data, "pull-skopeo")
	c.run(t, "skopeo", "copy", "--src-tls-verify=false", "docker://"+c.ref+"/crane@"+c.d1, "dir:"+dir)
	raw := mustReadFile(t, filepath.Join(dir, "manifest.json"))
	expectEq(t, "digest of the pulled manifest.json", sha256Digest(raw), c.d1)
	m := decodeJSON[ociManifest](t, "pulled manifest", raw)
	for _, d := range append(descDigests(m.Layers), m.Config.Digest) {
		_, hexPart, _ := strings.Cut(d, ":")
		expectEq(t, "pulled blob "+d, sha256Digest(mustReadFile(t, filepath.Join(dir, hexPart))), d)
	}
}

func (c *clientRun) stepPodmanPullPush(t *testing.T) {
	needStep(t, "crane:v1", c.d1)
	c.podman(t, "pull", "--tls-verify=false", c.ref+"/crane:v1")
	c.podman(t, "tag", c.ref+"/crane:v1", c.ref+"/podman:v1")
	c.podman(t, "push", "--tls-verify=false", c.ref+"/podman:v1")
	d := c.craneDigest(t, c.ref+"/podman:v1")
	// podman may recompress, but the uncompressed layers must be the ones crane pushed
	cfg := decodeJSON[ociImageConfig](t, "config of podman:v1", c.crane(t, "config", c.ref+"/podman:v1"))
	if !slices.Equal(cfg.RootFS.DiffIDs, c.d1DiffIDs) {
		t.Fatalf("diff_ids of the image podman pushed %q, want %q", cfg.RootFS.DiffIDs, c.d1DiffIDs)
	}
	c.markPushed("podman")
	c.podman(t, "rmi", "-a", "-f")
	c.podman(t, "pull", "--tls-verify=false", c.ref+"/podman@"+d)
	expectContains(t, "podman images --digests", outputLines(c.podman(t, "images", "--digests", "--format", "{{.Digest}}")), d)
}

func (c *clientRun) stepBuildahScratch(t *testing.T) {
	ctr := strings.TrimSpace(string(c.buildah(t, "from", "scratch")))
	hello := "built by buildah " + c.rnd + "\n"
	src := filepath.Join(c.data, "hello.txt")
	if err := os.WriteFile(src, []byte(hello), 0o644); err != nil {
		t.Fatal(err)
	}
	c.buildah(t, "copy", ctr, src, "/hello.txt")
	c.buildah(t, "config", "--label", "wharf-e2e="+c.rnd, "--cmd", `["/hello"]`, ctr)
	c.buildah(t, "commit", ctr, c.ref+"/buildah:v1")
	c.buildah(t, "push", "--tls-verify=false", c.ref+"/buildah:v1")
	c.buildah(t, "rm", ctr)
	cfg := decodeJSON[ociImageConfig](t, "config of buildah:v1", c.crane(t, "config", c.ref+"/buildah:v1"))
	expectEq(t, "label of the pushed image", cfg.Config.Labels["wharf-e2e"], c.rnd)
	// the file is in the image's filesystem
	fs := c.crane(t, "export", c.ref+"/buildah:v1", "-")
	expectEq(t, "/hello.txt in the pushed image", tarMember(t, fs, "hello.txt"), hello)
	c.markPushed("buildah")
}

// tarFile returns the content of one file of a tar stream.
func tarMember(t *testing.T, tarball []byte, name string) string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s not found in the image filesystem", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name || strings.TrimPrefix(h.Name, "/") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

func (c *clientRun) stepCatalog(t *testing.T) {
	if len(c.pushed) == 0 {
		t.Fatal("needs at least one pushed repository, and every push step failed")
	}
	repos := outputLines(c.crane(t, "catalog", c.srv.Host))
	for _, r := range c.pushed {
		expectContains(t, "crane catalog", repos, c.prefix+"/"+r)
	}
}
