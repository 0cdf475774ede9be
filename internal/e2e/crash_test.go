package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver for the read-only checks
)

// Sizes of the generated blobs.
const (
	crashBigBlob   = 6 << 20   // streamed in one request body
	crashChunkBlob = 3 << 20   // uploaded in chunks
	crashChunkSize = 256 << 10 // one PATCH of a chunked upload
	crashPiece     = 32 << 10  // one read of a slow body
)

// crashRoundSpec describes one kill round.
type crashRoundSpec struct {
	name         string
	stream       []crashKind // one gated big-layer push per entry (killed mid-body)
	chunked      int         // gated chunked pushes (killed between chunks, or mid-chunk for every second one)
	freeChunked  int         // chunked pushes without a gate (killed wherever they are)
	burst        int         // workers pushing small images in a loop
	manifestGate bool        // hold one burst worker's manifest body halfway
	graceful     bool        // SIGTERM instead of SIGKILL; the server must exit 0
}

// crashTest is the state shared by all rounds.
type crashTest struct {
	t    *testing.T
	ctx  context.Context
	srv  *server
	seed uint64
	rng  *rand.Rand // main goroutine only
	down atomic.Bool

	shared []imgBlob // layers shared by the burst images
	ns     string    // namespace of the test's repositories
	token  string    // bearer token for every request ("" when the server needs none)

	mu         sync.Mutex
	acked      []*crashPush     // acknowledged pushes, all rounds
	ackedBlobs map[string]int64 // repo@digest → size of every blob acknowledged with 201
	holder     map[string]string
}

func (ct *crashTest) client() *crashClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 32, ResponseHeaderTimeout: 20 * time.Second}
	return &crashClient{ct: ct, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// bigPush builds an image with a large layer uploaded by kind.
func (ct *crashTest) bigPush(round, w int, kind crashKind, size int) *crashPush {
	repo := ct.ns + "/big"
	if kind == crashChunked {
		repo = ct.ns + "/chunked"
	}
	id := fmt.Sprintf("r%d-%s-%d", round, kind, w)
	big := newImgBlob(imgRandom(size, ct.seed, uint64(round), uint64(w), 1))
	small := newImgBlob(imgRandom(4096+w, ct.seed, uint64(round), uint64(w), 2))
	img := buildImage(repo, id, imgConfig(id, big, small), big, small)
	return newCrashPush(img, kind, big.Digest)
}

// burstPush builds a small image (every third one an index of two images)
// whose layers are partly shared with other images.
func (ct *crashTest) burstPush(rng *rand.Rand, round, w, i int) *crashPush {
	repo := fmt.Sprintf("%s/burst-%d", ct.ns, w%3)
	tag := fmt.Sprintf("r%d-w%d-%d", round, w, i)
	image := func(n int, tag string) *imgImage {
		uniq := newImgBlob(imgRandom(1024+rng.IntN(16<<10), ct.seed, uint64(round), uint64(w), uint64(i*8+n+3)))
		layers := []imgBlob{ct.shared[rng.IntN(len(ct.shared))], uniq, ct.shared[rng.IntN(len(ct.shared))]}
		if layers[0].Digest == layers[2].Digest {
			layers = layers[:2]
		}
		return buildImage(repo, tag, imgConfig(fmt.Sprintf("%s/%d", tag, n), layers...), layers...)
	}
	if i%3 == 2 {
		return newCrashPush(buildIndex(repo, tag, image(0, ""), image(1, "")), crashSmall, "")
	}
	return newCrashPush(image(0, tag), crashSmall, "")
}

// TestCrashSafety kills the server with SIGKILL while clients push (mid-blob,
// between chunks, during bursts of manifest PUTs), restarts it on the same data
// directory, retries the interrupted pushes, and checks that nothing
// acknowledged was lost, that every blob served matches its digest and that no
// manifest references a missing blob, over HTTP and in the database.
//
// WHARF_CRASH_SEED=<n> replays the random choices of an earlier run.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	start := time.Now()
	deadline := start.Add(150 * time.Second)
	if d, ok := t.Deadline(); ok && d.Add(-15*time.Second).Before(deadline) {
		deadline = d.Add(-15 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WHARF_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WHARF_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with WHARF_CRASH_SEED=%d)", seed, seed)

	ct := &crashTest{
		t: t, ctx: ctx, srv: startServer(t), seed: seed,
		rng:        rand.New(rand.NewPCG(seed, 0x5eed)),
		ackedBlobs: map[string]int64{}, holder: map[string]string{}, ns: "crash",
	}
	ct.setupAuth()
	for i := range 8 {
		ct.shared = append(ct.shared, newImgBlob(imgRandom(4096+i*3000, seed, 999, uint64(i))))
	}

	rounds := []crashRoundSpec{
		{name: "mid-blob PATCH", stream: []crashKind{crashStreamPatch, crashStreamPatch, crashStreamPut}, burst: 1},
		{name: "between chunks", chunked: 2, freeChunked: 1},
		{name: "manifest burst", burst: 6, manifestGate: true},
		{name: "mid-blob PUT/POST", stream: []crashKind{crashStreamPut, crashStreamPost, crashStreamPatch}, burst: 1},
		{name: "between chunks + burst", chunked: 2, freeChunked: 1, burst: 2},
		{name: "manifest burst", burst: 8},
		{name: "mixed", stream: []crashKind{crashStreamPatch, crashStreamPut}, chunked: 1, freeChunked: 1, burst: 4, manifestGate: true},
		{name: "manifest burst", burst: 6, manifestGate: true},
		{name: "graceful stop under load", burst: 6, graceful: true},
	}
	for i, spec := range rounds {
		if ctx.Err() != nil {
			t.Fatalf("out of time before round %d", i+1)
		}
		ct.round(i+1, spec)
		if t.Failed() {
			t.Fatalf("stopping after round %d", i+1)
		}
	}

	verifyStart := time.Now()
	ct.verifyAll()
	t.Logf("final HTTP verification took %v", time.Since(verifyStart).Round(time.Millisecond))
	if err := ct.srv.Stop(); err != nil {
		t.Errorf("final graceful stop: %v", err)
	}
	ct.checkDatabase()
	ct.checkLog()
	t.Logf("total %v, %d acknowledged pushes verified", time.Since(start).Round(time.Millisecond), len(ct.acked))
}

// setupAuth prepares credentials when the server requires authentication:
// it creates a user (with the server stopped), then gets one bearer token
// (valid for much longer than the test) that can push to and pull from every
// repository of the test, in the user's namespace, and list the catalog.
func (ct *crashTest) setupAuth() {
	t := ct.t
	c := ct.client()
	defer c.close()
	r, err := c.do(ct.ctx, http.MethodGet, "/v2/", nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	challenge := r.header.Get("WWW-Authenticate")
	if r.status == http.StatusOK {
		return
	}
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") {
		t.Fatalf("GET /v2/: unexpected %s (WWW-Authenticate %q)", r, challenge)
	}
	params := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllStringSubmatch(challenge, -1) {
		params[m[1]] = m[2]
	}
	if params["realm"] == "" {
		t.Fatalf("GET /v2/: no realm in WWW-Authenticate %q", challenge)
	}
	user, password := "crashtest", "pw-"+strconv.FormatUint(ct.rng.Uint64(), 36)+"-x"
	if err := ct.srv.Stop(); err != nil {
		t.Fatalf("stopping the server to create a user: %v", err)
	}
	cmd := exec.CommandContext(ct.ctx, wharfBin, "admin", "create-user", user, "--password", password, "--data", ct.srv.DataDir)
	cmd.Env = append(os.Environ(), ct.srv.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wharf admin create-user: %v\n%s", err, out)
	}
	ct.srv.Restart()
	ct.ns = user
	q := url.Values{"service": {params["service"]}, "scope": {"registry:catalog:*"}}
	for _, name := range []string{"big", "chunked", "burst-0", "burst-1", "burst-2"} {
		q.Add("scope", "repository:"+user+"/"+name+":pull,push")
	}
	req, err := http.NewRequestWithContext(ct.ctx, http.MethodGet, params["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.Token == "" {
		t.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	ct.token = tok.Token
	t.Logf("the server requires authentication: pushing as user %s with a bearer token", user)
}

// round runs one kill round: start the clients, take the server down at the
// chosen instant, restart it, check what was acknowledged, retry the rest.
func (ct *crashTest) round(n int, spec crashRoundSpec) {
	t := ct.t
	ctx := ct.ctx
	c := ct.client()
	defer c.close()

	var (
		mu      sync.Mutex
		pushes  []*crashPush
		gates   []*crashGate
		acks    atomic.Int64
		wg      sync.WaitGroup
		workers int
	)
	run := func(p *crashPush) bool {
		mu.Lock()
		pushes = append(pushes, p)
		mu.Unlock()
		p.err = c.push(ctx, p, false)
		if p.err == nil {
			p.acked = true
			acks.Add(1)
		}
		return p.err == nil
	}
	releaseAll := func() {
		for _, g := range gates {
			select {
			case <-g.release:
			default:
				close(g.release)
			}
		}
	}
	defer releaseAll()

	for _, kind := range spec.stream {
		size := crashBigBlob
		p := ct.bigPush(n, workers, kind, size)
		p.gate = newCrashGate()
		p.gateAt = 512<<10 + ct.rng.IntN(size-1<<20)
		gates = append(gates, p.gate)
		workers++
		wg.Add(1)
		go func() { defer wg.Done(); run(p) }()
	}
	for i := range spec.chunked + spec.freeChunked {
		p := ct.bigPush(n, workers, crashChunked, crashChunkBlob)
		prng := rand.New(rand.NewPCG(ct.seed, uint64(n*100+workers)))
		p.chunkPause = func() time.Duration { return time.Duration(1+prng.IntN(8)) * time.Millisecond }
		if i < spec.chunked {
			p.gate = newCrashGate()
			p.gateAt = 1 + ct.rng.IntN(crashChunkBlob/crashChunkSize-2)
			p.gateMid = i%2 == 1
			gates = append(gates, p.gate)
		}
		workers++
		wg.Add(1)
		go func() { defer wg.Done(); run(p) }()
	}
	var manifestGate *crashGate
	gateIter := ct.rng.IntN(3)
	if spec.manifestGate && spec.burst > 0 {
		manifestGate = newCrashGate()
		gates = append(gates, manifestGate)
	}
	for w := range spec.burst {
		prng := rand.New(rand.NewPCG(ct.seed, uint64(n*100+workers)))
		wid := workers
		workers++
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500 && !ct.down.Load() && ctx.Err() == nil; i++ {
				p := ct.burstPush(prng, n, wid, i)
				if w == 0 && i == gateIter {
					p.manifestGate = manifestGate
				}
				if !run(p) {
					return
				}
			}
		}()
	}

	// Choose the instant: every gate reached (clients held mid-body, between
	// chunks, mid-manifest), enough manifests acknowledged in a burst, then a
	// random delay.
	began := time.Now()
	wantAcks := int64(0)
	switch {
	case spec.burst > 0 && len(spec.stream)+spec.chunked == 0:
		wantAcks = int64(3 + ct.rng.IntN(25))
	case spec.burst > 0:
		wantAcks = int64(1 + ct.rng.IntN(3)) // the burst is background load
	}
	delay := time.Duration(ct.rng.IntN(40)) * time.Millisecond
	limit := time.Now().Add(10 * time.Second)
	var note []string
	for _, g := range gates {
		select {
		case <-g.reached:
		case <-time.After(time.Until(limit)):
			note = append(note, "a gate was not reached within 10s")
		}
	}
	for acks.Load() < wantAcks {
		if time.Now().After(limit) {
			note = append(note, fmt.Sprintf("only %d of %d acknowledgements within 10s", acks.Load(), wantAcks))
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(delay)
	ct.down.Store(true)
	downAt := time.Since(began)
	if spec.graceful {
		if err := ct.srv.Stop(); err != nil {
			t.Errorf("round %d: graceful stop under load: %v", n, err)
		}
	} else {
		ct.srv.Kill()
	}
	releaseAll()
	wg.Wait()
	c.close()

	// Classify the first attempts.
	var acked, interrupted []*crashPush
	during := map[string]int{}
	for _, p := range pushes {
		switch {
		case p.acked:
			acked = append(acked, p)
		case errors.Is(p.err, errCrashInterrupted):
			interrupted = append(interrupted, p)
			during[crashWhere(p.err)]++
		default:
			t.Errorf("round %d: push of %s:%s failed before the server went down: %v", n, p.img.Repo, p.img.Ref(), p.err)
		}
	}
	ct.mu.Lock()
	ct.acked = append(ct.acked, acked...)
	ct.mu.Unlock()

	restartAt := time.Now()
	ct.srv.Restart()
	ct.down.Store(false)
	restartTook := time.Since(restartAt)

	// Everything acknowledged so far, in every round, must be there.
	ct.verifyAcked(n)

	// Retry the interrupted pushes; each retry must succeed.
	rc := ct.client()
	defer rc.close()
	var retryWG sync.WaitGroup
	sem := make(chan struct{}, 4)
	retryErr := make([]error, len(interrupted))
	for i, p := range interrupted {
		retryWG.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; retryWG.Done() }()
			retryErr[i] = rc.push(ctx, p, true)
		}()
	}
	retryWG.Wait()
	resumed, restarted, present := 0, 0, 0
	for i, p := range interrupted {
		if retryErr[i] != nil {
			t.Errorf("round %d: retry of %s:%s (first attempt: %v) failed after the restart: %v", n, p.img.Repo, p.img.Ref(), p.err, retryErr[i])
			continue
		}
		p.acked = true
		resumed += p.resumed
		restarted += p.restarted
		present += p.present
	}
	ct.mu.Lock()
	for i, p := range interrupted {
		if retryErr[i] == nil {
			ct.acked = append(ct.acked, p)
		}
	}
	ct.mu.Unlock()

	how := "SIGKILL"
	if spec.graceful {
		how = "SIGTERM"
	}
	var where []string
	for _, k := range []string{"manifest PUT", "blob upload", "blob HEAD", "new request"} {
		if during[k] > 0 {
			where = append(where, fmt.Sprintf("%s %d", k, during[k]))
		}
	}
	msg := fmt.Sprintf("round %d %-25s %s after %4dms: %3d pushes started, %3d acknowledged, %2d interrupted (%s) → %2d retried OK "+
		"(uploads resumed mid-blob %d, uploads gone and redone %d, blobs already present %d); restart %dms",
		n, spec.name+":", how, downAt.Milliseconds(), len(pushes), len(acked), len(interrupted), strings.Join(where, ", "),
		len(interrupted)-crashCountErrs(retryErr), resumed, restarted, present, restartTook.Milliseconds())
	if len(note) > 0 {
		msg += " [" + strings.Join(note, "; ") + "]"
	}
	t.Log(msg)
}

// crashWhere tells in which request a push was interrupted.
func crashWhere(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return "new request"
	case strings.Contains(msg, "/manifests/"):
		return "manifest PUT"
	case strings.Contains(msg, "HEAD /v2/"):
		return "blob HEAD"
	default:
		return "blob upload"
	}
}

func crashCountErrs(errs []error) int {
	n := 0
	for _, e := range errs {
		if e != nil {
			n++
		}
	}
	return n
}

// crashParallel runs the tasks on up to n goroutines and returns their errors.
func crashParallel(n int, tasks []func() error) []error {
	var mu sync.Mutex
	var errs []error
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(tasks) {
					return
				}
				if err := tasks[i](); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

func (ct *crashTest) reportErrs(what string, errs []error) {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	for i, err := range errs {
		if i == 20 {
			ct.t.Errorf("%s: … and %d more", what, len(errs)-i)
			break
		}
		ct.t.Errorf("%s: %v", what, err)
	}
}

// verifyAcked checks, right after a restart, that every acknowledged push of
// every round so far resolves by tag to its digest and that its blobs, and
// every blob ever acknowledged with 201, exist.
func (ct *crashTest) verifyAcked(round int) {
	c := ct.client()
	defer c.close()
	ct.mu.Lock()
	acked := append([]*crashPush(nil), ct.acked...)
	blobs := make(map[string]int64, len(ct.ackedBlobs))
	for k, v := range ct.ackedBlobs {
		blobs[k] = v
	}
	ct.mu.Unlock()

	var tasks []func() error
	for _, p := range acked {
		tasks = append(tasks, func() error {
			for _, im := range append([]*imgImage{p.img}, p.img.Children...) {
				path := "/v2/" + im.Repo + "/manifests/" + im.Ref()
				r, err := c.do(ct.ctx, http.MethodGet, path, map[string]string{"Accept": imgManifestType + ", " + imgIndexType}, nil, 0)
				if err != nil {
					return err
				}
				if err := crashExpect(r, "acknowledged push: GET "+path, http.StatusOK); err != nil {
					return err
				}
				if got := sha256Of(r.body); got != im.Digest || r.header.Get("Docker-Content-Digest") != im.Digest {
					return fmt.Errorf("acknowledged push: GET %s: content %s, header %s, want %s", path, got, r.header.Get("Docker-Content-Digest"), im.Digest)
				}
			}
			return nil
		})
	}
	for key, size := range blobs {
		repo, d, _ := strings.Cut(key, "@")
		tasks = append(tasks, func() error {
			path := "/v2/" + repo + "/blobs/" + d
			r, err := c.do(ct.ctx, http.MethodHead, path, nil, nil, 0)
			if err != nil {
				return err
			}
			if err := crashExpect(r, "blob acknowledged with 201: HEAD "+path, http.StatusOK); err != nil {
				return err
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.FormatInt(size, 10) {
				return fmt.Errorf("blob acknowledged with 201: HEAD %s: Content-Length %q, want %d", path, cl, size)
			}
			return nil
		})
	}
	ct.reportErrs(fmt.Sprintf("after restart %d", round), crashParallel(4, tasks))
}

// crashBlobCheck verifies blobs over HTTP once per repository and digest.
type crashBlobCheck struct {
	ct   *crashTest
	c    *crashClient
	mu   sync.Mutex
	seen map[string]bool
	n    atomic.Int64
}

// check HEADs and GETs a blob of repo and compares it with its digest (and
// size, when known: size >= 0).
func (bc *crashBlobCheck) check(repo, d string, size int64, why string) error {
	bc.mu.Lock()
	key := repo + "@" + d
	if bc.seen[key] {
		bc.mu.Unlock()
		return nil
	}
	bc.seen[key] = true
	bc.mu.Unlock()
	bc.n.Add(1)
	ctx := bc.ct.ctx
	path := "/v2/" + repo + "/blobs/" + d
	r, err := bc.c.do(ctx, http.MethodHead, path, nil, nil, 0)
	if err != nil {
		return err
	}
	if err := crashExpect(r, why+": HEAD "+path, http.StatusOK); err != nil {
		return err
	}
	if h := r.header.Get("Docker-Content-Digest"); h != d {
		return fmt.Errorf("%s: HEAD %s: Docker-Content-Digest %q", why, path, h)
	}
	if size >= 0 && r.header.Get("Content-Length") != strconv.FormatInt(size, 10) {
		return fmt.Errorf("%s: HEAD %s: Content-Length %q, want %d", why, path, r.header.Get("Content-Length"), size)
	}
	r, err = bc.c.do(ctx, http.MethodGet, path, nil, nil, 0)
	if err != nil {
		return err
	}
	if err := crashExpect(r, why+": GET "+path, http.StatusOK); err != nil {
		return err
	}
	if got := sha256Of(r.body); got != d {
		return fmt.Errorf("%s: GET %s: served %d bytes hashing to %s", why, path, len(r.body), got)
	}
	if size >= 0 && int64(len(r.body)) != size {
		return fmt.Errorf("%s: GET %s: served %d bytes, want %d", why, path, len(r.body), size)
	}
	return nil
}

// verifyAll is the final HTTP check: (a) every acknowledged push is complete
// and pullable with identical bytes, (b) every blob served hashes to its digest,
// (c) every manifest reachable from the catalog has all its blobs (and index
// children).
func (ct *crashTest) verifyAll() {
	t := ct.t
	c := ct.client()
	defer c.close()
	bc := &crashBlobCheck{ct: ct, c: c, seen: map[string]bool{}}
	accept := map[string]string{"Accept": imgManifestType + ", " + imgIndexType}

	// (a) acknowledged pushes, by tag and by digest.
	var tasks []func() error
	tagged := map[string]map[string]string{} // repo → tag → digest
	for _, p := range ct.acked {
		if tagged[p.img.Repo] == nil {
			tagged[p.img.Repo] = map[string]string{}
		}
		tagged[p.img.Repo][p.img.Tag] = p.img.Digest
		tasks = append(tasks, func() error {
			for _, im := range append([]*imgImage{p.img}, p.img.Children...) {
				refs := []string{im.Digest}
				if im.Tag != "" {
					refs = append(refs, im.Tag)
				}
				for _, ref := range refs {
					path := "/v2/" + im.Repo + "/manifests/" + ref
					r, err := c.do(ct.ctx, http.MethodGet, path, accept, nil, 0)
					if err != nil {
						return err
					}
					if err := crashExpect(r, "acknowledged push: GET "+path, http.StatusOK); err != nil {
						return err
					}
					if !bytes.Equal(r.body, im.Manifest) {
						return fmt.Errorf("acknowledged push: GET %s: served manifest %s differs from the pushed %s", path, sha256Of(r.body), im.Digest)
					}
					if ctype := r.header.Get("Content-Type"); ctype != im.MediaType {
						return fmt.Errorf("acknowledged push: GET %s: Content-Type %q, want %q", path, ctype, im.MediaType)
					}
				}
				for _, b := range im.Blobs {
					if err := bc.check(im.Repo, b.Digest, int64(len(b.Data)), "acknowledged push "+im.Repo+":"+p.img.Ref()); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	ct.reportErrs("acknowledged pushes", crashParallel(4, tasks))

	// (b), (c): everything reachable through the catalog.
	repos, err := ct.list(c, "/v2/_catalog?n=7", "repositories")
	if err != nil {
		t.Errorf("catalog: %v", err)
		return
	}
	inCatalog := map[string]bool{}
	for _, r := range repos {
		inCatalog[r] = true
	}
	for repo := range tagged {
		if !inCatalog[repo] {
			t.Errorf("repository %s of acknowledged pushes is not in the catalog %v", repo, repos)
		}
	}
	var mu sync.Mutex
	manifests := 0
	var visit func(repo, ref, wantDigest, why string) error
	visit = func(repo, ref, wantDigest, why string) error {
		path := "/v2/" + repo + "/manifests/" + ref
		r, err := c.do(ct.ctx, http.MethodGet, path, accept, nil, 0)
		if err != nil {
			return err
		}
		if err := crashExpect(r, why+": GET "+path, http.StatusOK); err != nil {
			return err
		}
		mu.Lock()
		manifests++
		mu.Unlock()
		d := sha256Of(r.body)
		if h := r.header.Get("Docker-Content-Digest"); h != d || (wantDigest != "" && d != wantDigest) {
			return fmt.Errorf("%s: GET %s: content %s, Docker-Content-Digest %s, want %q", why, path, d, h, wantDigest)
		}
		var m imgManifest
		if err := json.Unmarshal(r.body, &m); err != nil {
			return fmt.Errorf("%s: GET %s: %v", why, path, err)
		}
		var errs []error
		if m.Config != nil {
			errs = append(errs, bc.check(repo, m.Config.Digest, m.Config.Size, "config of "+repo+"@"+d))
		}
		for _, l := range m.Layers {
			errs = append(errs, bc.check(repo, l.Digest, l.Size, "layer of "+repo+"@"+d))
		}
		for _, child := range m.Manifests {
			errs = append(errs, visit(repo, child.Digest, child.Digest, "child of "+repo+"@"+d))
		}
		return errors.Join(errs...)
	}
	tasks = nil
	tags := 0
	for _, repo := range repos {
		names, err := ct.list(c, "/v2/"+repo+"/tags/list?n=50", "tags")
		if err != nil {
			t.Errorf("tags of %s: %v", repo, err)
			continue
		}
		tags += len(names)
		have := map[string]bool{}
		for _, tag := range names {
			have[tag] = true
			tasks = append(tasks, func() error { return visit(repo, tag, tagged[repo][tag], "tag "+repo+":"+tag) })
		}
		for tag := range tagged[repo] {
			if !have[tag] {
				t.Errorf("acknowledged tag %s:%s is missing from tags/list", repo, tag)
			}
		}
	}
	ct.reportErrs("catalog walk", crashParallel(4, tasks))
	t.Logf("verified %d acknowledged pushes, %d repositories, %d tags, %d manifests fetched, %d blobs downloaded and hashed",
		len(ct.acked), len(repos), tags, manifests, bc.n.Load())
}

var crashNextLink = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// list follows a paginated listing and returns the named array of every page.
func (ct *crashTest) list(c *crashClient, path, field string) ([]string, error) {
	var all []string
	for page := 0; path != ""; page++ {
		if page > 1000 {
			return nil, fmt.Errorf("more than 1000 pages")
		}
		r, err := c.do(ct.ctx, http.MethodGet, path, nil, nil, 0)
		if err != nil {
			return nil, err
		}
		if err := crashExpect(r, "GET "+path, http.StatusOK); err != nil {
			return nil, err
		}
		var body map[string]json.RawMessage
		var items []string
		if err := json.Unmarshal(r.body, &body); err != nil {
			return nil, fmt.Errorf("GET %s: %v", path, err)
		}
		if err := json.Unmarshal(body[field], &items); err != nil {
			return nil, fmt.Errorf("GET %s: %s: %v", path, field, err)
		}
		all = append(all, items...)
		path = ""
		if m := crashNextLink.FindStringSubmatch(r.header.Get("Link")); m != nil {
			path = m[1]
		}
	}
	return all, nil
}

// checkDatabase opens the stopped server's database read-only and checks that
// every blob a manifest references has a blobs row and a file in the blob store
// with the right content, and that every acknowledged push is recorded whole.
func (ct *crashTest) checkDatabase() {
	t := ct.t
	dbPath := filepath.Join(ct.srv.DataDir, "wharf.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Errorf("database: %v", err)
		return
	}
	defer db.Close()
	ctx := ct.ctx
	query := func(q string, args ...any) [][]string {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			t.Errorf("database: %s: %v", q, err)
			return nil
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Errorf("database: %s: %v", q, err)
				return nil
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = v.String
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Errorf("database: %s: %v", q, err)
		}
		return out
	}

	if rows := query(`PRAGMA integrity_check`); len(rows) != 1 || rows[0][0] != "ok" {
		t.Errorf("database: integrity_check: %v", rows)
	}
	if rows := query(`PRAGMA foreign_key_check`); len(rows) > 0 {
		t.Errorf("database: foreign_key_check: %v", rows)
	}
	if rows := query(`SELECT mb.manifest_id, mb.digest FROM manifest_blobs mb
		LEFT JOIN blobs b ON b.digest = mb.digest WHERE b.digest IS NULL`); len(rows) > 0 {
		t.Errorf("database: manifest_blobs rows without a blobs row: %v", rows)
	}
	if rows := query(`SELECT r.full_name, mb.digest FROM manifest_blobs mb
		JOIN manifests m ON m.id = mb.manifest_id JOIN repositories r ON r.id = m.repository_id
		LEFT JOIN repository_blobs rb ON rb.repository_id = m.repository_id AND rb.digest = mb.digest
		WHERE rb.digest IS NULL`); len(rows) > 0 {
		t.Errorf("database: manifests referencing blobs not linked to their repository: %v", rows)
	}
	if rows := query(`SELECT r.full_name, t.name FROM tags t JOIN manifests m ON m.id = t.manifest_id
		JOIN repositories r ON r.id = t.repository_id
		WHERE t.lifetime_end IS NULL AND m.deleted_at IS NOT NULL`); len(rows) > 0 {
		t.Errorf("database: current tags on deleted manifests: %v", rows)
	}

	// Every blob a manifest references (and every blob row, which exists only
	// once the bytes are committed) has a file with the right size and sha256.
	referenced := map[string]bool{}
	for _, row := range query(`SELECT DISTINCT digest FROM manifest_blobs`) {
		referenced[row[0]] = true
	}
	blobRows := query(`SELECT digest, size FROM blobs`)
	var tasks []func() error
	for _, row := range blobRows {
		d, sizeStr := row[0], row[1]
		tasks = append(tasks, func() error {
			enc, ok := strings.CutPrefix(d, "sha256:")
			if !ok || len(enc) != 64 {
				return fmt.Errorf("blobs row with unexpected digest %q", d)
			}
			p := filepath.Join(ct.srv.DataDir, "storage", "blobs", "sha256", enc[:2], enc)
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("blob %s (referenced by a manifest: %v): %v", d, referenced[d], err)
			}
			defer f.Close()
			h := sha256.New()
			n, err := io.Copy(h, f)
			if err != nil {
				return fmt.Errorf("blob %s: %v", d, err)
			}
			if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d {
				return fmt.Errorf("blob file of %s hashes to %s (%d bytes)", d, got, n)
			}
			if strconv.FormatInt(n, 10) != sizeStr {
				return fmt.Errorf("blob %s: file has %d bytes, blobs.size is %s", d, n, sizeStr)
			}
			return nil
		})
	}
	ct.reportErrs("database blob store", crashParallel(2, tasks))
	for _, row := range blobRows {
		delete(referenced, row[0])
	}
	if len(referenced) > 0 {
		t.Errorf("database: digests referenced by manifests with no blobs row: %v", referenced)
	}

	// Every acknowledged push is recorded: the tag points at the manifest and
	// manifest_blobs lists exactly its blobs.
	type mrow struct {
		id      string
		blobs   map[string]bool
		deleted bool
	}
	recorded := map[string]*mrow{} // repo@digest
	for _, row := range query(`SELECT r.full_name, m.digest, m.id, m.deleted_at IS NOT NULL FROM manifests m
		JOIN repositories r ON r.id = m.repository_id`) {
		recorded[row[0]+"@"+row[1]] = &mrow{id: row[2], blobs: map[string]bool{}, deleted: row[3] == "1"}
	}
	for _, row := range query(`SELECT r.full_name, m.digest, mb.digest FROM manifest_blobs mb
		JOIN manifests m ON m.id = mb.manifest_id JOIN repositories r ON r.id = m.repository_id`) {
		if m := recorded[row[0]+"@"+row[1]]; m != nil {
			m.blobs[row[2]] = true
		}
	}
	currentTags := map[string]string{} // repo:tag → digest
	for _, row := range query(`SELECT r.full_name, t.name, m.digest FROM tags t
		JOIN manifests m ON m.id = t.manifest_id JOIN repositories r ON r.id = t.repository_id
		WHERE t.lifetime_end IS NULL`) {
		currentTags[row[0]+":"+row[1]] = row[2]
	}
	bad := 0
	for _, p := range ct.acked {
		for _, im := range append([]*imgImage{p.img}, p.img.Children...) {
			m := recorded[im.Repo+"@"+im.Digest]
			var problem string
			switch {
			case m == nil:
				problem = "no manifests row"
			case m.deleted:
				problem = "manifest marked deleted"
			case im.Tag != "" && currentTags[im.Repo+":"+im.Tag] != im.Digest:
				problem = fmt.Sprintf("tag points at %q", currentTags[im.Repo+":"+im.Tag])
			default:
				want := map[string]bool{}
				for _, b := range im.Blobs {
					want[b.Digest] = true
				}
				if fmt.Sprint(want) != fmt.Sprint(m.blobs) {
					problem = fmt.Sprintf("manifest_blobs %v, want %v", m.blobs, want)
				}
			}
			if problem != "" {
				bad++
				if bad <= 20 {
					t.Errorf("database: acknowledged %s:%s (%s): %s", im.Repo, im.Ref(), im.Digest, problem)
				}
			}
		}
	}

	// Informational: open uploads left behind by the crashes.
	uploadRows := map[string]bool{}
	for _, row := range query(`SELECT id FROM uploads`) {
		uploadRows[row[0]] = true
	}
	entries, _ := os.ReadDir(filepath.Join(ct.srv.DataDir, "storage", "uploads"))
	orphanDirs, rowsWithoutDir := 0, 0
	dirs := map[string]bool{}
	for _, e := range entries {
		dirs[e.Name()] = true
		if !uploadRows[e.Name()] {
			orphanDirs++
		}
	}
	for id := range uploadRows {
		if !dirs[id] {
			rowsWithoutDir++
		}
	}
	t.Logf("database: %d blobs rows checked against the blob store; %d open uploads recorded, %d upload directories; "+
		"%d directories without an uploads row (killed monolithic POST uploads leave these; nothing removes them), %d uploads rows without a directory",
		len(blobRows), len(uploadRows), len(entries), orphanDirs, rowsWithoutDir)
}

// checkLog fails on server-side errors logged during the whole test (every
// restart appends to the same log).
func (ct *crashTest) checkLog() {
	var bad []string
	for _, line := range strings.Split(ct.srv.Log(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec struct {
			Level  string `json:"level"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec.Level == "ERROR" || rec.Status >= 500 {
			bad = append(bad, line)
		}
	}
	for i, line := range bad {
		if i == 20 {
			ct.t.Errorf("server log: … and %d more", len(bad)-i)
			break
		}
		ct.t.Errorf("server log: %s", line)
	}
}
