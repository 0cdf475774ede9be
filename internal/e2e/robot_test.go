package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushRandomImage writes a random image of layers layers of size bytes each
// to ref (HOST/REPO:TAG) as user, and returns it and the push's error.
func pushRandomImage(t *testing.T, ref, user, pass string, size int64, layers int) (v1.Image, error) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img, remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: user, Password: pass}), remote.WithContext(t.Context()))
}

// apiJSON calls the REST API with a bearer token and decodes the answer.
func apiJSON(t *testing.T, srv *server, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	out := map[string]any{}
	if len(bytes.TrimSpace(b)) > 0 {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// TestRobotLogin follows the robot account journey with podman and
// skopeo: a robot with read on org/httpd logs in and pulls; its push is
// refused; once write is granted through the API, a fresh login pushes. At
// the end the server's log must not contain any secret used on the way.
func TestRobotLogin(t *testing.T) {
	srv := startServer(t)
	const adminPass = "admin-password-7f3c9"
	// Bootstrap over HTTP on the empty database.
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": adminPass, "email": "admin@example.com", "access_token": true}, 200)
	token, _ := init["access_token"].(string)
	if token == "" {
		t.Fatalf("initialize returned no access token: %v", init)
	}
	apiJSON(t, srv, token, "POST", "/api/v1/organization/", map[string]any{"name": "org", "email": "org@example.com"}, 201)
	robot := apiJSON(t, srv, token, "PUT", "/api/v1/organization/org/robots/deployer", map[string]any{"description": "CI"}, 201)
	robotName, _ := robot["name"].(string)
	robotToken, _ := robot["token"].(string)
	if robotName != "org+deployer" || len(robotToken) != 64 {
		t.Fatalf("robot view: name %q, token of %d characters", robotName, len(robotToken))
	}

	// The admin pushes org/httpd:1 (a random image).
	img, err := pushRandomImage(t, srv.Host+"/org/httpd:1", "admin", adminPass, 2048, 2)
	if err != nil {
		t.Fatalf("admin push: %v", err)
	}
	want, _ := img.Digest()
	apiJSON(t, srv, token, "PUT", "/api/v1/repository/org/httpd/permissions/user/org+deployer", map[string]any{"role": "read"}, 200)

	c := newClientRun(t, srv, robotName, robotToken)
	c.login(t, "podman", append(c.podmanFlags(), "login", "--tls-verify=false", "-u", robotName, "--password-stdin", srv.Host)...)
	c.podman(t, "pull", "--tls-verify=false", srv.Host+"/org/httpd:1")
	out := c.podman(t, "images", "--digests", "--format", "{{.Digest}}", srv.Host+"/org/httpd:1")
	if !strings.Contains(string(out), want.String()) {
		t.Fatalf("podman pulled %q, want digest %s", out, want)
	}

	// Read only: pushing is refused.
	c.login(t, "skopeo", "login", "--tls-verify=false", "-u", robotName, "--password-stdin", srv.Host)
	src := "docker://" + srv.Host + "/org/httpd:1"
	dst := "docker://" + srv.Host + "/org/httpd:robot"
	out, err = c.execTool(t, clientCmdOpt{}, "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, dst)
	if err == nil {
		t.Fatalf("a read-only robot pushed: %s", out)
	}
	msg := err.Error() // carries the client's stderr
	low := strings.ToLower(msg)
	if !strings.Contains(low, "denied") && !strings.Contains(low, "unauthorized") {
		t.Fatalf("push refused without saying why: %s", msg)
	}
	t.Logf("read-only push refused: %s", msg)

	// Grant write through the API; a fresh login pushes.
	apiJSON(t, srv, token, "PUT", "/api/v1/repository/org/httpd/permissions/user/org+deployer", map[string]any{"role": "write"}, 200)
	c.run(t, "skopeo", "logout", "--all")
	c.login(t, "skopeo", "login", "--tls-verify=false", "-u", robotName, "--password-stdin", srv.Host)
	c.run(t, "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, dst)
	out = c.run(t, "skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", dst)
	if strings.TrimSpace(string(out)) != want.String() {
		t.Fatalf("pushed tag digest %q, want %s", out, want)
	}

	// No secret reached the log.
	log := srv.Log()
	for what, secret := range map[string]string{"admin password": adminPass, "robot token": robotToken, "OAuth token": token} {
		if strings.Contains(log, secret) {
			t.Errorf("the server log contains the %s", what)
		}
	}
}
