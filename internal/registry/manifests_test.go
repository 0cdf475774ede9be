package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/oci"
)

func TestPutGetManifest(t *testing.T) {
	e := newEnv(t, Options{})
	doc := e.imageManifest("org/app", "one")
	r, body := e.putManifest("org/app", "latest", doc)
	r.want(t, http.StatusCreated, "")
	d := digest.FromBytes(body)
	if r.header.Get("Docker-Content-Digest") != string(d) || r.header.Get("Location") != "/v2/org/app/manifests/"+string(d) {
		t.Fatalf("created headers %v", r.header)
	}
	if r.header.Get("OCI-Subject") != "" {
		t.Fatalf("OCI-Subject on a manifest without subject")
	}

	for _, ref := range []string{"latest", string(d)} {
		g := e.get("/v2/org/app/manifests/"+ref).want(t, http.StatusOK, "")
		if !bytes.Equal(g.body, body) {
			t.Fatalf("GET %s: body differs", ref)
		}
		if g.header.Get("Content-Type") != oci.MediaTypeOCIManifest || g.header.Get("Docker-Content-Digest") != string(d) {
			t.Fatalf("GET %s: headers %v", ref, g.header)
		}
		h := e.head("/v2/org/app/manifests/"+ref).want(t, http.StatusOK, "")
		if h.header.Get("Content-Length") != stringLen(string(body)) || h.header.Get("Docker-Content-Digest") != string(d) ||
			h.header.Get("Content-Type") != oci.MediaTypeOCIManifest {
			t.Fatalf("HEAD %s: headers %v", ref, h.header)
		}
		// A conditional GET with the digest as ETag.
		e.get("/v2/org/app/manifests/"+ref, "If-None-Match", `"`+string(d)+`"`).want(t, http.StatusNotModified, "")
	}

	// A Docker manifest keeps its media type.
	docker := e.imageManifest("org/app", "docker")
	docker["mediaType"] = oci.MediaTypeDockerManifest
	r, body = e.putManifest("org/app", "docker", docker)
	r.want(t, http.StatusCreated, "")
	if g := e.get("/v2/org/app/manifests/docker").want(t, http.StatusOK, ""); g.header.Get("Content-Type") != oci.MediaTypeDockerManifest || !bytes.Equal(g.body, body) {
		t.Fatalf("docker manifest: %v", g.header)
	}
}

func TestPutManifestByDigestWithTags(t *testing.T) {
	e := newEnv(t, Options{})
	body := mustJSON(t, e.imageManifest("org/app", "x"))
	d := digest.FromBytes(body)
	r := e.send(http.MethodPut, "/v2/org/app/manifests/"+string(d)+"?tag=a&tag=b", body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusCreated, "")
	if got := r.header.Values("OCI-Tag"); strings.Join(got, ",") != "a,b" {
		t.Fatalf("OCI-Tag %q", got)
	}
	for _, tag := range []string{"a", "b"} {
		e.get("/v2/org/app/manifests/"+tag).want(t, http.StatusOK, "")
	}
	e.send(http.MethodPut, "/v2/org/app/manifests/"+string(d)+"?tag=-bad", body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusBadRequest, "TAG_INVALID")

	// sha512 digests are verified with sha512.
	d512 := digest.SHA512.FromBytes(body)
	r = e.send(http.MethodPut, "/v2/org/app/manifests/"+string(d512), body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusCreated, "")
	if r.header.Get("Docker-Content-Digest") != string(d512) {
		t.Fatalf("sha512 push: %v", r.header)
	}
	e.get("/v2/org/app/manifests/"+string(d512)).want(t, http.StatusOK, "")
}

func TestPutManifestInvalid(t *testing.T) {
	e := newEnv(t, Options{})
	good := e.imageManifest("org/app", "good")
	e.pushImage("org/app", "existing", "existing")
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return mustJSON(t, m)
	}
	for _, tc := range []struct {
		name, ct string
		body     []byte
		status   int
		code     string
	}{
		{"not json", oci.MediaTypeOCIManifest, []byte("{nope"), 400, "MANIFEST_INVALID"},
		{"empty", oci.MediaTypeOCIManifest, nil, 400, "MANIFEST_INVALID"},
		{"json array", oci.MediaTypeOCIManifest, []byte("[1,2]"), 400, "MANIFEST_INVALID"},
		{"schemaVersion 1", oci.MediaTypeOCIManifest, with("schemaVersion", 1), 400, "MANIFEST_INVALID"},
		{"no schemaVersion", oci.MediaTypeOCIManifest, with("schemaVersion", nil), 400, "MANIFEST_INVALID"},
		{"media type mismatch", oci.MediaTypeOCIIndex, mustJSON(t, good), 400, "MANIFEST_INVALID"},
		{"unknown media type", "application/vnd.example+json", with("mediaType", nil), 400, "MANIFEST_INVALID"},
		{"no config", oci.MediaTypeOCIManifest, with("config", nil), 400, "MANIFEST_INVALID"},
		{"index with layers", oci.MediaTypeOCIIndex, mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIIndex, "manifests": []any{}, "layers": []any{}}), 400, "MANIFEST_INVALID"},
		{"bad layer digest", oci.MediaTypeOCIManifest, with("layers", []any{descriptor("application/vnd.oci.image.layer.v1.tar", "sha256:abc", 1)}), 400, "MANIFEST_INVALID"},
		{"negative size", oci.MediaTypeOCIManifest, with("layers", []any{descriptor("application/vnd.oci.image.layer.v1.tar", digest.FromString("x"), -1)}), 400, "MANIFEST_INVALID"},
		{"schema1", oci.MediaTypeDockerSchema1JWS, []byte(`{"schemaVersion":1,"name":"org/app","tag":"x","fsLayers":[]}`), 415, "UNSUPPORTED"},
		{"missing blob", oci.MediaTypeOCIManifest, with("layers", []any{descriptor("application/vnd.oci.image.layer.v1.tar", digest.FromString("never pushed"), 12)}), 400, "MANIFEST_BLOB_UNKNOWN"},
		{"blob of another repository", oci.MediaTypeOCIManifest, with("config", descriptor("application/vnd.oci.image.config.v1+json", e.pushBlob("org/other", []byte("cfg")), 3)), 400, "MANIFEST_BLOB_UNKNOWN"},
		{"too large", oci.MediaTypeOCIManifest, bytes.Repeat([]byte(" "), oci.MaxManifestSize+1), 413, "SIZE_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := digest.FromBytes(tc.body)
			e.send(http.MethodPut, "/v2/org/app/manifests/"+tc.name[:1]+"tag", tc.body, "Content-Type", tc.ct).want(t, tc.status, tc.code)
			e.send(http.MethodPut, "/v2/org/app/manifests/"+string(d), tc.body, "Content-Type", tc.ct).want(t, tc.status, tc.code)
			// Nothing half-written: no tag, no manifest.
			e.get("/v2/org/app/manifests/"+tc.name[:1]+"tag").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
			e.get("/v2/org/app/manifests/"+string(d)).want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
			e.head("/v2/org/app/manifests/"+string(d)).want(t, http.StatusNotFound, "")
			tags := e.get("/v2/org/app/tags/list").want(t, http.StatusOK, "")
			if string(tags.body) != `{"name":"org/app","tags":["existing"]}` {
				t.Fatalf("tags after a rejected push: %s", tags.body)
			}
		})
	}

	// A too-large body without Content-Length (chunked).
	big := bytes.Repeat([]byte(" "), oci.MaxManifestSize+10)
	e.do(http.MethodPut, "/v2/org/app/manifests/big", io.MultiReader(bytes.NewReader(big)), hdr{"Content-Length", "-1", "Content-Type", oci.MediaTypeOCIManifest}).
		want(t, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
	e.get("/v2/org/app/manifests/big").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")

	// A rejected push into a new repository leaves no manifest behind either.
	body := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest,
		"config": descriptor("application/vnd.oci.image.config.v1+json", digest.FromString("absent"), 1), "layers": []any{}})
	e.send(http.MethodPut, "/v2/org/fresh/manifests/latest", body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	e.get("/v2/org/fresh/manifests/latest").want(t, http.StatusNotFound, "")
	e.get("/v2/org/fresh/manifests/"+string(digest.FromBytes(body))).want(t, http.StatusNotFound, "")
}

func TestPutManifestMissingBlobDetail(t *testing.T) {
	e := newEnv(t, Options{})
	doc := e.imageManifest("org/app", "x")
	missing := digest.FromString("never pushed")
	doc["layers"] = []any{descriptor("application/vnd.oci.image.layer.v1.tar", missing, 12)}
	r, _ := e.putManifest("org/app", "latest", doc)
	r.want(t, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	var eb struct {
		Errors []struct {
			Detail map[string]string `json:"detail"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Errors[0].Detail["digest"] != string(missing) {
		t.Fatalf("detail does not name the missing blob: %s", r.body)
	}
}

func TestPutManifestDigestMismatch(t *testing.T) {
	e := newEnv(t, Options{})
	body := mustJSON(t, e.imageManifest("org/app", "x"))
	for _, ref := range []string{string(digest.FromString("other")), string(digest.SHA512.FromString("other"))} {
		e.send(http.MethodPut, "/v2/org/app/manifests/"+ref, body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusBadRequest, "DIGEST_INVALID")
		e.get("/v2/org/app/manifests/"+ref).want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	}
	e.get("/v2/org/app/manifests/"+string(digest.FromBytes(body))).want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	for _, ref := range []string{"sha256:abc", "md5:abc", "sha384:" + strings.Repeat("a", 96)} {
		e.send(http.MethodPut, "/v2/org/app/manifests/"+ref, body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	}
	for _, ref := range []string{"-bad", ".bad", strings.Repeat("t", 129)} {
		e.send(http.MethodPut, "/v2/org/app/manifests/"+ref, body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusBadRequest, "TAG_INVALID")
	}
}

func TestPutManifestSparse(t *testing.T) {
	e := newEnv(t, Options{AllowSparseManifests: true})
	doc := e.imageManifest("org/app", "x")
	doc["layers"] = []any{descriptor("application/vnd.oci.image.layer.v1.tar", digest.FromString("not here"), 8)}
	r, _ := e.putManifest("org/app", "sparse", doc)
	r.want(t, http.StatusCreated, "")
	e.get("/v2/org/app/manifests/sparse").want(t, http.StatusOK, "")
}

func TestPutIndex(t *testing.T) {
	e := newEnv(t, Options{})
	child, body := e.pushImage("org/app", "amd64", "child")
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIIndex,
		"manifests": []any{
			descriptor(oci.MediaTypeOCIManifest, child, len(body)),
			// Index children need not be in the repository.
			descriptor(oci.MediaTypeOCIManifest, digest.FromString("arm64 child"), 100),
		},
	}
	r, ib := e.putManifest("org/app", "multi", index)
	r.want(t, http.StatusCreated, "")
	g := e.get("/v2/org/app/manifests/multi").want(t, http.StatusOK, "")
	if g.header.Get("Content-Type") != oci.MediaTypeOCIIndex || !bytes.Equal(g.body, ib) {
		t.Fatalf("index: %v", g.header)
	}
}

func TestGetManifestErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.pushImage("org/app", "latest", "x")
	e.get("/v2/org/none/manifests/latest").want(t, http.StatusNotFound, "NAME_UNKNOWN")
	e.get("/v2/org/app/manifests/missing").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	e.get("/v2/org/app/manifests/"+string(digest.FromString("x"))).want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	// An impossible tag cannot exist.
	e.get("/v2/org/app/manifests/-bad").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	for _, bad := range []string{"sha256:abc", "sha256:" + strings.Repeat("Z", 64), "foo:bar"} {
		e.get("/v2/org/app/manifests/"+bad).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	}
	// Stale conditional GET.
	e.get("/v2/org/app/manifests/latest", "If-None-Match", `"sha256:other"`).want(t, http.StatusOK, "")
}

func TestDeleteManifest(t *testing.T) {
	e := newEnv(t, Options{})
	d, _ := e.pushImage("org/app", "latest", "x")
	e.send(http.MethodPut, "/v2/org/app/manifests/v1", mustJSON(t, e.imageManifest("org/app", "x")), "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusCreated, "")
	e.pushImage("org/app", "other", "y")

	// By tag: only the tag goes.
	e.del("/v2/org/app/manifests/v1").want(t, http.StatusAccepted, "")
	e.get("/v2/org/app/manifests/v1").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	e.get("/v2/org/app/manifests/"+string(d)).want(t, http.StatusOK, "")
	e.del("/v2/org/app/manifests/v1").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")

	// By digest: the manifest and every tag pointing at it.
	e.del("/v2/org/app/manifests/"+string(d)).want(t, http.StatusAccepted, "")
	e.get("/v2/org/app/manifests/"+string(d)).want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	e.get("/v2/org/app/manifests/latest").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	e.get("/v2/org/app/manifests/other").want(t, http.StatusOK, "")
	e.del("/v2/org/app/manifests/"+string(d)).want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	if r := e.get("/v2/org/app/tags/list").want(t, http.StatusOK, ""); string(r.body) != `{"name":"org/app","tags":["other"]}` {
		t.Fatalf("tags %s", r.body)
	}

	e.del("/v2/org/none/manifests/latest").want(t, http.StatusNotFound, "NAME_UNKNOWN")
	e.del("/v2/org/none/manifests/"+string(d)).want(t, http.StatusNotFound, "NAME_UNKNOWN")
	e.del("/v2/org/app/manifests/-bad").want(t, http.StatusBadRequest, "TAG_INVALID")
	e.del("/v2/org/app/manifests/sha256:abc").want(t, http.StatusBadRequest, "DIGEST_INVALID")

	// Re-pushing revives the manifest.
	e.pushImage("org/app", "latest", "x")
	e.get("/v2/org/app/manifests/"+string(d)).want(t, http.StatusOK, "")
}

func TestSubjectAndReferrers(t *testing.T) {
	e := newEnv(t, Options{})
	subject, sbody := e.pushImage("org/app", "latest", "subject")
	const sbom, sig = "application/vnd.example.sbom", "application/vnd.example.signature"
	emptyCfg := e.pushBlob("org/app", []byte("{}"))
	referrer := func(at, seed string) digest.Digest {
		layer := e.pushBlob("org/app", []byte(seed))
		doc := map[string]any{
			"schemaVersion": 2,
			"mediaType":     oci.MediaTypeOCIManifest,
			"artifactType":  at,
			"config":        descriptor(oci.MediaTypeOCIEmptyJSON, emptyCfg, 2),
			"layers":        []any{descriptor("application/octet-stream", layer, len(seed))},
			"subject":       descriptor(oci.MediaTypeOCIManifest, subject, len(sbody)),
			"annotations":   map[string]string{"seed": seed},
		}
		body := mustJSON(t, doc)
		d := digest.FromBytes(body)
		r := e.send(http.MethodPut, "/v2/org/app/manifests/"+string(d), body, "Content-Type", oci.MediaTypeOCIManifest).want(t, http.StatusCreated, "")
		if r.header.Get("OCI-Subject") != string(subject) {
			t.Fatalf("OCI-Subject %q, want %s", r.header.Get("OCI-Subject"), subject)
		}
		return d
	}
	r1 := referrer(sbom, "sbom")
	r2 := referrer(sig, "sig")

	type index struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []struct {
			MediaType    string            `json:"mediaType"`
			Digest       digest.Digest     `json:"digest"`
			Size         int64             `json:"size"`
			ArtifactType string            `json:"artifactType"`
			Annotations  map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	list := func(query string) (index, *response) {
		r := e.get("/v2/org/app/referrers/"+string(subject)+query).want(t, http.StatusOK, "")
		if r.header.Get("Content-Type") != oci.MediaTypeOCIIndex {
			t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
		}
		var idx index
		if err := json.Unmarshal(r.body, &idx); err != nil || idx.SchemaVersion != 2 || idx.MediaType != oci.MediaTypeOCIIndex {
			t.Fatalf("referrers body %s: %v", r.body, err)
		}
		return idx, r
	}
	idx, r := list("")
	if len(idx.Manifests) != 2 || r.header.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("referrers %+v, filters %q", idx.Manifests, r.header.Get("OCI-Filters-Applied"))
	}
	for _, m := range idx.Manifests {
		if m.MediaType != oci.MediaTypeOCIManifest || m.Size <= 0 || m.Annotations["seed"] == "" || (m.Digest != r1 && m.Digest != r2) {
			t.Fatalf("descriptor %+v", m)
		}
	}
	idx, r = list("?artifactType=" + sbom)
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != r1 || idx.Manifests[0].ArtifactType != sbom {
		t.Fatalf("filtered referrers %+v", idx.Manifests)
	}
	if r.header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("OCI-Filters-Applied %q", r.header.Get("OCI-Filters-Applied"))
	}
	idx, _ = list("?artifactType=application/vnd.none")
	if idx.Manifests == nil || len(idx.Manifests) != 0 {
		t.Fatalf("want an empty manifests array, got %+v", idx.Manifests)
	}

	// A deleted referrer is not listed.
	e.del("/v2/org/app/manifests/"+string(r2)).want(t, http.StatusAccepted, "")
	if idx, _ = list(""); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != r1 {
		t.Fatalf("after delete: %+v", idx.Manifests)
	}

	// Unknown subjects and repositories have an empty list; bad digests are errors.
	for _, p := range []string{"/v2/org/app/referrers/" + string(digest.FromString("none")), "/v2/org/none/referrers/" + string(subject)} {
		if r := e.get(p).want(t, http.StatusOK, ""); !strings.Contains(string(r.body), `"manifests":[]`) {
			t.Fatalf("GET %s: %s", p, r.body)
		}
	}
	for _, bad := range []string{"sha256:abc", "latest", "md5:abc"} {
		e.get("/v2/org/app/referrers/"+bad).want(t, http.StatusBadRequest, "DIGEST_INVALID")
	}
}
