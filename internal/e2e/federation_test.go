package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/oidctest"
)

// fedCall sends a request and returns the status and body.
func fedCall(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// fedExchange trades an external token for a robot token, as the docs show:
//
//	curl --user ORG+ROBOT:$(cat token) http://HOST/oauth2/federation/robot/token
//
// with curl when it is installed, else with net/http.
func fedExchange(t *testing.T, srv *server, robot, external string) (int, map[string]string) {
	t.Helper()
	url := srv.URL + "/oauth2/federation/robot/token"
	var status int
	var body []byte
	if curl, err := exec.LookPath("curl"); err == nil {
		tokFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokFile, []byte(external), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), "sh", "-c", `"$CURL" -sS -w '\n%{http_code}' --user "$ROBOT:$(cat "$TOKEN_FILE")" "$URL"`)
		cmd.Env = append(os.Environ(), "CURL="+curl, "ROBOT="+robot, "TOKEN_FILE="+tokFile, "URL="+url)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		i := bytes.LastIndexByte(out, '\n')
		if i < 0 {
			t.Fatalf("curl output %q", out)
		}
		body = out[:i]
		if status, err = strconv.Atoi(strings.TrimSpace(string(out[i+1:]))); err != nil {
			t.Fatalf("curl status %q", out[i+1:])
		}
	} else {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(robot, external)
		status, body = fedCall(t, req)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("exchange answered %d with a body that is not a JSON object of strings: %s", status, body)
	}
	return status, m
}

// TestFederationRobotLogin is the keyless robot journey: an in-process OIDC
// issuer (TLS, its own CA, which the server trusts through
// FEDERATION_CA_FILE) signs a workload's token; the organization admin lets
// the robot trust that issuer and subject through the API; the workload
// exchanges its token for a robot token and logs skopeo in with it. The
// robot's permissions apply: it pulls with read, its push is refused until
// write is granted.
func TestFederationRobotLogin(t *testing.T) {
	iss := oidctest.New(t)
	srv := startServerEnv(t, []string{"WHARF_FEDERATION_CA_FILE=" + iss.WriteCAFile(t)})
	const adminPass = "admin-password-fed-41c2"
	const robotName = "fedorg+builder"
	const subject = "repo:fedorg/app:ref:refs/heads/main"
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": adminPass, "email": "admin@example.com", "access_token": true}, 200)
	admin, _ := init["access_token"].(string)
	apiJSON(t, srv, admin, "POST", "/api/v1/organization/", map[string]any{"name": "fedorg", "email": "fedorg@example.com"}, 201)
	robot := apiJSON(t, srv, admin, "PUT", "/api/v1/organization/fedorg/robots/builder", map[string]any{}, 201)
	staticToken, _ := robot["token"].(string)

	// The admin pushes fedorg/app:1; the robot may read it.
	img, err := pushRandomImage(t, srv.Host+"/fedorg/app:1", "admin", adminPass, 2048, 2)
	if err != nil {
		t.Fatalf("admin push: %v", err)
	}
	want, _ := img.Digest()
	apiJSON(t, srv, admin, "PUT", "/api/v1/repository/fedorg/app/permissions/user/"+robotName, map[string]any{"role": "read"}, 200)

	// Before the robot trusts the issuer, the exchange is refused.
	external := iss.Token(t, oidctest.Claims{"sub": subject, "aud": "wharf"})
	if status, body := fedExchange(t, srv, robotName, external); status != 401 || body["error"] == "" {
		t.Fatalf("exchange without federation: %d %v", status, body)
	}
	// Configure federation through the API.
	cfg, _ := json.Marshal([]map[string]string{{"issuer": iss.URL(), "subject": subject}})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/api/v1/organization/fedorg/robots/builder/federation", bytes.NewReader(cfg))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	if status, body := fedCall(t, req); status != 200 || !strings.Contains(string(body), iss.URL()) {
		t.Fatalf("configure federation: %d %s", status, body)
	}

	// Wrong subject: 401 with a reason.
	if status, body := fedExchange(t, srv, robotName, iss.Token(t, oidctest.Claims{"sub": "repo:fedorg/app:ref:refs/heads/evil"})); status != 401 || !strings.Contains(body["error"], "subject") {
		t.Fatalf("exchange with a wrong subject: %d %v", status, body)
	}
	status, body := fedExchange(t, srv, robotName, external)
	token := body["token"]
	if status != 200 || strings.Count(token, ".") != 2 {
		t.Fatalf("exchange: %d %v", status, body)
	}

	// The robot token is the robot's password, and only that robot's.
	c := newClientRun(t, srv, robotName, token)
	if out, err := c.execTool(t, clientCmdOpt{}, "skopeo", "login", "--tls-verify=false", "--username", "fedorg+other", "--password", token, srv.Host); err == nil {
		t.Fatalf("the token logged in as another robot: %s", out)
	}
	c.run(t, "skopeo", "login", "--tls-verify=false", "--username", robotName, "--password", token, srv.Host)
	src := "docker://" + srv.Host + "/fedorg/app:1"
	c.run(t, "skopeo", "copy", "--src-tls-verify=false", src, "oci:"+filepath.Join(c.work, "pulled")+":app")
	if got := strings.TrimSpace(string(c.run(t, "skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", src))); got != want.String() {
		t.Fatalf("pulled digest %s, want %s", got, want)
	}

	// Read only: the push is refused.
	dst := "docker://" + srv.Host + "/fedorg/app:federated"
	out, err := c.execTool(t, clientCmdOpt{}, "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, dst)
	if err == nil {
		t.Fatalf("a read-only federated robot pushed: %s", out)
	}
	if low := strings.ToLower(err.Error()); !strings.Contains(low, "denied") && !strings.Contains(low, "unauthorized") {
		t.Fatalf("push refused without saying why: %v", err)
	}

	// With write, the same token pushes.
	apiJSON(t, srv, admin, "PUT", "/api/v1/repository/fedorg/app/permissions/user/"+robotName, map[string]any{"role": "write"}, 200)
	c.run(t, "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, dst)
	if got := strings.TrimSpace(string(c.run(t, "skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", dst))); got != want.String() {
		t.Fatalf("pushed tag digest %s, want %s", got, want)
	}

	// The exchange is logged; no token or secret is.
	log := srv.Log()
	if !strings.Contains(log, "federated_robot_token_exchange") {
		t.Error("the server log has no federated_robot_token_exchange record")
	}
	for what, secret := range map[string]string{"external token": external, "robot token": token,
		"static robot token": staticToken, "admin password": adminPass, "OAuth token": admin} {
		if strings.Contains(log, secret) {
			t.Errorf("the server log contains the %s", what)
		}
	}
}
