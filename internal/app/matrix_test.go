package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// fixture is a running app with the matrix's cast of callers.
type fixture struct {
	t     *testing.T
	app   *App
	srv   *httptest.Server
	creds map[string][2]string // role -> username, password ("" for anonymous)
	api   map[string]string    // role -> OAuth token ("" for none)
}

const matrixRepo = "acme/app"

func newFixture(t *testing.T, visibility string, anonymous bool) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.AnonymousAccess = anonymous
	cfg.SuperUsers = []string{"root"}
	cfg.SuperusersFullAccess = true
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	f := &fixture{t: t, app: a, srv: srv, creds: map[string][2]string{}, api: map[string]string{}}

	mkUser := func(role, name string) core.User {
		pw := "pw-" + name + "-0123"
		if _, err := a.CreateUser(ctx, name, name+"@example.com", pw, false); err != nil {
			t.Fatal(err)
		}
		u, err := a.db.User(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		f.creds[role] = [2]string{name, pw}
		tok, prefix, secret := auth.NewSplitToken()
		if _, err := a.db.CreateOAuthToken(ctx, 0, u.ID, prefix, auth.HashSecret(secret), strings.Join(auth.AllScopes, " "), time.Time{}); err != nil {
			t.Fatal(err)
		}
		f.api[role] = tok
		return u
	}
	admin := mkUser("org admin", "orgadmin")
	mkUser("superuser", "root")
	mkUser("other org user", "outsider")
	reader := mkUser("team member (read)", "reader")
	creator := mkUser("team creator", "creator")
	mkUser("repo admin", "repoadmin")
	f.creds["anonymous"] = [2]string{}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = a.db.CreateOrganization(ctx, "acme", "acme@example.com", admin.ID)
	must(err)
	out, err := a.db.User(ctx, "outsider")
	must(err)
	_, err = a.db.CreateOrganization(ctx, "other", "other@example.com", out.ID)
	must(err)
	_, err = a.db.CreateRepository(ctx, store.NewRepository{FullName: matrixRepo, Visibility: visibility, CreatorID: admin.ID})
	must(err)
	_, err = a.db.PutTeam(ctx, "acme", "readers", core.TeamMember, "")
	must(err)
	must(a.db.AddTeamMember(ctx, "acme", "readers", reader.Username))
	must(a.db.SetTeamPermission(ctx, matrixRepo, "readers", core.RoleRead))
	_, err = a.db.PutTeam(ctx, "acme", "creators", core.TeamCreator, "")
	must(err)
	must(a.db.AddTeamMember(ctx, "acme", "creators", creator.Username))
	must(a.db.SetUserPermission(ctx, matrixRepo, "repoadmin", core.RoleAdmin))
	for role, short := range map[string]string{"read robot": "reader", "write robot": "writer"} {
		tok := auth.NewRobotToken()
		enc, err := a.box.Seal(tok)
		must(err)
		_, err = a.db.CreateRobot(ctx, "acme", short, enc, "", "")
		must(err)
		f.creds[role] = [2]string{"acme+" + short, tok}
	}
	must(a.db.SetUserPermission(ctx, matrixRepo, "acme+reader", core.RoleRead))
	must(a.db.SetUserPermission(ctx, matrixRepo, "acme+writer", core.RoleWrite))
	return f
}

// registry performs a /v2/ request the way Docker clients do: on a 401
// challenge it fetches a token for the challenged scope with the caller's
// Basic credentials and retries once.
func (f *fixture) registry(role, method, path string, body []byte, contentType string) (int, http.Header, []byte) {
	f.t.Helper()
	send := func(token string) *http.Response {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, f.srv.URL+path, rd)
		if err != nil {
			f.t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		return resp
	}
	resp := send("")
	if resp.StatusCode == http.StatusUnauthorized {
		ch := resp.Header.Get("WWW-Authenticate")
		resp.Body.Close()
		scope := challengeParam(ch, "scope")
		q := url.Values{"service": {challengeParam(ch, "service")}}
		if scope != "" {
			q.Set("scope", scope)
		}
		req, _ := http.NewRequest("GET", f.srv.URL+"/v2/auth?"+q.Encode(), nil)
		if c := f.creds[role]; c[0] != "" {
			req.SetBasicAuth(c[0], c[1])
		}
		tr, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		var tok struct{ Token string }
		_ = json.NewDecoder(tr.Body).Decode(&tok)
		tr.Body.Close()
		if tr.StatusCode != 200 {
			f.t.Fatalf("%s: token request for %q: %d", role, scope, tr.StatusCode)
		}
		resp = send(tok.Token)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		f.t.Fatalf("%s %s %s: %d %s", role, method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, b
}

func challengeParam(h, key string) string {
	i := strings.Index(h, key+`="`)
	if i < 0 {
		return ""
	}
	rest := h[i+len(key)+2:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

func (f *fixture) apiCall(role, method, path string, body any) int {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if tok := f.api[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		f.t.Fatalf("%s %s %s: %d %s", role, method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// pushImage uploads a config blob and puts a manifest as the org admin
// (setup, not a matrix cell) and returns the manifest digest.
func (f *fixture) pushImage(repo, tag, salt string) string {
	f.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","salt":"` + salt + `"}`)
	cd := fmt.Sprintf("sha256:%x", sha256.Sum256(cfg))
	if st, _, b := f.registry("org admin", "POST", "/v2/"+repo+"/blobs/uploads/?digest="+cd, cfg, "application/octet-stream"); st != 201 {
		f.t.Fatalf("setup blob push: %d %s", st, b)
	}
	m := manifestFor(cd, len(cfg), "")
	if st, _, b := f.registry("org admin", "PUT", "/v2/"+repo+"/manifests/"+tag, m, "application/vnd.oci.image.manifest.v1+json"); st != 201 {
		f.t.Fatalf("setup manifest push: %d %s", st, b)
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(m))
}

func manifestFor(configDigest string, size int, subject string) []byte {
	s := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		configDigest + `","size":` + fmt.Sprint(size) + `},"layers":[]`
	if subject != "" {
		s += `,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subject + `","size":1}`
	}
	return []byte(s + `}`)
}

var matrixRoles = []string{"anonymous", "other org user", "read robot", "write robot", "team member (read)", "team creator", "repo admin", "org admin", "superuser"}

// ownNamespace is where a caller may create a repository to mount into.
func ownNamespace(f *fixture, role string) string {
	switch role {
	case "anonymous", "read robot", "write robot":
		return ""
	}
	return f.creds[role][0]
}

type cell struct {
	op   string
	run  func(f *fixture, role string) bool // reports whether the operation was allowed
	want func(role string, public, anonymous bool) bool
}

var (
	readers = []string{"read robot", "write robot", "team member (read)", "repo admin", "org admin", "superuser"}
	writers = []string{"write robot", "repo admin", "org admin", "superuser"}
	admins  = []string{"repo admin", "org admin", "superuser"}
)

func canRead(role string, public, anon bool) bool {
	if slices.Contains(readers, role) {
		return true
	}
	if public {
		return role != "anonymous" || anon
	}
	return false
}

func canWrite(role string, _, _ bool) bool { return slices.Contains(writers, role) }

var cells = []cell{
	{"pull", func(f *fixture, role string) bool {
		st, _, _ := f.registry(role, "GET", "/v2/"+matrixRepo+"/manifests/latest", nil, "")
		return st == 200
	}, canRead},
	{"push new tag", func(f *fixture, role string) bool {
		cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
		cd := fmt.Sprintf("sha256:%x", sha256.Sum256(cfg))
		st, _, _ := f.registry(role, "POST", "/v2/"+matrixRepo+"/blobs/uploads/?digest="+cd, cfg, "application/octet-stream")
		if st != 201 {
			return false
		}
		st, _, _ = f.registry(role, "PUT", "/v2/"+matrixRepo+"/manifests/new-"+strings.ReplaceAll(role, " ", "-")[:3], manifestFor(cd, len(cfg), ""), "application/vnd.oci.image.manifest.v1+json")
		return st == 201
	}, canWrite},
	{"overwrite tag", func(f *fixture, role string) bool {
		cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
		cd := fmt.Sprintf("sha256:%x", sha256.Sum256(cfg))
		f.registry("org admin", "POST", "/v2/"+matrixRepo+"/blobs/uploads/?digest="+cd, cfg, "application/octet-stream")
		st, _, _ := f.registry(role, "PUT", "/v2/"+matrixRepo+"/manifests/overwrite", manifestFor(cd, len(cfg), ""), "application/vnd.oci.image.manifest.v1+json")
		return st == 201
	}, canWrite},
	{"delete tag", func(f *fixture, role string) bool {
		f.pushImage(matrixRepo, "deleteme", "del-"+role)
		st, _, _ := f.registry(role, "DELETE", "/v2/"+matrixRepo+"/manifests/deleteme", nil, "")
		return st == 202
	}, canWrite},
	{"delete manifest", func(f *fixture, role string) bool {
		d := f.pushImage(matrixRepo, "deldigest", "dig-"+role)
		st, _, _ := f.registry(role, "DELETE", "/v2/"+matrixRepo+"/manifests/"+d, nil, "")
		return st == 202
	}, canWrite},
	{"list tags", func(f *fixture, role string) bool {
		st, _, _ := f.registry(role, "GET", "/v2/"+matrixRepo+"/tags/list", nil, "")
		return st == 200
	}, canRead},
	{"referrers", func(f *fixture, role string) bool {
		st, _, _ := f.registry(role, "GET", "/v2/"+matrixRepo+"/referrers/"+f.latest(), nil, "")
		return st == 200
	}, canRead},
	{"catalog lists repo", func(f *fixture, role string) bool {
		st, _, b := f.registry(role, "GET", "/v2/_catalog", nil, "")
		return st == 200 && strings.Contains(string(b), `"`+matrixRepo+`"`)
	}, func(role string, public, anon bool) bool { return role != "anonymous" && canRead(role, public, anon) }},
	{"mount into own repo", func(f *fixture, role string) bool {
		ns := ownNamespace(f, role)
		if ns == "" {
			return false
		}
		d := f.configDigest()
		st, _, _ := f.registry(role, "POST", "/v2/"+ns+"/mnt/blobs/uploads/?mount="+d+"&from="+matrixRepo, nil, "")
		return st == 201
	}, func(role string, public, anon bool) bool {
		return role != "read robot" && role != "write robot" && canRead(role, public, anon) && role != "anonymous"
	}},
	{"API read repo", func(f *fixture, role string) bool {
		return f.apiCall(role, "GET", "/api/v1/repository/"+matrixRepo, nil) == 200
	}, func(role string, public, anon bool) bool {
		if strings.Contains(role, "robot") {
			// Robots have no API credentials: they call as anonymous.
			return canRead("anonymous", public, anon)
		}
		return canRead(role, public, anon)
	}},
	{"API change permissions", func(f *fixture, role string) bool {
		st := f.apiCall(role, "PUT", "/api/v1/repository/"+matrixRepo+"/permissions/user/outsider", map[string]string{"role": "read"})
		if st == 200 {
			f.apiCall("org admin", "DELETE", "/api/v1/repository/"+matrixRepo+"/permissions/user/outsider", nil)
		}
		return st == 200
	}, func(role string, _, _ bool) bool { return slices.Contains(admins, role) }},
	{"API create robot", func(f *fixture, role string) bool {
		name := "bot" + fmt.Sprint(len(role))
		st := f.apiCall(role, "PUT", "/api/v1/organization/acme/robots/"+name, map[string]string{"description": "x"})
		if st == 201 {
			f.apiCall("org admin", "DELETE", "/api/v1/organization/acme/robots/"+name, nil)
		}
		return st == 201
	}, func(role string, _, _ bool) bool { return role == "org admin" || role == "superuser" }},
}

func (f *fixture) latest() string {
	st, h, _ := f.registry("org admin", "HEAD", "/v2/"+matrixRepo+"/manifests/latest", nil, "")
	if st != 200 {
		f.t.Fatalf("HEAD latest: %d", st)
	}
	return h.Get("Docker-Content-Digest")
}

func (f *fixture) configDigest() string {
	cfg := []byte(`{"architecture":"amd64","os":"linux","salt":"base"}`)
	return fmt.Sprintf("sha256:%x", sha256.Sum256(cfg))
}

// TestAuthorizationMatrix asserts allow or deny for every caller and
// operation, on a public and a private repository, with anonymous access on
// and off.
func TestAuthorizationMatrix(t *testing.T) {
	for _, visibility := range []string{core.VisibilityPrivate, core.VisibilityPublic} {
		for _, anon := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/anonymous=%v", visibility, anon), func(t *testing.T) {
				f := newFixture(t, visibility, anon)
				f.pushImage(matrixRepo, "latest", "base")
				public := visibility == core.VisibilityPublic
				for _, role := range matrixRoles {
					for _, c := range cells {
						got := c.run(f, role)
						want := c.want(role, public, anon)
						if got != want {
							t.Errorf("%-20s %-24s allowed=%v, want %v", role, c.op, got, want)
						}
					}
				}
			})
		}
	}
}
