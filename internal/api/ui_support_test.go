package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

func TestUIConfig(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.do("GET", "/api/v1/ui/config", "", nil).expect(200).json()
	if cfg["needs_setup"] != true {
		t.Fatalf("empty database: needs_setup = %v", cfg["needs_setup"])
	}
	f, _ := cfg["features"].(map[string]any)
	if f["DIRECT_LOGIN"] != true || f["USER_INITIALIZE"] != true || f["SECURITY_SCANNER"] != false {
		t.Fatalf("features %v", f)
	}
	if cfg["registry_state"] != "normal" || cfg["anonymous_access"] != true {
		t.Fatalf("config %v", cfg)
	}
	if p, _ := cfg["oidc_providers"].([]any); p == nil || len(p) != 0 {
		t.Fatalf("oidc_providers %v", cfg["oidc_providers"])
	}
	e.user("alice", false)
	if cfg := e.do("GET", "/api/v1/ui/config", "", nil).expect(200).json(); cfg["needs_setup"] != false {
		t.Fatalf("with a user: needs_setup = %v", cfg["needs_setup"])
	}
	// Without FEATURE_USER_INITIALIZE there is never a setup page.
	off := newTestEnv(t, func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) { o.UserInitialize = false })
	if cfg := off.do("GET", "/api/v1/ui/config", "", nil).expect(200).json(); cfg["needs_setup"] != false {
		t.Fatalf("initialize off: needs_setup = %v", cfg["needs_setup"])
	}
}

// putIndex stores an index of the given children (sparse) with a tag.
func (e *testEnv) putIndex(repo, tag string, children ...digest.Digest) digest.Digest {
	e.t.Helper()
	var ms []map[string]any
	for i, c := range children {
		ms = append(ms, map[string]any{"mediaType": oci.MediaTypeOCIManifest, "digest": c, "size": 100 + i,
			"platform": map[string]string{"os": "linux", "architecture": []string{"amd64", "arm64"}[i%2], "variant": []string{"", "v8"}[i%2]}})
	}
	content, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIIndex, "manifests": ms})
	d := digest.FromBytes(content)
	if err := e.db.PutManifest(context.Background(), store.PutManifest{Repository: repo, Digest: d, MediaType: oci.MediaTypeOCIIndex,
		Content: content, Children: children, Tags: []string{tag}}); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func TestUIManifestViews(t *testing.T) {
	e := newTestEnv(t, func(ap *auth.AccessPolicy, _ *auth.Policy, _ *Options) { ap.AnonymousAccess = false })
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	e.repo("alice/app", "private", alice)
	img := e.pushImage("alice/app", "one", nil, "v1")
	idx := e.putIndex("alice/app", "multi", img, digest.FromString("other"))

	// An image: its layers; no platforms.
	m := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img), alice, nil).expect(200).json()
	if m["digest"] != string(img) || m["is_manifest_list"] != false || m["media_type"] != oci.MediaTypeOCIManifest {
		t.Fatalf("image view %v", m)
	}
	if l, ok := m["layers"].([]any); !ok || len(l) != 0 {
		t.Fatalf("layers %v", m["layers"])
	}
	if raw, _ := m["manifest_data"].(string); digest.FromString(raw) != img {
		t.Fatalf("manifest_data does not hash to the digest")
	}
	// An index: its platforms.
	m = e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(idx), alice, nil).expect(200).json()
	plats, _ := m["platforms"].([]any)
	if m["is_manifest_list"] != true || len(plats) != 2 || m["layers"] != nil {
		t.Fatalf("index view %v", m)
	}
	if p := plats[1].(map[string]any); p["os"] != "linux" || p["architecture"] != "arm64" || p["variant"] != "v8" {
		t.Fatalf("platform %v", p)
	}

	// Labels are the manifest's annotations; referrers are listed.
	sig := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/vnd.example.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":%q,"digest":%q,"size":1},"annotations":{"note":"<script>x</script>"}}`,
		oci.MediaTypeOCIManifest, oci.MediaTypeOCIManifest, img))
	sd := digest.FromBytes(sig)
	if err := e.db.PutManifest(context.Background(), store.PutManifest{Repository: "alice/app", Digest: sd, MediaType: oci.MediaTypeOCIManifest,
		ArtifactType: "application/vnd.example.sig", Subject: img, Annotations: map[string]string{"note": "<script>x</script>", "a.b": "1"},
		Content: sig, AllowMissingBlobs: true}); err != nil {
		t.Fatal(err)
	}
	labels := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(sd)+"/labels", alice, nil).expect(200).json()
	ls, _ := labels["labels"].([]any)
	if len(ls) != 2 || ls[0].(map[string]any)["key"] != "a.b" || ls[1].(map[string]any)["value"] != "<script>x</script>" {
		t.Fatalf("labels %v", labels)
	}
	if f := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(sd)+"/labels?filter=no", alice, nil).expect(200).json(); len(f["labels"].([]any)) != 1 {
		t.Fatalf("filtered labels %v", f)
	}
	refs := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img)+"/referrers", alice, nil).expect(200).json()
	rs, _ := refs["referrers"].([]any)
	if len(rs) != 1 || rs[0].(map[string]any)["digest"] != string(sd) || rs[0].(map[string]any)["artifactType"] != "application/vnd.example.sig" {
		t.Fatalf("referrers %v", refs)
	}
	if r := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img)+"/referrers?artifactType=other", alice, nil).expect(200).json(); len(r["referrers"].([]any)) != 0 {
		t.Fatalf("filtered referrers %v", r)
	}

	// Authorization is the repository's: anonymous 401, others 403,
	// unknown manifests and repositories 404.
	for _, suffix := range []string{"", "/labels", "/referrers"} {
		path := "/api/v1/repository/alice/app/manifest/" + string(img) + suffix
		e.do("GET", path, "", nil).expect(401).checkErrorShape()
		e.do("GET", path, bob, nil).expect(403).checkErrorShape()
		e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(digest.FromString("nope"))+suffix, alice, nil).expect(404).checkErrorShape()
		e.do("GET", "/api/v1/repository/alice/app/manifest/not-a-digest"+suffix, alice, nil).expect(404).checkErrorShape()
		e.do("GET", "/api/v1/repository/alice/nope/manifest/"+string(img)+suffix, alice, nil).expect(404).checkErrorShape()
	}
	// A token without repo:read may not read manifests.
	u, err := e.db.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	weak := e.tokenFor(u.ID, auth.ScopeUserRead)
	e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img), weak, nil).expect(403)
	// Once public, anyone signed in may read it.
	e.do("POST", "/api/v1/repository/alice/app/changevisibility", alice, map[string]any{"visibility": "public"}).expect(200)
	e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img), bob, nil).expect(200)
}

func TestSummarizeManifest(t *testing.T) {
	for _, tc := range []struct {
		name            string
		raw             string
		layers, plats   int
		firstArch       string
		firstLayerBytes int64
	}{
		{"image", `{"layers":[{"digest":"sha256:a","size":5,"mediaType":"x"},{"digest":"sha256:b","size":7}]}`, 2, 0, "", 5},
		{"index", `{"manifests":[{"digest":"sha256:a","platform":{"os":"linux","architecture":"s390x"}},{"digest":"sha256:b"}]}`, 0, 2, "s390x", 0},
		{"empty", `{}`, 0, 0, "", 0},
		{"not json", `<html>`, 0, 0, "", 0},
		{"wrong types", `{"layers":"x","manifests":7}`, 0, 0, "", 0},
		{"null", `null`, 0, 0, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := summarizeManifest([]byte(tc.raw))
			if len(s.Layers) != tc.layers || len(s.Platforms) != tc.plats {
				t.Fatalf("got %d layers, %d platforms", len(s.Layers), len(s.Platforms))
			}
			if tc.plats > 0 && s.Platforms[0].Architecture != tc.firstArch {
				t.Errorf("arch %q", s.Platforms[0].Architecture)
			}
			if tc.layers > 0 && (s.Layers[0].Size != tc.firstLayerBytes || s.Layers[1].Index != 1) {
				t.Errorf("layers %+v", s.Layers)
			}
		})
	}
}

func FuzzSummarizeManifest(f *testing.F) {
	f.Add([]byte(`{"layers":[{"digest":"sha256:a","size":5}]}`))
	f.Add([]byte(`{"manifests":[{"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64","os.version":"1"}}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := summarizeManifest(raw)
		if s.Layers == nil || s.Platforms == nil {
			t.Fatal("nil slices encode as null")
		}
		for i, l := range s.Layers {
			if l.Index != i {
				t.Fatalf("layer %d has index %d", i, l.Index)
			}
		}
	})
}

// Session cookies are HttpOnly and SameSite=Lax, and Secure when the
// server's URLs are https; signing out clears the cookie the same way.
func TestSessionCookieFlags(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			e := newTestEnv(t, func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) { o.Scheme = scheme })
			e.user("alice", false)
			in := e.do("POST", "/api/v1/signin", "", map[string]string{"username": "alice", "password": "password-alice"}).expect(200)
			check := func(what string, h []string) {
				t.Helper()
				if len(h) != 1 {
					t.Fatalf("%s: Set-Cookie %v", what, h)
				}
				c := h[0]
				for _, want := range []string{"wharf_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
					if !strings.Contains(c, want) {
						t.Errorf("%s: cookie %q lacks %s", what, c, want)
					}
				}
				if got := strings.Contains(c, "; Secure"); got != (scheme == "https") {
					t.Errorf("%s: cookie %q Secure = %v", what, c, got)
				}
			}
			check("sign-in", in.header.Values("Set-Cookie"))
			out := e.do("POST", "/api/v1/signout", "", nil).expect(200)
			check("sign-out", out.header.Values("Set-Cookie"))
		})
	}
}

// fsBlobs reads blobs from a filesystem blob store, as app wires the API.
type fsBlobs struct{ s *blobfs.Store }

func (b fsBlobs) ReadBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	rc, _, err := b.s.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// putBlob stores content in the blob store and links it to the repository.
func putBlob(t *testing.T, e *testEnv, bs *blobfs.Store, repo string, content []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	d := digest.FromBytes(content)
	id := "upload-" + d.Encoded()[:20]
	if err := bs.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Append(ctx, id, 0, bytes.NewReader(content), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if err := e.db.CommitBlob(ctx, repo, d, int64(len(content)), ""); err != nil {
		t.Fatal(err)
	}
	return d
}

// The labels view lists an image's config labels (config.Labels of its
// config blob) overlaid by the manifest's annotations, values as stored.
func TestUIManifestConfigLabels(t *testing.T) {
	bs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(ap *auth.AccessPolicy, _ *auth.Policy, o *Options) {
		ap.AnonymousAccess = false
		o.Blobs = fsBlobs{bs}
	})
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	e.repo("alice/app", "private", alice)
	config := []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{` +
		`"maintainer":"<script>window.__xss=1</script>","shared":"from config","meta":"{\"a\": [1]}"}},` +
		`"rootfs":{"type":"layers","diff_ids":[]}}`)
	cfg := putBlob(t, e, bs, "alice/app", config)
	put := func(cfgDigest digest.Digest, cfgSize int, annotations map[string]string) digest.Digest {
		t.Helper()
		ann, _ := json.Marshal(annotations)
		content := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[],"annotations":%s}`,
			oci.MediaTypeOCIManifest, cfgDigest, cfgSize, ann))
		d := digest.FromBytes(content)
		if err := e.db.PutManifest(context.Background(), store.PutManifest{Repository: "alice/app", Digest: d, MediaType: oci.MediaTypeOCIManifest,
			Content: content, Blobs: []digest.Digest{cfgDigest}, Annotations: annotations, AllowMissingBlobs: true}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	img := put(cfg, len(config), map[string]string{"shared": "from annotation", "org.opencontainers.image.title": "app"})
	got := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img)+"/labels", alice, nil).expect(200).json()
	var lines []string
	for _, l := range got["labels"].([]any) {
		m := l.(map[string]any)
		if m["id"] != m["key"] || m["source_type"] != "manifest" {
			t.Errorf("label %v", m)
		}
		lines = append(lines, fmt.Sprintf("%s=%s (%s)", m["key"], m["value"], m["media_type"]))
	}
	want := []string{
		"maintainer=<script>window.__xss=1</script> (text/plain)",
		`meta={"a": [1]} (application/json)`,
		"org.opencontainers.image.title=app (text/plain)",
		"shared=from annotation (text/plain)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("labels:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if f := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img)+"/labels?filter=ma", alice, nil).expect(200).json(); len(f["labels"].([]any)) != 1 {
		t.Fatalf("filtered labels %v", f)
	}
	// A config that is not stored: the annotations alone.
	missing := digest.FromString("missing config")
	sparse := put(missing, 10, map[string]string{"only": "annotation"})
	if l := e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(sparse)+"/labels", alice, nil).expect(200).json(); len(l["labels"].([]any)) != 1 {
		t.Fatalf("labels without a stored config %v", l)
	}
	// The repository's authorization applies.
	e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img)+"/labels", "", nil).expect(401).checkErrorShape()
	e.do("GET", "/api/v1/repository/alice/app/manifest/"+string(img)+"/labels", bob, nil).expect(403).checkErrorShape()
}

func TestImageConfigRef(t *testing.T) {
	d := digest.FromString("c")
	for _, tc := range []struct {
		name, raw string
		ok        bool
	}{
		{"oci", `{"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(d) + `","size":5}}`, true},
		{"docker", `{"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + string(d) + `","size":5}}`, true},
		{"artifact", `{"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + string(d) + `","size":2}}`, false},
		{"too big", `{"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(d) + `","size":99999999}}`, false},
		{"bad digest", `{"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:xyz","size":5}}`, false},
		{"index", `{"manifests":[]}`, false},
		{"not json", `<`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := imageConfigRef([]byte(tc.raw))
			if ok != tc.ok || ok && got != d {
				t.Fatalf("got %q %v", got, ok)
			}
		})
	}
	for raw, want := range map[string]int{
		`{"config":{"Labels":{"a":"1","b":"2"}}}`: 2,
		`{"config":{"Labels":null}}`:              0,
		`{"config":{"Labels":{"a":1}}}`:           0,
		`[]`:                                      0,
		`garbage`:                                 0,
	} {
		if got := len(parseConfigLabels([]byte(raw))); got != want {
			t.Errorf("parseConfigLabels(%s): %d labels, want %d", raw, got, want)
		}
	}
}

func FuzzConfigLabels(f *testing.F) {
	f.Add([]byte(`{"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}`))
	f.Add([]byte(`{"config":{"Labels":{"a":"{\"x\":1}"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if d, ok := imageConfigRef(raw); ok && d.Validate() != nil {
			t.Fatalf("invalid digest %q accepted", d)
		}
		for _, v := range parseConfigLabels(raw) {
			if mt := labelMediaType(v); mt != "text/plain" && mt != "application/json" {
				t.Fatalf("media type %q", mt)
			}
		}
	})
}

// The UI's settings carry the time-machine choices; the usage view of a
// namespace is its own user's, its members' and superusers'.
func TestUIConfigExpirationAndUsage(t *testing.T) {
	day := 24 * time.Hour
	e := newTestEnv(t, func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) {
		o.TagExpirationOptions = []time.Duration{0, day, 3 * day}
		o.TagExpirationDefault = 3 * day
	})
	cfg := e.do("GET", "/api/v1/ui/config", "", nil).expect(200).json()
	if fmt.Sprint(cfg["tag_expiration_options"]) != "[0 86400 259200]" || cfg["default_tag_expiration_s"] != float64(259200) || cfg["signed_in"] != false {
		t.Fatalf("config %v", cfg)
	}
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	root := e.user("root", true)
	if cfg := e.do("GET", "/api/v1/ui/config", alice, nil).expect(200).json(); cfg["signed_in"] != true {
		t.Fatalf("signed in: %v", cfg["signed_in"])
	}
	e.org("acme", alice)
	e.pushImage("alice/app", "one", nil, "v1")
	for _, tc := range []struct {
		ns, token string
		status    int
	}{
		{"alice", alice, 200}, {"alice", root, 200}, {"acme", alice, 200}, {"acme", root, 200},
		{"alice", bob, 403}, {"acme", bob, 403}, {"nobody", bob, 403}, {"nobody", root, 404}, {"alice", "", 401},
	} {
		res := e.do("GET", "/api/v1/ui/namespace/"+tc.ns+"/usage", tc.token, nil).expect(tc.status)
		if tc.status != 200 {
			res.checkErrorShape()
			continue
		}
		v := res.json()
		if _, ok := v["quota_bytes"].(float64); !ok {
			t.Errorf("%s: usage %v", tc.ns, v)
		}
	}
}
