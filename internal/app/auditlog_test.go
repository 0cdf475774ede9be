package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/oidctest"
	"github.com/wharfhq/wharf/internal/smtptest"
	"github.com/wharfhq/wharf/internal/store"
)

// auditLog reads the entries written since the last read, oldest first.
type auditLog struct {
	t    *testing.T
	s    *notifyServer
	last int64
}

func (l *auditLog) fresh() []core.AuditEntry {
	l.t.Helper()
	l.s.a.pulls.Flush(l.t.Context())
	f := store.AuditFilter{Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour), Limit: 500}
	var all []core.AuditEntry
	for {
		page, next, err := l.s.a.db.AuditLogs(l.t.Context(), f)
		if err != nil {
			l.t.Fatal(err)
		}
		all = append(all, page...)
		if next == nil {
			break
		}
		f.After = next
	}
	var out []core.AuditEntry
	for _, e := range all {
		if e.ID > l.last {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b core.AuditEntry) int { return int(a.ID - b.ID) })
	if len(out) > 0 {
		l.last = out[len(out)-1].ID
	}
	return out
}

// want is the one entry an action must write.
type want struct {
	kind      string
	performer string // "" for none
	namespace string
	repo      string
	meta      map[string]any // keys that must have these values (as JSON decodes them)
}

// auditPush pushes a random image with alice's password and returns its
// digest.
func auditPush(t *testing.T, s *notifyServer, ref string) string {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(s.host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"})); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// rawCall sends a request with Basic credentials and answers the status.
func rawCall(t *testing.T, method, u, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Every audited action, performed through the HTTP API or the registry,
// writes exactly one entry with its kind, performer, namespace, repository
// and metadata (the token requests of registry clients add their own
// login_success entries, which steps that are not logins ignore).
func TestAuditLogActions(t *testing.T) {
	iss := oidctest.New(t)
	caFile := iss.WriteCAFile(t)
	sink := smtptest.Start(t, smtptest.Options{})
	mailHost, mailPort, _ := net.SplitHostPort(sink.Addr)
	s := startNotifyServer(t, func(c *config.Config) {
		c.SuperUsers, c.FederationCAFile = []string{"root"}, caFile
		c.MailServer, c.MailPort = mailHost, atoi(t, mailPort)
	})
	ctx := t.Context()
	for _, u := range []string{"bob", "root"} {
		if _, err := s.a.CreateUser(ctx, u, u+"@example.com", u+"-password", false); err != nil {
			t.Fatal(err)
		}
	}
	alice, root := apiToken(t, s.a, "alice"), apiToken(t, s.a, "root")
	log := &auditLog{t: t, s: s}
	log.fresh()
	ids := map[string]string{} // uuids and ids created by earlier steps
	digests := map[string]string{}
	repoPath := "/api/v1/repository/acme/app"

	steps := []struct {
		name string
		do   func()
		want want
	}{
		{"docker login", func() {
			if c := rawCall(t, "GET", s.base+"/v2/auth?service="+s.host+"&scope=repository:alice/x:pull", "alice", "alice-password"); c != 200 {
				t.Fatalf("token: %d", c)
			}
		}, want{core.LogLoginSuccess, "alice", "alice", "", map[string]any{"type": "v2auth", "username": "alice"}}},
		{"docker login failure", func() {
			if c := rawCall(t, "GET", s.base+"/v2/auth?service="+s.host, "alice", "wrong-password"); c != 401 {
				t.Fatalf("token: %d", c)
			}
		}, want{core.LogLoginFailure, "", "alice", "", map[string]any{"type": "v2auth", "username": "alice"}}},
		{"sign in", func() {
			s.call("", "POST", "/api/v1/signin", map[string]any{"username": "alice", "password": "alice-password"}, 200)
		}, want{core.LogLoginSuccess, "alice", "alice", "", map[string]any{"type": "quayauth"}}},
		{"sign in failure", func() {
			s.call("", "POST", "/api/v1/signin", map[string]any{"username": "alice", "password": "nope"}, 403)
		}, want{core.LogLoginFailure, "", "alice", "", map[string]any{"username": "alice"}}},
		{"create organization", func() {
			s.call(alice, "POST", "/api/v1/organization/", map[string]any{"name": "acme", "email": "ops@acme.example"}, 201)
		}, want{core.LogOrgCreate, "alice", "acme", "", nil}},
		{"create repository", func() {
			s.call(alice, "POST", "/api/v1/repository", map[string]any{"namespace": "acme", "repository": "app", "visibility": "private", "description": ""}, 201)
		}, want{core.LogCreateRepo, "alice", "acme", "app", map[string]any{"visibility": "private"}}},
		{"export logs by email", func() {
			id, _ := s.call(alice, "POST", "/api/v1/organization/acme/exportlogs", map[string]any{"callback_email": "audit@acme.example"}, 200)["export_id"].(string)
			waitFor(t, "the export email", func() bool { return len(sink.Messages()) == 1 })
			m := sink.Messages()[0]
			if len(m.To) != 1 || m.To[0] != "audit@acme.example" || !strings.Contains(m.Data, "export-"+id+".json") {
				t.Fatalf("export email to %v: %.300s", m.To, m.Data)
			}
			waitFor(t, "export_logs_success", func() bool {
				es, _, err := s.a.db.AuditLogs(t.Context(), store.AuditFilter{Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour),
					Kinds: []string{core.LogExportLogsSuccess}})
				return err == nil && len(es) == 1
			})
		}, want{core.LogExportLogsSuccess, "alice", "acme", "", map[string]any{"callback_email": "audit@acme.example"}}},
		{"change organization email", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme", map[string]any{"email": "team@acme.example"}, 200)
		}, want{core.LogOrgChangeEmail, "alice", "acme", "", map[string]any{"email": "team@acme.example"}}},
		{"change organization time machine", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme", map[string]any{"tag_expiration_s": 86400}, 200)
		}, want{core.LogOrgChangeTagExpiration, "alice", "acme", "", map[string]any{"tag_expiration": float64(86400)}}},
		{"create application", func() {
			ids["app"], _ = s.call(alice, "POST", "/api/v1/organization/acme/applications", map[string]any{"name": "ci"}, 200)["client_id"].(string)
		}, want{core.LogCreateApplication, "alice", "acme", "", map[string]any{"application_name": "ci"}}},
		{"update application", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme/applications/"+ids["app"], map[string]any{"name": "ci2", "redirect_uri": "",
				"application_uri": "", "description": ""}, 200)
		}, want{core.LogUpdateApplication, "alice", "acme", "", map[string]any{"application_name": "ci2"}}},
		{"delete application", func() { s.call(alice, "DELETE", "/api/v1/organization/acme/applications/"+ids["app"], nil, 204) },
			want{core.LogDeleteApplication, "alice", "acme", "", map[string]any{"application_name": "ci2"}}},
		{"push", func() { digests["one"] = auditPush(t, s, "acme/app:v1") },
			want{core.LogPushRepo, "alice", "acme", "app", map[string]any{"tag": "v1"}}},
		{"pull", func() {
			r, _ := name.ParseReference(s.host+"/acme/app:v1", name.Insecure)
			if _, err := remote.Get(r, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"})); err != nil {
				t.Fatal(err)
			}
		}, want{core.LogPullRepo, "alice", "acme", "app", map[string]any{"tag": "v1"}}},
		{"push another", func() { digests["two"] = auditPush(t, s, "acme/app:other") },
			want{core.LogPushRepo, "alice", "acme", "app", map[string]any{"tag": "other"}}},
		{"create tag", func() {
			s.call(alice, "PUT", repoPath+"/tag/v2", map[string]any{"manifest_digest": digests["one"]}, 201)
		}, want{core.LogCreateTag, "alice", "acme", "app", map[string]any{"tag": "v2"}}},
		{"move tag", func() {
			s.call(alice, "PUT", repoPath+"/tag/v2", map[string]any{"manifest_digest": digests["two"]}, 201)
		}, want{core.LogMoveTag, "alice", "acme", "app", map[string]any{"tag": "v2"}}},
		{"make tag immutable", func() { s.call(alice, "PUT", repoPath+"/tag/v2", map[string]any{"immutable": true}, 201) },
			want{core.LogChangeTagImmutability, "alice", "acme", "app", map[string]any{"tag": "v2", "immutable": true, "previous_immutable": false}}},
		{"make tag mutable", func() { s.call(alice, "PUT", repoPath+"/tag/v2", map[string]any{"immutable": false}, 201) },
			want{core.LogChangeTagImmutability, "alice", "acme", "app", map[string]any{"tag": "v2", "immutable": false, "previous_immutable": true}}},
		{"change tag expiration", func() {
			s.call(alice, "PUT", repoPath+"/tag/v2", map[string]any{"expiration": time.Now().Add(48 * time.Hour).Unix()}, 201)
		}, want{core.LogChangeTagExpiration, "alice", "acme", "app", map[string]any{"tag": "v2"}}},
		{"delete tag", func() { s.call(alice, "DELETE", repoPath+"/tag/v2", nil, 204) },
			want{core.LogDeleteTag, "alice", "acme", "app", map[string]any{"tag": "v2"}}},
		{"restore tag", func() {
			s.call(alice, "POST", repoPath+"/tag/v2/restore", map[string]any{"manifest_digest": digests["two"]}, 200)
		}, want{core.LogRevertTag, "alice", "acme", "app", map[string]any{"tag": "v2"}}},
		{"expire tag", func() {
			s.call(alice, "POST", repoPath+"/tag/v2/expire", map[string]any{"manifest_digest": digests["two"], "is_alive": true}, 200)
		}, want{core.LogPermanentlyDeleteTag, "alice", "acme", "app", map[string]any{"tag": "v2"}}},
		{"delete tag through the registry", func() {
			if c := rawCall(t, "DELETE", s.base+"/v2/acme/app/manifests/other", "alice", "alice-password"); c != 202 {
				t.Fatalf("registry delete: %d", c)
			}
		}, want{core.LogDeleteTag, "alice", "acme", "app", map[string]any{"tag": "other"}}},
		{"delete manifest through the registry", func() {
			if c := rawCall(t, "DELETE", s.base+"/v2/acme/app/manifests/"+digests["two"], "alice", "alice-password"); c != 202 {
				t.Fatalf("registry delete: %d", c)
			}
		}, want{core.LogDeleteManifest, "alice", "acme", "app", map[string]any{"manifest_digest": "two"}}},
		{"change visibility", func() {
			s.call(alice, "POST", repoPath+"/changevisibility", map[string]any{"visibility": "public"}, 200)
		}, want{core.LogChangeRepoVisibility, "alice", "acme", "app", map[string]any{"visibility": "public"}}},
		{"set description", func() { s.call(alice, "PUT", repoPath, map[string]any{"description": "the app"}, 200) },
			want{core.LogSetRepoDescription, "alice", "acme", "app", map[string]any{"description": "the app"}}},
		{"change state", func() { s.call(alice, "PUT", repoPath+"/changestate", map[string]any{"state": "READ_ONLY"}, 200) },
			want{core.LogChangeRepoState, "alice", "acme", "app", map[string]any{"state_changed": "READ_ONLY"}}},
		{"change state back", func() { s.call(alice, "PUT", repoPath+"/changestate", map[string]any{"state": "NORMAL"}, 200) },
			want{core.LogChangeRepoState, "alice", "acme", "app", map[string]any{"state_changed": "NORMAL"}}},
		{"add permission", func() { s.call(alice, "PUT", repoPath+"/permissions/user/bob", map[string]any{"role": "read"}, 200) },
			want{core.LogAddRepoPermission, "alice", "acme", "app", map[string]any{"username": "bob", "role": "read"}}},
		{"change permission", func() { s.call(alice, "PUT", repoPath+"/permissions/user/bob", map[string]any{"role": "write"}, 200) },
			want{core.LogChangeRepoPermission, "alice", "acme", "app", map[string]any{"username": "bob", "role": "write"}}},
		{"delete permission", func() { s.call(alice, "DELETE", repoPath+"/permissions/user/bob", nil, 204) },
			want{core.LogDeleteRepoPermission, "alice", "acme", "app", map[string]any{"username": "bob"}}},
		{"create team", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme/team/devs", map[string]any{"role": "member"}, 200)
		},
			want{core.LogOrgCreateTeam, "alice", "acme", "", map[string]any{"team": "devs"}}},
		{"set team role", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme/team/devs", map[string]any{"role": "creator"}, 200)
		},
			want{core.LogOrgSetTeamRole, "alice", "acme", "", map[string]any{"team": "devs", "role": "creator"}}},
		{"add team member", func() { s.call(alice, "PUT", "/api/v1/organization/acme/team/devs/members/bob", nil, 200) },
			want{core.LogOrgAddTeamMember, "alice", "acme", "", map[string]any{"team": "devs", "member": "bob"}}},
		{"remove team member", func() { s.call(alice, "DELETE", "/api/v1/organization/acme/team/devs/members/bob", nil, 204) },
			want{core.LogOrgRemoveTeamMember, "alice", "acme", "", map[string]any{"team": "devs", "member": "bob"}}},
		{"team permission", func() { s.call(alice, "PUT", repoPath+"/permissions/team/devs", map[string]any{"role": "read"}, 200) },
			want{core.LogAddRepoPermission, "alice", "acme", "app", map[string]any{"team": "devs"}}},
		{"delete team", func() { s.call(alice, "DELETE", "/api/v1/organization/acme/team/devs", nil, 204) },
			want{core.LogOrgDeleteTeam, "alice", "acme", "", map[string]any{"team": "devs"}}},
		{"create default permission", func() {
			v := s.call(alice, "POST", "/api/v1/organization/acme/prototypes", map[string]any{"role": "read", "delegate": map[string]any{"kind": "user", "name": "bob"}}, 200)
			ids["prototype"], _ = v["id"].(string)
		}, want{core.LogCreatePrototypePerm, "alice", "acme", "", map[string]any{"role": "read", "delegate_user": "bob"}}},
		{"modify default permission", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme/prototypes/"+ids["prototype"], map[string]any{"role": "write"}, 200)
		}, want{core.LogModifyPrototypePerm, "alice", "acme", "", map[string]any{"role": "write"}}},
		{"delete default permission", func() {
			s.call(alice, "DELETE", "/api/v1/organization/acme/prototypes/"+ids["prototype"], nil, 204)
		}, want{core.LogDeletePrototypePerm, "alice", "acme", "", nil}},
		{"create robot", func() { s.call(alice, "PUT", "/api/v1/organization/acme/robots/ci", map[string]any{}, 201) },
			want{core.LogCreateRobot, "alice", "acme", "", map[string]any{"robot": "acme+ci"}}},
		{"regenerate robot token", func() { s.call(alice, "POST", "/api/v1/organization/acme/robots/ci/regenerate", nil, 200) },
			want{core.LogRegenerateRobotToken, "alice", "acme", "", map[string]any{"robot": "acme+ci"}}},
		{"robot federation", func() {
			s.call(alice, "POST", "/api/v1/organization/acme/robots/ci/federation",
				[]map[string]string{{"issuer": iss.URL(), "subject": "repo:acme/app"}}, 200)
		}, want{core.LogCreateRobotFederation, "alice", "acme", "", map[string]any{"robot": "acme+ci"}}},
		{"federated robot token exchange", func() {
			ext := iss.Token(t, oidctest.Claims{"sub": "repo:acme/app"})
			if c := rawCall(t, "POST", s.base+"/oauth2/federation/robot/token", "acme+ci", ext); c != 200 {
				t.Fatalf("exchange: %d", c)
			}
		}, want{core.LogFederatedRobotTx, "acme+ci", "acme", "", map[string]any{"robot": "acme+ci", "subject": "repo:acme/app"}}},
		{"federated robot token exchange refused", func() {
			ext := iss.Token(t, oidctest.Claims{"sub": "repo:acme/other"})
			ids["refused token"] = ext
			if c := rawCall(t, "POST", s.base+"/oauth2/federation/robot/token", "acme+ci", ext); c != 401 {
				t.Fatalf("exchange with another subject: %d", c)
			}
		}, want{core.LogLoginFailure, "", "acme", "", map[string]any{"type": "federated", "username": "acme+ci", "reason": "refused"}}},
		{"federated robot token exchange without credentials", func() {
			if c := rawCall(t, "POST", s.base+"/oauth2/federation/robot/token", "", ""); c != 401 {
				t.Fatalf("exchange without credentials: %d", c)
			}
		}, want{core.LogLoginFailure, "", "", "", map[string]any{"type": "federated", "reason": "missing_credentials"}}},
		{"robot federation removed", func() { s.call(alice, "DELETE", "/api/v1/organization/acme/robots/ci/federation", nil, 204) },
			want{core.LogDeleteRobotFederation, "alice", "acme", "", map[string]any{"robot": "acme+ci"}}},
		{"delete robot", func() { s.call(alice, "DELETE", "/api/v1/organization/acme/robots/ci", nil, 204) },
			want{core.LogDeleteRobot, "alice", "acme", "", map[string]any{"robot": "acme+ci"}}},
		{"create immutability policy", func() {
			ids["immutability"], _ = s.call(alice, "POST", "/api/v1/organization/acme/immutabilitypolicy/", map[string]any{"tagPattern": "rel-.*"}, 201)["uuid"].(string)
		}, want{core.LogCreateImmutabilityPolicy, "alice", "acme", "", map[string]any{"tag_pattern": "rel-.*"}}},
		{"update immutability policy", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme/immutabilitypolicy/"+ids["immutability"], map[string]any{"tagPattern": "release-.*"}, 204)
		}, want{core.LogUpdateImmutabilityPolicy, "alice", "acme", "", map[string]any{"tag_pattern": "release-.*"}}},
		{"delete immutability policy", func() {
			s.call(alice, "DELETE", "/api/v1/organization/acme/immutabilitypolicy/"+ids["immutability"], nil, 200)
		}, want{core.LogDeleteImmutabilityPolicy, "alice", "acme", "", nil}},
		{"create repository immutability policy", func() {
			s.call(alice, "POST", repoPath+"/immutabilitypolicy/", map[string]any{"tagPattern": "v.*"}, 201)
		}, want{core.LogCreateImmutabilityPolicy, "alice", "acme", "app", nil}},
		{"create namespace auto-prune policy", func() {
			ids["nsprune"], _ = s.call(alice, "POST", "/api/v1/organization/acme/autoprunepolicy/", map[string]any{"method": "number_of_tags", "value": 50}, 201)["uuid"].(string)
		}, want{core.LogCreateNSAutoprunePolicy, "alice", "acme", "", map[string]any{"method": "number_of_tags"}}},
		{"update namespace auto-prune policy", func() {
			s.call(alice, "PUT", "/api/v1/organization/acme/autoprunepolicy/"+ids["nsprune"], map[string]any{"method": "number_of_tags", "value": 60}, 204)
		}, want{core.LogUpdateNSAutoprunePolicy, "alice", "acme", "", nil}},
		{"delete namespace auto-prune policy", func() {
			s.call(alice, "DELETE", "/api/v1/organization/acme/autoprunepolicy/"+ids["nsprune"], nil, 200)
		}, want{core.LogDeleteNSAutoprunePolicy, "alice", "acme", "", nil}},
		{"create repository auto-prune policy", func() {
			ids["repoprune"], _ = s.call(alice, "POST", repoPath+"/autoprunepolicy/", map[string]any{"method": "creation_date", "value": "2w"}, 201)["uuid"].(string)
		}, want{core.LogCreateRepoAutoprune, "alice", "acme", "app", map[string]any{"method": "creation_date", "value": "2w"}}},
		{"update repository auto-prune policy", func() {
			s.call(alice, "PUT", repoPath+"/autoprunepolicy/"+ids["repoprune"], map[string]any{"method": "creation_date", "value": "4w"}, 204)
		}, want{core.LogUpdateRepoAutoprune, "alice", "acme", "app", map[string]any{"value": "4w"}}},
		{"delete repository auto-prune policy", func() {
			s.call(alice, "DELETE", repoPath+"/autoprunepolicy/"+ids["repoprune"], nil, 200)
		}, want{core.LogDeleteRepoAutoprune, "alice", "acme", "app", nil}},
		{"create quota", func() {
			s.call(root, "POST", "/api/v1/organization/acme/quota", map[string]any{"limit": "10 GiB"}, 201)
			var qs []map[string]any
			raw := apiGetRaw(t, s, root, "/api/v1/organization/acme/quota")
			if err := json.Unmarshal(raw, &qs); err != nil || len(qs) != 1 {
				t.Fatalf("quotas %s: %v", raw, err)
			}
			ids["quota"] = fmt.Sprint(qs[0]["id"])
		}, want{core.LogOrgCreateQuota, "root", "acme", "", map[string]any{"quota": float64(10 << 30)}}},
		{"change quota", func() {
			s.call(root, "PUT", "/api/v1/organization/acme/quota/"+ids["quota"], map[string]any{"limit": "20 GiB"}, 200)
		}, want{core.LogOrgChangeQuota, "root", "acme", "", map[string]any{"quota": float64(20 << 30)}}},
		{"create quota limit", func() {
			s.call(root, "POST", "/api/v1/organization/acme/quota/"+ids["quota"]+"/limit", map[string]any{"type": "Warning", "threshold_percent": 80}, 201)
		}, want{core.LogOrgCreateQuotaLimit, "root", "acme", "", map[string]any{"type": "Warning", "threshold_percent": float64(80)}}},
		{"change quota limit", func() {
			var ls []map[string]any
			raw := apiGetRaw(t, s, root, "/api/v1/organization/acme/quota/"+ids["quota"]+"/limit")
			if err := json.Unmarshal(raw, &ls); err != nil || len(ls) != 1 {
				t.Fatalf("limits %s: %v", raw, err)
			}
			ids["limit"] = fmt.Sprint(ls[0]["id"])
			s.call(root, "PUT", "/api/v1/organization/acme/quota/"+ids["quota"]+"/limit/"+ids["limit"], map[string]any{"type": "Warning", "threshold_percent": 90}, 200)
		}, want{core.LogOrgChangeQuotaLimit, "root", "acme", "", map[string]any{"threshold_percent": float64(90)}}},
		{"delete quota limit", func() {
			s.call(root, "DELETE", "/api/v1/organization/acme/quota/"+ids["quota"]+"/limit/"+ids["limit"], nil, 204)
		}, want{core.LogOrgDeleteQuotaLimit, "root", "acme", "", nil}},
		{"delete quota", func() { s.call(root, "DELETE", "/api/v1/organization/acme/quota/"+ids["quota"], nil, 204) },
			want{core.LogOrgDeleteQuota, "root", "acme", "", nil}},
		{"add notification", func() {
			ids["notification"], _ = s.call(alice, "POST", repoPath+"/notification/", map[string]any{"event": "repo_push", "method": "webhook",
				"config": map[string]any{"url": "http://127.0.0.1:9/hook"}, "eventConfig": map[string]any{}}, 201)["uuid"].(string)
		}, want{core.LogAddRepoNotification, "alice", "acme", "app", map[string]any{"event": "repo_push", "method": "webhook"}}},
		{"reset notification", func() { s.call(alice, "POST", repoPath+"/notification/"+ids["notification"], nil, 204) },
			want{core.LogResetRepoNotification, "alice", "acme", "app", nil}},
		{"delete notification", func() { s.call(alice, "DELETE", repoPath+"/notification/"+ids["notification"], nil, 204) },
			want{core.LogDeleteRepoNotification, "alice", "acme", "app", nil}},
		{"create app token", func() {
			tok, _ := s.call(alice, "POST", "/api/v1/user/apptoken", map[string]any{"title": "laptop"}, 200)["token"].(map[string]any)
			ids["apptoken"], _ = tok["uuid"].(string)
		}, want{core.LogCreateAppSpecificToken, "alice", "alice", "", map[string]any{"app_specific_token_title": "laptop"}}},
		{"revoke app token", func() { s.call(alice, "DELETE", "/api/v1/user/apptoken/"+ids["apptoken"], nil, 204) },
			want{core.LogRevokeAppSpecificToken, "alice", "alice", "", nil}},
		{"registry read-only", func() {
			s.call(root, "PUT", "/api/v1/superuser/registrystate", map[string]any{"state": "readonly"}, 200)
		},
			want{core.LogChangeRegistryState, "root", "", "", map[string]any{"state": "readonly"}}},
		{"registry writable", func() { s.call(root, "PUT", "/api/v1/superuser/registrystate", map[string]any{"state": "normal"}, 200) },
			want{core.LogChangeRegistryState, "root", "", "", map[string]any{"state": "normal"}}},
		{"superuser creates a user", func() {
			s.call(root, "POST", "/api/v1/superuser/users/", map[string]any{"username": "dave", "email": "dave@example.com"}, 200)
		}, want{core.LogUserCreate, "root", "dave", "", map[string]any{"username": "dave"}}},
		{"superuser disables a user", func() { s.call(root, "PUT", "/api/v1/superuser/users/dave", map[string]any{"enabled": false}, 200) },
			want{core.LogUserDisable, "root", "dave", "", nil}},
		{"superuser changes an email", func() {
			s.call(root, "PUT", "/api/v1/superuser/users/dave", map[string]any{"email": "dave2@example.com"}, 200)
		}, want{core.LogUserChangeEmail, "root", "dave", "", map[string]any{"email": "dave2@example.com"}}},
		{"superuser grants the superuser flag", func() {
			// Neither refusal writes anything: removing one's own flag, a
			// person who is not a superuser.
			s.call(root, "PUT", "/api/v1/superuser/users/root", map[string]any{"superuser": false}, 400)
			s.call(alice, "PUT", "/api/v1/superuser/users/dave", map[string]any{"superuser": true}, 403)
			s.call(root, "PUT", "/api/v1/superuser/users/dave", map[string]any{"superuser": true}, 200)
		}, want{core.LogUserChangeSuperuser, "root", "dave", "", map[string]any{"username": "dave", "superuser": true}}},
		{"superuser removes the superuser flag", func() {
			s.call(root, "PUT", "/api/v1/superuser/users/dave", map[string]any{"superuser": false}, 200)
		}, want{core.LogUserChangeSuperuser, "root", "dave", "", map[string]any{"username": "dave", "superuser": false}}},
		{"superuser deletes a user", func() { s.call(root, "DELETE", "/api/v1/superuser/users/dave", nil, 204) },
			want{core.LogUserDelete, "root", "dave", "", nil}},
		{"delete repository", func() { s.call(alice, "DELETE", repoPath, nil, 204) },
			want{core.LogDeleteRepo, "alice", "acme", "app", nil}},
		{"delete organization", func() { s.call(alice, "DELETE", "/api/v1/organization/acme", nil, 204) },
			want{core.LogOrgDelete, "alice", "acme", "", nil}},
	}
	for _, st := range steps {
		st.do()
		got := log.fresh()
		if st.want.kind != core.LogLoginSuccess {
			got = slices.DeleteFunc(got, func(e core.AuditEntry) bool {
				return e.Kind == core.LogLoginSuccess && e.Metadata["type"] == "v2auth"
			})
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d entries %q, want one %s", st.name, len(got), kindsOfEntries(got), st.want.kind)
		}
		e, w := got[0], st.want
		if e.Kind != w.kind || e.PerformerName != w.performer || e.Namespace != w.namespace || e.Repository != w.repo {
			t.Fatalf("%s: entry %s by %q in %q/%q, want %s by %q in %q/%q", st.name, e.Kind, e.PerformerName, e.Namespace, e.Repository,
				w.kind, w.performer, w.namespace, w.repo)
		}
		if w.performer != "" && e.PerformerID == 0 {
			t.Fatalf("%s: performer %q without id", st.name, e.PerformerName)
		}
		if w.namespace != "" && e.NamespaceID == 0 || w.repo != "" && e.RepositoryID == 0 {
			t.Fatalf("%s: namespace or repository without id: %+v", st.name, e)
		}
		if e.IP != "127.0.0.1" {
			t.Fatalf("%s: ip %q", st.name, e.IP)
		}
		if tok := ids["refused token"]; tok != "" && strings.Contains(fmt.Sprint(e.Metadata), tok) {
			t.Fatalf("%s: the external token is in the audit log", st.name)
		}
		for k, v := range w.meta {
			if d, ok := digests[fmt.Sprint(v)]; ok && k == "manifest_digest" {
				v = d
			}
			if fmt.Sprint(e.Metadata[k]) != fmt.Sprint(v) {
				t.Fatalf("%s: metadata %s = %v, want %v (all: %v)", st.name, k, e.Metadata[k], v, e.Metadata)
			}
		}
	}
}

func kindsOfEntries(es []core.AuditEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind)
	}
	return out
}

// apiGetRaw answers the body of a GET that must succeed.
func apiGetRaw(t *testing.T, s *notifyServer, token, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// An export enqueued through the API is a job that POSTs the selected
// entries to the callback URL.
func TestAuditLogExport(t *testing.T) {
	s := startNotifyServer(t, nil)
	alice, mallory := apiToken(t, s.a, "alice"), apiToken(t, s.a, "mallory")
	s.call(alice, "POST", "/api/v1/organization/", map[string]any{"name": "acme", "email": "ops@acme.example"}, 201)
	s.call(alice, "POST", "/api/v1/repository", map[string]any{"namespace": "acme", "repository": "app", "visibility": "private", "description": ""}, 201)
	s.call(alice, "PUT", "/api/v1/organization/acme/team/devs", map[string]any{"role": "member"}, 200)

	recv := &hookReceiver{}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	s.call(mallory, "POST", "/api/v1/organization/acme/exportlogs", map[string]any{"callback_url": hook.URL}, 403)
	res := s.call(alice, "POST", "/api/v1/organization/acme/exportlogs", map[string]any{"callback_url": hook.URL}, 200)
	id, _ := res["export_id"].(string)
	if id == "" {
		t.Fatalf("export answered %v", res)
	}
	waitFor(t, "the export delivery", func() bool { _, b := recv.received(); return len(b) == 1 })
	_, bodies := recv.received()
	body := bodies[0]
	if body["export_id"] != id || body["status"] != "success" || body["terminator"] != "--" {
		t.Fatalf("export body %v", body)
	}
	var kinds []string
	for _, l := range body["logs"].([]any) {
		m := l.(map[string]any)
		kinds = append(kinds, m["kind"].(string))
		if m["performer"].(map[string]any)["name"] != "alice" || m["namespace"].(map[string]any)["name"] != "acme" {
			t.Fatalf("exported entry %v", m)
		}
	}
	if !slices.Equal(kinds, []string{core.LogOrgCreateTeam, core.LogCreateRepo, core.LogOrgCreate}) {
		t.Fatalf("exported kinds %q", kinds)
	}
	if d := body["details"].(map[string]any); d["scope"] != "acme" || d["requester"] != "alice" {
		t.Fatalf("details %v", d)
	}
	waitFor(t, "export_logs_success", func() bool {
		es, _, err := s.a.db.AuditLogs(t.Context(), store.AuditFilter{Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour),
			Kinds: []string{core.LogExportLogsSuccess}})
		return err == nil && len(es) == 1 && es[0].Namespace == "acme" && es[0].PerformerName == "alice" && es[0].Metadata["export_id"] == id
	})
	// Without MAIL_SERVER an export by email fails once, and says why.
	s.call(alice, "POST", "/api/v1/organization/acme/exportlogs", map[string]any{"callback_email": "audit@acme.example"}, 200)
	waitFor(t, "export_logs_failure", func() bool {
		es, _, err := s.a.db.AuditLogs(t.Context(), store.AuditFilter{Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour),
			Kinds: []string{core.LogExportLogsFailure}})
		return err == nil && len(es) == 1 && strings.Contains(fmt.Sprint(es[0].Metadata["error"]), "MAIL_SERVER")
	})
	// A repository export holds only the repository's entries.
	s.call(alice, "POST", "/api/v1/repository/acme/app/exportlogs", map[string]any{"callback_url": hook.URL}, 200)
	waitFor(t, "the repository export", func() bool { _, b := recv.received(); return len(b) == 2 })
	_, bodies = recv.received()
	if logs := bodies[1]["logs"].([]any); len(logs) != 1 || logs[0].(map[string]any)["kind"] != core.LogCreateRepo {
		t.Fatalf("repository export %v", logs)
	}
}

// ACTION_LOG_PULLS: off writes no pull entries; sampled at rate 1 logs every
// pull (the default, all, is covered by TestAuditLogActions).
func TestAuditLogPullModes(t *testing.T) {
	for _, tc := range []struct {
		mode string
		rate float64
		want int
	}{{"off", 0, 0}, {"sampled", 0, 0}, {"sampled", 1, 2}} {
		t.Run(fmt.Sprint(tc.mode, tc.rate), func(t *testing.T) {
			s := startNotifyServer(t, func(c *config.Config) { c.ActionLogPulls, c.ActionLogPullSampleRate = tc.mode, tc.rate })
			auditPush(t, s, "alice/app:v1")
			r, _ := name.ParseReference(s.host+"/alice/app:v1", name.Insecure)
			for i := 0; i < 2; i++ {
				if _, err := remote.Get(r, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"})); err != nil {
					t.Fatal(err)
				}
			}
			s.a.pulls.Flush(t.Context())
			entries, _, err := s.a.db.AuditLogs(t.Context(), store.AuditFilter{Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour),
				Kinds: []string{core.LogPullRepo}, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.want {
				t.Fatalf("%d pull entries, want %d", len(entries), tc.want)
			}
		})
	}
}

// Retention deletes what is older than the threshold, and only with
// FEATURE_ACTION_LOG_ROTATION on.
func TestAuditLogRotation(t *testing.T) {
	s := startNotifyServer(t, func(c *config.Config) {
		c.ActionLogRotation, c.ActionLogRotationThreshold = true, config.Duration(time.Millisecond)
	})
	if s.a.workers().Handlers[jobAuditRetention] == nil {
		t.Fatal("retention job not registered")
	}
	ctx := t.Context()
	for i := 0; i < 3; i++ {
		if err := s.a.db.LogAction(ctx, core.LogChangeRegistryState, "", "", nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.a.rotateAuditLogs(ctx, jobs.Job{}); err != nil {
		t.Fatal(err)
	}
	left, _, err := s.a.db.AuditLogs(ctx, store.AuditFilter{Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil || len(left) != 0 {
		t.Fatalf("%d entries left: %v", len(left), err)
	}
	off := startNotifyServer(t, nil)
	if off.a.workers().Handlers[jobAuditRetention] != nil {
		t.Fatal("retention registered with FEATURE_ACTION_LOG_ROTATION off")
	}
}

// ACTION_LOG_AUDIT_LOGINS false: logins through the registry and the API
// leave no entries; the changes they lead to still do.
func TestAuditLogLoginsOff(t *testing.T) {
	s := startNotifyServer(t, func(c *config.Config) { c.ActionLogAuditLogins = false })
	if c := rawCall(t, "GET", s.base+"/v2/auth?service="+s.host, "alice", "alice-password"); c != 200 {
		t.Fatalf("token: %d", c)
	}
	if c := rawCall(t, "GET", s.base+"/v2/auth?service="+s.host, "alice", "wrong-password"); c != 401 {
		t.Fatalf("token: %d", c)
	}
	s.call("", "POST", "/api/v1/signin", map[string]any{"username": "alice", "password": "alice-password"}, 200)
	if c := rawCall(t, "POST", s.base+"/oauth2/federation/robot/token", "alice+ci", "not-a-token"); c != 401 {
		t.Fatalf("federated exchange: %d", c)
	}
	auditPush(t, s, "alice/app:v1")
	entries, _, err := s.a.db.AuditLogs(t.Context(), store.AuditFilter{Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour),
		Kinds: []string{core.LogLoginSuccess, core.LogLoginFailure, core.LogPushRepo}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Kind != core.LogPushRepo {
		t.Fatalf("entries %q", kindsOfEntries(entries))
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
