package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// pushImage stores an image manifest (with its config blob) in an existing
// repository, tagged, straight in the store, and returns its digest.
func (e *testEnv) pushImage(repo, seed string, labels map[string]string, tags ...string) digest.Digest {
	e.t.Helper()
	ctx := context.Background()
	cfg := digest.FromString("config " + seed)
	if err := e.db.CommitBlob(ctx, repo, cfg, 10, ""); err != nil {
		e.t.Fatal(err)
	}
	content := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":10},"layers":[]}`,
		oci.MediaTypeOCIManifest, cfg))
	d := digest.FromBytes(content)
	if err := e.db.PutManifest(ctx, store.PutManifest{Repository: repo, Digest: d, MediaType: oci.MediaTypeOCIManifest,
		Content: content, Blobs: []digest.Digest{cfg}, Tags: tags, Labels: labels}); err != nil {
		e.t.Fatal(err)
	}
	time.Sleep(3 * time.Millisecond) // history rows order by start time
	return d
}

// tags lists the tag history (query: the query string).
func (e *testEnv) tags(repo, token, query string) []map[string]any {
	e.t.Helper()
	body := e.do("GET", "/api/v1/repository/"+repo+"/tag/?"+query, token, nil).expect(200).json()
	var out []map[string]any
	for _, v := range fxList(e.t, body["tags"], "tags") {
		out = append(out, fxMap(e.t, v, "tag"))
	}
	return out
}

// summary renders tag entries as "name>digest[+current]" with digests named.
func summary(tags []map[string]any, names map[digest.Digest]string) string {
	var out []string
	for _, tg := range tags {
		s := fmt.Sprint(tg["name"], ">", names[digest.Digest(fmt.Sprint(tg["manifest_digest"]))])
		if _, ended := tg["end_ts"]; !ended {
			s += "+current"
		}
		if tg["reversion"] == true {
			s += "+reverted"
		}
		if tg["immutable"] == true {
			s += "+immutable"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// tagFixture is an organization "acme" owned by alice with a private
// repository acme/app, a writer and a reader.
func tagFixture(t *testing.T) (e *testEnv, alice, writer, reader string) {
	e = newTestEnv(t)
	alice, writer, reader = e.user("alice", false), e.user("wendy", false), e.user("rita", false)
	e.org("acme", alice)
	e.repo("acme/app", "private", alice)
	e.do("PUT", "/api/v1/repository/acme/app/permissions/user/wendy", alice, map[string]any{"role": "write"}).expect(200)
	e.do("PUT", "/api/v1/repository/acme/app/permissions/user/rita", alice, map[string]any{"role": "read"}).expect(200)
	return e, alice, writer, reader
}

func TestTagListHistory(t *testing.T) {
	e, alice, _, reader := tagFixture(t)
	outsider := e.user("olga", false)
	d1 := e.pushImage("acme/app", "one", nil, "latest", "stable")
	d2 := e.pushImage("acme/app", "two", nil, "latest")
	names := map[digest.Digest]string{d1: "d1", d2: "d2"}

	all := e.tags("acme/app", reader, "")
	// Newest first; rows that started together by name.
	if got := summary(all, names); got != "latest>d2+current latest>d1 stable>d1+current" {
		t.Fatalf("history = %q", got)
	}
	cur, old := all[0], all[1]
	for _, k := range []string{"name", "reversion", "start_ts", "manifest_digest", "is_manifest_list", "size", "last_modified", "immutable"} {
		if _, ok := cur[k]; !ok {
			t.Fatalf("tag entry lacks %q: %v", k, cur)
		}
	}
	if _, ok := cur["expiration"]; ok {
		t.Fatalf("a current tag without expiry has an expiration: %v", cur)
	}
	if old["end_ts"] == nil || old["expiration"] == nil || old["end_ts"].(float64) < old["start_ts"].(float64) {
		t.Fatalf("ended row: %v", old)
	}
	if _, err := time.Parse(time.RFC1123Z, cur["last_modified"].(string)); err != nil {
		t.Fatalf("last_modified %q is not RFC 2822: %v", cur["last_modified"], err)
	}
	if got := summary(e.tags("acme/app", reader, "onlyActiveTags=true"), names); got != "latest>d2+current stable>d1+current" {
		t.Fatalf("active = %q", got)
	}
	if got := summary(e.tags("acme/app", reader, "specificTag=latest"), names); got != "latest>d2+current latest>d1" {
		t.Fatalf("specificTag = %q", got)
	}
	if got := summary(e.tags("acme/app", reader, "filter_tag_name=like:TAB"), names); got != "stable>d1+current" {
		t.Fatalf("like = %q", got)
	}
	if got := summary(e.tags("acme/app", reader, "filter_tag_name=eq:latest&onlyActiveTags=1"), names); got != "latest>d2+current" {
		t.Fatalf("eq = %q", got)
	}
	// Pages.
	page := e.do("GET", "/api/v1/repository/acme/app/tag/?limit=2", reader, nil).expect(200).json()
	if page["page"].(float64) != 1 || page["has_additional"] != true || len(page["tags"].([]any)) != 2 {
		t.Fatalf("page 1: %v", page)
	}
	page = e.do("GET", "/api/v1/repository/acme/app/tag/?limit=2&page=2", reader, nil).expect(200).json()
	if page["page"].(float64) != 2 || page["has_additional"] != false || len(page["tags"].([]any)) != 1 {
		t.Fatalf("page 2: %v", page)
	}
	if n := len(e.tags("acme/app", reader, "limit=1000")); n != 3 {
		t.Fatalf("limit above 100: %d tags", n)
	}
	e.do("GET", "/api/v1/repository/acme/app/tag/?filter_tag_name=regex:x", reader, nil).expect(400)
	e.do("GET", "/api/v1/repository/acme/app/tag/?page=x", reader, nil).expect(400)
	e.do("GET", "/api/v1/repository/acme/app/tag/", outsider, nil).expect(403)
	e.do("GET", "/api/v1/repository/acme/app/tag/", "", nil).expect(401)
	e.do("GET", "/api/v1/repository/acme/none/tag/", alice, nil).expect(404)
}

func TestTagChangeAndDelete(t *testing.T) {
	e, _, writer, reader := tagFixture(t)
	d1 := e.pushImage("acme/app", "one", nil)
	d2 := e.pushImage("acme/app", "two", nil)
	names := map[digest.Digest]string{d1: "d1", d2: "d2"}
	path := "/api/v1/repository/acme/app/tag/v1"

	body := e.do("PUT", path, writer, map[string]any{"manifest_digest": d1}).expect(201).body
	if strings.TrimSpace(string(body)) != `"Updated"` {
		t.Fatalf("PUT answered %s", body)
	}
	e.do("PUT", path, writer, map[string]any{"manifest_digest": d2}).expect(201)
	if got := summary(e.tags("acme/app", reader, ""), names); got != "v1>d2+current v1>d1" {
		t.Fatalf("after create and move: %q", got)
	}
	// Expiration: in the future, shown; in the past, refused; null clears.
	at := time.Now().Add(48 * time.Hour).Unix()
	e.do("PUT", path, writer, map[string]any{"expiration": at}).expect(201)
	cur := e.tags("acme/app", reader, "onlyActiveTags=true")[0]
	if cur["end_ts"].(float64) != float64(at) || cur["expiration"] == nil {
		t.Fatalf("expiry not shown: %v", cur)
	}
	e.do("PUT", path, writer, map[string]any{"expiration": time.Now().Add(-time.Hour).Unix()}).expect(400)
	e.do("PUT", path, writer, map[string]any{"expiration": "tomorrow"}).expect(400)
	e.do("PUT", path, writer, map[string]any{"expiration": nil}).expect(201)
	if cur := e.tags("acme/app", reader, "onlyActiveTags=true")[0]; cur["end_ts"] != nil {
		t.Fatalf("expiry not cleared: %v", cur)
	}
	e.do("PUT", "/api/v1/repository/acme/app/tag/missing", writer, map[string]any{"expiration": at}).expect(404)
	e.do("PUT", path, writer, map[string]any{"manifest_digest": digest.FromString("nothing")}).expect(404)
	e.do("PUT", path, writer, map[string]any{"manifest_digest": "not-a-digest"}).expect(404)
	e.do("PUT", "/api/v1/repository/acme/app/tag/"+url.PathEscape("-bad"), writer, map[string]any{"manifest_digest": d1}).expect(400)
	e.do("PUT", path, reader, map[string]any{"manifest_digest": d1}).expect(403)
	e.do("PUT", "/api/v1/repository/acme/none/tag/v1", writer, map[string]any{"manifest_digest": d1}).expect(404)

	e.do("DELETE", path, reader, nil).expect(403)
	e.do("DELETE", path, writer, nil).expect(204)
	e.do("DELETE", path, writer, nil).expect(404)
	if got := summary(e.tags("acme/app", reader, "onlyActiveTags=true"), names); got != "" {
		t.Fatalf("after delete: %q", got)
	}
}

func TestTagRestore(t *testing.T) {
	e, alice, writer, reader := tagFixture(t)
	d1 := e.pushImage("acme/app", "one", nil, "latest")
	d2 := e.pushImage("acme/app", "two", nil, "latest")
	names := map[digest.Digest]string{d1: "d1", d2: "d2"}
	restore := "/api/v1/repository/acme/app/tag/latest/restore"

	// After a move.
	e.do("POST", restore, writer, map[string]any{"manifest_digest": d1}).expect(200)
	if got := summary(e.tags("acme/app", reader, ""), names); got != "latest>d1+current+reverted latest>d2 latest>d1" {
		t.Fatalf("after restore: %q", got)
	}
	// After a delete, and after deleting the manifest by digest.
	e.do("DELETE", "/api/v1/repository/acme/app/tag/latest", writer, nil).expect(204)
	if err := e.db.DeleteManifest(context.Background(), "acme/app", d2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Millisecond)
	e.do("POST", restore, writer, map[string]any{"manifest_digest": d2}).expect(200)
	if got := summary(e.tags("acme/app", reader, "onlyActiveTags=true"), names); got != "latest>d2+current+reverted" {
		t.Fatalf("after restoring a deleted manifest: %q", got)
	}
	e.do("POST", restore, writer, map[string]any{}).expect(400)
	e.do("POST", restore, writer, map[string]any{"manifest_digest": digest.FromString("never")}).expect(404)
	e.do("POST", restore, reader, map[string]any{"manifest_digest": d1}).expect(403)

	// The namespace's window: options only; with 0s nothing ended is
	// listed or restorable.
	org := e.do("GET", "/api/v1/organization/acme", alice, nil).expect(200).json()
	if org["tag_expiration_s"].(float64) != 14*24*3600 {
		t.Fatalf("default window: %v", org["tag_expiration_s"])
	}
	e.do("PUT", "/api/v1/organization/acme", alice, map[string]any{"tag_expiration_s": 3600}).expect(400)
	e.do("PUT", "/api/v1/organization/acme", alice, map[string]any{"tag_expiration_s": -1}).expect(400)
	e.do("PUT", "/api/v1/organization/acme", writer, map[string]any{"tag_expiration_s": 0}).expect(403)
	org = e.do("PUT", "/api/v1/organization/acme", alice, map[string]any{"tag_expiration_s": 0}).expect(200).json()
	if org["tag_expiration_s"].(float64) != 0 {
		t.Fatalf("window after update: %v", org["tag_expiration_s"])
	}
	repo := e.do("GET", "/api/v1/repository/acme/app", alice, nil).expect(200).json()
	if repo["tag_expiration_s"].(float64) != 0 {
		t.Fatalf("repository view window: %v", repo["tag_expiration_s"])
	}
	if got := summary(e.tags("acme/app", reader, ""), names); got != "latest>d2+current+reverted" {
		t.Fatalf("history with a 0s window: %q", got)
	}
	e.do("POST", restore, writer, map[string]any{"manifest_digest": d1}).expect(404)
	e.do("PUT", "/api/v1/organization/acme", alice, map[string]any{"tag_expiration_s": 86400}).expect(200)
	e.do("POST", restore, writer, map[string]any{"manifest_digest": d1}).expect(200)
}

func TestTagExpireEndpoint(t *testing.T) {
	e, _, writer, reader := tagFixture(t)
	d1 := e.pushImage("acme/app", "one", nil, "a")
	d2 := e.pushImage("acme/app", "two", nil, "a")
	names := map[digest.Digest]string{d1: "d1", d2: "d2"}
	expire := "/api/v1/repository/acme/app/tag/a/expire"
	e.do("POST", expire, writer, map[string]any{}).expect(400)
	e.do("POST", expire, writer, map[string]any{"manifest_digest": d1}).expect(200)
	if got := summary(e.tags("acme/app", reader, ""), names); got != "a>d2+current" {
		t.Fatalf("after expiring history: %q", got)
	}
	e.do("POST", "/api/v1/repository/acme/app/tag/a/restore", writer, map[string]any{"manifest_digest": d1}).expect(404)
	e.do("POST", expire, writer, map[string]any{"manifest_digest": d1}).expect(404)
	e.do("POST", expire, reader, map[string]any{"is_alive": true}).expect(403)
	e.do("POST", expire, writer, map[string]any{"is_alive": true}).expect(200)
	if got := summary(e.tags("acme/app", reader, ""), names); got != "" {
		t.Fatalf("after expiring the alive tag: %q", got)
	}
	e.do("POST", expire, writer, map[string]any{"is_alive": true}).expect(404)
}

func TestTagImmutableAPI(t *testing.T) {
	e, alice, writer, reader := tagFixture(t)
	e.pushImage("acme/app", "one", nil, "v1")
	d2 := e.pushImage("acme/app", "two", map[string]string{"quay.immutable": "true"}, "v2")
	path := "/api/v1/repository/acme/app/tag/v1"

	e.do("PUT", path, writer, map[string]any{"immutable": true}).expect(201)
	for _, tg := range e.tags("acme/app", reader, "onlyActiveTags=true") {
		if tg["immutable"] != true {
			t.Fatalf("not immutable: %v", tg)
		}
	}
	res := e.do("DELETE", path, writer, nil).expect(409)
	if m := res.json(); m["error_type"] != "tag_immutable" || !strings.Contains(m["detail"].(string), `"v1"`) {
		t.Fatalf("409 body: %v", m)
	}
	e.do("PUT", path, writer, map[string]any{"manifest_digest": d2}).expect(409)
	e.do("PUT", path, writer, map[string]any{"expiration": time.Now().Add(time.Hour).Unix()}).expect(409)
	e.do("POST", path+"/expire", writer, map[string]any{"is_alive": true}).expect(409)
	e.do("POST", path+"/restore", writer, map[string]any{"manifest_digest": d2}).expect(409)
	// Setting needs write, clearing needs admin.
	e.do("PUT", path, reader, map[string]any{"immutable": true}).expect(403)
	e.do("PUT", path, writer, map[string]any{"immutable": false}).expect(403)
	e.do("PUT", path, alice, map[string]any{"immutable": false, "manifest_digest": d2}).expect(201)
	if got := e.tags("acme/app", reader, "specificTag=v1&onlyActiveTags=true")[0]; got["immutable"] != false || got["manifest_digest"] != string(d2) {
		t.Fatalf("after freeing and moving: %v", got)
	}
	// A tag with an expiry must lose it before it becomes immutable.
	e.do("PUT", path, writer, map[string]any{"expiration": time.Now().Add(time.Hour).Unix()}).expect(201)
	e.do("PUT", path, writer, map[string]any{"immutable": true}).expect(400)
	e.do("PUT", path, writer, map[string]any{"immutable": true, "expiration": nil}).expect(201)
	e.do("DELETE", "/api/v1/repository/acme/app/tag/v2", alice, nil).expect(409)
}

func TestTagAPIRepositoryReadOnly(t *testing.T) {
	e, alice, writer, reader := tagFixture(t)
	d1 := e.pushImage("acme/app", "one", nil, "latest")
	e.do("PUT", "/api/v1/repository/acme/app/changestate", alice, map[string]any{"state": "READ_ONLY"}).expect(200)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/v1/repository/acme/app/tag/other", map[string]any{"manifest_digest": d1}},
		{"DELETE", "/api/v1/repository/acme/app/tag/latest", nil},
		{"POST", "/api/v1/repository/acme/app/tag/latest/restore", map[string]any{"manifest_digest": d1}},
		{"POST", "/api/v1/repository/acme/app/tag/latest/expire", map[string]any{"is_alive": true}},
	} {
		m := e.do(c.method, c.path, writer, c.body).expect(503).json()
		if !strings.Contains(m["detail"].(string), "read-only") {
			t.Fatalf("%s %s: %v", c.method, c.path, m)
		}
	}
	// Callers without write learn nothing about the state.
	e.do("DELETE", "/api/v1/repository/acme/app/tag/latest", reader, nil).expect(403)
	if n := len(e.tags("acme/app", reader, "")); n != 1 {
		t.Fatalf("reads stopped: %d tags", n)
	}
	e.do("PUT", "/api/v1/repository/acme/app/changestate", alice, map[string]any{"state": "NORMAL"}).expect(200)
	e.do("DELETE", "/api/v1/repository/acme/app/tag/latest", writer, nil).expect(204)
}

// tagEntry finds a tag in a list response body.
func tagEntry(t *testing.T, body []byte, name string) map[string]any {
	t.Helper()
	var resp struct {
		Tags []map[string]any `json:"tags"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	for _, tg := range resp.Tags {
		if tg["name"] == name {
			return tg
		}
	}
	return nil
}

func TestTagLabelExpiryShown(t *testing.T) {
	e, _, _, reader := tagFixture(t)
	e.pushImage("acme/app", "one", map[string]string{"quay.expires-after": "1d"}, "nightly")
	tg := tagEntry(t, e.do("GET", "/api/v1/repository/acme/app/tag/?onlyActiveTags=true", reader, nil).expect(200).body, "nightly")
	if tg == nil {
		t.Fatal("tag not listed")
	}
	if d := time.Until(time.Unix(int64(tg["end_ts"].(float64)), 0)); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("label expiry in %s: %v", d, tg)
	}
}
