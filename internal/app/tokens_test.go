package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func (f *fixture) token(role, scope string) string {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/v2/auth?scope="+scope, nil)
	if c := f.creds[role]; c[0] != "" {
		req.SetBasicAuth(c[0], c[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		f.t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	if tok.ExpiresIn < 3500 || tok.ExpiresIn > 3600 {
		f.t.Fatalf("expires_in = %d", tok.ExpiresIn)
	}
	return tok.Token
}

func (f *fixture) withToken(method, path, tok string) (int, http.Header) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestRegistryTokens(t *testing.T) {
	f := newFixture(t, core.VisibilityPrivate, true)
	f.pushImage(matrixRepo, "latest", "base")
	ctx := context.Background()
	admin, _ := f.app.db.User(ctx, "orgadmin")
	if _, err := f.app.db.CreateRepository(ctx, store.NewRepository{FullName: "acme/other", Visibility: "private", CreatorID: admin.ID}); err != nil {
		t.Fatal(err)
	}

	// A reader asking for pull and push gets pull only (silently down-scoped).
	tok := f.token("team member (read)", "repository:"+matrixRepo+":pull,push")
	c, err := f.app.keys.Verify(ctx, tok, strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Allows("repository", matrixRepo, "pull") || c.Allows("repository", matrixRepo, "push") {
		t.Fatalf("access = %+v, want pull only", c.Access)
	}
	if st, _ := f.withToken("GET", "/v2/"+matrixRepo+"/tags/list", tok); st != 200 {
		t.Fatalf("pull with token: %d", st)
	}
	// Push with that token: the reader may not push at all -> 403 DENIED.
	if st, _ := f.withToken("POST", "/v2/"+matrixRepo+"/blobs/uploads/", tok); st != 403 {
		t.Fatalf("push with a pull token: %d, want 403", st)
	}
	// The same token on another repository the reader may not read: 403.
	if st, _ := f.withToken("GET", "/v2/acme/other/tags/list", tok); st != 403 {
		t.Fatalf("token for another, forbidden repository: %d, want 403", st)
	}
	// Once the reader may read it, the old token earns a 401 challenge for
	// the new repository's scope (the client fetches a token for it).
	if err := f.app.db.SetUserPermission(ctx, "acme/other", "reader", core.RoleRead); err != nil {
		t.Fatal(err)
	}
	st, h := f.withToken("GET", "/v2/acme/other/tags/list", tok)
	if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `scope="repository:acme/other:pull"`) {
		t.Fatalf("token for another repository: %d %q", st, h.Get("WWW-Authenticate"))
	}
	// A write robot with a pull-only token is asked for a new token (401),
	// not denied: it may push.
	robotPull := f.token("write robot", "repository:"+matrixRepo+":pull")
	if st, _ := f.withToken("POST", "/v2/"+matrixRepo+"/blobs/uploads/", robotPull); st != 401 {
		t.Fatalf("push with a too-narrow token: %d, want 401", st)
	}
	// A token for another audience (registry) is refused.
	other, _, err := f.app.keys.Issue(ctx, "orgadmin", "other-registry.example.com",
		[]auth.ResourceAccess{{Type: "repository", Name: matrixRepo, Actions: []string{"pull"}}}, auth.TokenContext{Version: 2, EntityKind: "user"})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.withToken("GET", "/v2/"+matrixRepo+"/tags/list", other); st != 401 {
		t.Fatalf("token for another audience: %d, want 401", st)
	}
	// Wrong password: 401 from the token service.
	req, _ := http.NewRequest("GET", f.srv.URL+"/v2/auth?scope=repository:"+matrixRepo+":pull", nil)
	req.SetBasicAuth("reader", "wrong-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	// /v2/ without credentials: 401 with a Bearer challenge.
	resp, err = http.Get(f.srv.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer realm=") {
		t.Fatalf("/v2/ anonymous: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
