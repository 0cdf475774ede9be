package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestLifecycleCrane drives tag lifecycle rules with the crane CLI against
// the binary: an image labelled quay.immutable=true cannot be overwritten or
// deleted (TAG_IMMUTABLE), quay.expires-after sets the tag's expiry, and a
// registry switched read-only refuses pushes (DENIED) while pulls go on.
func TestLifecycleCrane(t *testing.T) {
	srv := startServer(t)
	const adminPass = "admin-password-4e1b0"
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": adminPass, "email": "admin@example.com", "access_token": true}, 200)
	token, _ := init["access_token"].(string)
	base := srv.Host + "/admin/base:1"
	if _, err := pushRandomImage(t, base, "admin", adminPass, 1024, 1); err != nil {
		t.Fatal(err)
	}
	c := newClientRun(t, srv, "admin", adminPass)
	c.login(t, "crane", "auth", "login", srv.Host, "-u", "admin", "--password-stdin")
	fails := func(want string, args ...string) {
		t.Helper()
		out, err := c.execTool(t, clientCmdOpt{}, "crane", append([]string{"--insecure"}, args...)...)
		if err == nil {
			t.Fatalf("crane %s succeeded: %s", strings.Join(args, " "), out)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("crane %s failed without %q: %v", strings.Join(args, " "), want, err)
		}
	}

	v1 := srv.Host + "/admin/app:v1"
	c.crane(t, "mutate", base, "--label", "quay.immutable=true", "-t", v1)
	fails("TAG_IMMUTABLE", "mutate", base, "--label", "other=1", "-t", v1)
	fails("TAG_IMMUTABLE", "delete", v1)
	c.crane(t, "copy", v1, v1) // the same manifest again is fine

	c.crane(t, "mutate", base, "--label", "quay.expires-after=1d", "-t", srv.Host+"/admin/app:nightly")
	tags := apiJSON(t, srv, token, "GET", "/api/v1/repository/admin/app/tag/?specificTag=nightly", nil, 200)["tags"].([]any)
	end, _ := tags[0].(map[string]any)["end_ts"].(float64)
	if d := time.Until(time.Unix(int64(end), 0)); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("nightly expires in %s", d)
	}

	apiJSON(t, srv, token, "PUT", "/api/v1/superuser/registrystate", map[string]any{"state": "readonly"}, 200)
	fails("DENIED", "copy", base, srv.Host+"/admin/app:copy")
	fails("read-only", "delete", srv.Host+"/admin/app:nightly")
	c.crane(t, "manifest", srv.Host+"/admin/app:nightly")
	c.crane(t, "export", srv.Host+"/admin/app:nightly", "/dev/null")
	apiJSON(t, srv, token, "PUT", "/api/v1/superuser/registrystate", map[string]any{"state": "normal"}, 200)
	c.crane(t, "copy", base, srv.Host+"/admin/app:copy")
}
