package registry

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var linkRe = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// paginate follows Link headers from path and returns every listed item.
func paginate(t *testing.T, e *env, path, field string) (items []string, pages int) {
	t.Helper()
	for path != "" {
		pages++
		if pages > 100 {
			t.Fatalf("pagination does not end")
		}
		r := e.get(path).want(t, http.StatusOK, "")
		var body map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("GET %s: %s: %v", path, r.body, err)
		}
		var page []string
		if err := json.Unmarshal(body[field], &page); err != nil || page == nil {
			t.Fatalf("GET %s: %q is not a list: %s", path, field, r.body)
		}
		items = append(items, page...)
		path = ""
		if link := r.header.Get("Link"); link != "" {
			m := linkRe.FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("malformed Link %q", link)
			}
			path = m[1]
		}
	}
	return items, pages
}

func TestTagsList(t *testing.T) {
	e := newEnv(t, Options{})
	tags := []string{"v1", "latest", "A", "Z", "_x", "a.b", "a-b", "a_b", "v10", "v2"}
	for i, tag := range tags {
		if i == 0 {
			e.pushImage("org/app", tag, "x")
			continue
		}
		e.send(http.MethodPut, "/v2/org/app/manifests/"+tag, mustJSON(t, e.imageManifest("org/app", "x")), "Content-Type", "application/vnd.oci.image.manifest.v1+json").want(t, http.StatusCreated, "")
	}
	want := slices.Clone(tags)
	slices.Sort(want)

	r := e.get("/v2/org/app/tags/list").want(t, http.StatusOK, "")
	var body struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Name != "org/app" || !slices.Equal(body.Tags, want) {
		t.Fatalf("tags list %s: %v", r.body, err)
	}
	if r.header.Get("Link") != "" {
		t.Fatalf("Link without n: %q", r.header.Get("Link"))
	}

	for _, n := range []int{1, 3, 4, len(want), len(want) + 1} {
		got, pages := paginate(t, e, "/v2/org/app/tags/list?n="+strconv.Itoa(n), "tags")
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: %q, want %q", n, got, want)
		}
		if min := (len(want) + n - 1) / n; pages < min {
			t.Fatalf("n=%d: %d pages", n, pages)
		}
	}
	r = e.get("/v2/org/app/tags/list?n=2").want(t, http.StatusOK, "")
	if link := r.header.Get("Link"); link != `</v2/org/app/tags/list?last=Z&n=2>; rel="next"` {
		t.Fatalf("Link %q", link)
	}
	r = e.get("/v2/org/app/tags/list?n=2&last=v10").want(t, http.StatusOK, "")
	if string(r.body) != `{"name":"org/app","tags":["v2"]}` || r.header.Get("Link") != "" {
		t.Fatalf("last page %s, Link %q", r.body, r.header.Get("Link"))
	}
	r = e.get("/v2/org/app/tags/list?n=0").want(t, http.StatusOK, "")
	if string(r.body) != `{"name":"org/app","tags":[]}` {
		t.Fatalf("n=0: %s", r.body)
	}
	r = e.get("/v2/org/app/tags/list?last=zzz").want(t, http.StatusOK, "")
	if string(r.body) != `{"name":"org/app","tags":[]}` {
		t.Fatalf("after the end: %s", r.body)
	}
	for _, n := range []string{"-1", "abc", "1.5", "99999999999999999999999"} {
		e.get("/v2/org/app/tags/list?n="+n).want(t, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID")
	}
	e.get("/v2/org/none/tags/list").want(t, http.StatusNotFound, "NAME_UNKNOWN")
	e.get("/v2/org/none/tags/list?n=0").want(t, http.StatusNotFound, "NAME_UNKNOWN")

	// A repository with no tags lists an empty array.
	e.pushBlob("org/empty", []byte("x"))
	r = e.get("/v2/org/empty/tags/list").want(t, http.StatusOK, "")
	if string(r.body) != `{"name":"org/empty","tags":[]}` {
		t.Fatalf("empty repository: %s", r.body)
	}
}

func TestCatalog(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.get("/v2/_catalog").want(t, http.StatusOK, "")
	if string(r.body) != `{"repositories":[]}` {
		t.Fatalf("empty catalog: %s", r.body)
	}
	names := []string{"org/b", "org/a", "a", "org/a-b", "org/a.b", "org/a/b", "zeta/x", "org/a_b"}
	for _, n := range names {
		e.pushBlob(n, []byte("x"))
	}
	want := slices.Clone(names)
	slices.Sort(want)

	got, _ := paginate(t, e, "/v2/_catalog", "repositories")
	if !slices.Equal(got, want) {
		t.Fatalf("catalog %q, want %q", got, want)
	}
	for _, n := range []int{1, 2, 3, len(want), len(want) + 2} {
		got, _ := paginate(t, e, "/v2/_catalog?n="+strconv.Itoa(n), "repositories")
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: %q, want %q", n, got, want)
		}
	}
	r = e.get("/v2/_catalog?n=2").want(t, http.StatusOK, "")
	link := linkRe.FindStringSubmatch(r.header.Get("Link"))
	if link == nil {
		t.Fatalf("no Link on a full page: %q", r.header.Get("Link"))
	}
	u, err := url.Parse(link[1])
	if err != nil || u.Path != "/v2/_catalog" || u.Query().Get("n") != "2" || u.Query().Get("last") != want[1] {
		t.Fatalf("Link %q", link[1])
	}
	r = e.get("/v2/_catalog?n=0").want(t, http.StatusOK, "")
	if string(r.body) != `{"repositories":[]}` || r.header.Get("Link") != "" {
		t.Fatalf("n=0: %s", r.body)
	}
	for _, n := range []string{"-5", "x", " 1"} {
		e.get("/v2/_catalog?n="+url.QueryEscape(n)).want(t, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID")
	}
}

// n is capped at MaxListPage; the Link carries the capped n.
func TestListPageCap(t *testing.T) {
	e := newEnv(t, Options{MaxListPage: 2})
	for _, n := range []string{"org/a", "org/b", "org/c"} {
		e.pushBlob(n, []byte("x"))
	}
	r := e.get("/v2/_catalog?n=1000").want(t, http.StatusOK, "")
	if string(r.body) != `{"repositories":["org/a","org/b"]}` {
		t.Fatalf("capped page %s", r.body)
	}
	if link := r.header.Get("Link"); !strings.Contains(link, "n=2") {
		t.Fatalf("Link %q", link)
	}
}
