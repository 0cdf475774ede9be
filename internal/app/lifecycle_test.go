package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
)

// lifecycleServer is a running app with a superuser "root" and "alice",
// who owns the organization acme; callers push with go-containerregistry,
// the library behind crane.
type lifecycleServer struct {
	t    *testing.T
	app  *App
	srv  *httptest.Server
	host string
	api  map[string]string // user -> OAuth token
	once sync.Once
}

func (s *lifecycleServer) close() {
	s.once.Do(func() { s.srv.Close(); s.app.Close() })
}

const lifecyclePassword = "pw-lifecycle-0123"

func startLifecycle(t *testing.T, dataDir string, mod func(*config.Config)) *lifecycleServer {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.SuperUsers = []string{"root"}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	s := &lifecycleServer{t: t, app: a, srv: srv, host: strings.TrimPrefix(srv.URL, "http://"), api: map[string]string{}}
	t.Cleanup(s.close)
	for _, u := range []string{"root", "alice"} {
		if _, err := a.db.User(ctx, u); err != nil {
			if _, err := a.CreateUser(ctx, u, u+"@example.com", lifecyclePassword, u == "root"); err != nil {
				t.Fatal(err)
			}
		}
		user, err := a.db.User(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		tok, prefix, secret := auth.NewSplitToken()
		if _, err := a.db.CreateOAuthToken(ctx, 0, user.ID, prefix, auth.HashSecret(secret), strings.Join(auth.AllScopes, " "), time.Time{}); err != nil {
			t.Fatal(err)
		}
		s.api[u] = tok
	}
	if _, err := a.db.Namespace(ctx, "acme"); err != nil {
		s.call("alice", "POST", "/api/v1/organization/", map[string]any{"name": "acme", "email": "acme@example.com"}, 201)
	}
	return s
}

// call sends an API request as a user and decodes the answer.
func (s *lifecycleServer) call(user, method, path string, body any, want int) map[string]any {
	s.t.Helper()
	return callJSON(s.t, s.srv.URL, s.api[user], method, path, body, want)
}

func (s *lifecycleServer) ref(r string) name.Reference {
	s.t.Helper()
	ref, err := name.ParseReference(s.host+"/"+r, name.Insecure)
	if err != nil {
		s.t.Fatal(err)
	}
	return ref
}

func (s *lifecycleServer) opts() []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: "alice", Password: lifecyclePassword}), remote.WithContext(s.t.Context())}
}

func (s *lifecycleServer) push(r string, img v1.Image) error {
	return remote.Write(s.ref(r), img, s.opts()...)
}

// pull fetches an image completely (manifest, config and layers).
func (s *lifecycleServer) pull(r string) error {
	img, err := remote.Image(s.ref(r), s.opts()...)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	_, err = img.RawConfigFile()
	return err
}

// labelled is a random image whose config carries labels, as `docker build
// --label` makes them.
func labelled(t *testing.T, labels map[string]string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// wantRegistryError checks a client error's HTTP status and OCI code.
func wantRegistryError(t *testing.T, err error, status int, code, text string) {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T), want HTTP %d %s", err, err, status, code)
	}
	if te.StatusCode != status || len(te.Errors) == 0 || string(te.Errors[0].Code) != code ||
		!strings.Contains(te.Errors[0].Message, text) {
		t.Fatalf("error %v: want HTTP %d %s mentioning %q", err, status, code, text)
	}
}

func TestLifecycleLabelsAndImmutability(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), nil)

	// quay.expires-after in the image config sets the tag's expiry.
	if err := s.push("acme/app:nightly", labelled(t, map[string]string{"quay.expires-after": "2w"})); err != nil {
		t.Fatal(err)
	}
	tags := s.call("alice", "GET", "/api/v1/repository/acme/app/tag/?specificTag=nightly", nil, 200)["tags"].([]any)
	end, _ := tags[0].(map[string]any)["end_ts"].(float64)
	if d := time.Until(time.Unix(int64(end), 0)); d < 13*24*time.Hour || d > 15*24*time.Hour {
		t.Fatalf("nightly expires in %s: %v", d, tags)
	}

	// quay.immutable=true: the tag cannot be overwritten or deleted.
	v1img := labelled(t, map[string]string{"quay.immutable": "true"})
	if err := s.push("acme/app:v1", v1img); err != nil {
		t.Fatal(err)
	}
	err := s.push("acme/app:v1", labelled(t, nil))
	wantRegistryError(t, err, http.StatusConflict, "TAG_IMMUTABLE", `"v1"`)
	if err := s.push("acme/app:v1", v1img); err != nil {
		t.Fatalf("re-pushing the same image: %v", err)
	}
	wantRegistryError(t, remote.Delete(s.ref("acme/app:v1"), s.opts()...), http.StatusConflict, "TAG_IMMUTABLE", "v1")
	d, _ := v1img.Digest()
	wantRegistryError(t, remote.Delete(s.ref("acme/app@"+d.String()), s.opts()...), http.StatusConflict, "TAG_IMMUTABLE", "v1")
	if err := s.pull("acme/app:v1"); err != nil {
		t.Fatal(err)
	}

	// An organization policy, both ways.
	s.call("alice", "POST", "/api/v1/organization/acme/immutabilitypolicy/", map[string]any{"tagPattern": `release-\d+`}, 201)
	if err := s.push("acme/app:release-1", labelled(t, nil)); err != nil {
		t.Fatal(err)
	}
	wantRegistryError(t, s.push("acme/app:release-1", labelled(t, nil)), http.StatusConflict, "TAG_IMMUTABLE", "organization immutability policy")
	if err := s.push("acme/app:release-x", labelled(t, nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:release-x", labelled(t, nil)); err != nil {
		t.Fatalf("a tag the policy does not match: %v", err)
	}
	repoPolicy := s.call("alice", "POST", "/api/v1/repository/acme/app/immutabilitypolicy/", map[string]any{"tagPattern": "dev-.*", "tagPatternMatches": false}, 201)
	wantRegistryError(t, s.push("acme/app:release-x", labelled(t, nil)), http.StatusConflict, "TAG_IMMUTABLE", "repository immutability policy")
	if err := s.push("acme/app:dev-1", labelled(t, nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:dev-1", labelled(t, nil)); err != nil {
		t.Fatalf("a tag the reversed policy does not protect: %v", err)
	}
	s.call("alice", "DELETE", "/api/v1/repository/acme/app/immutabilitypolicy/"+repoPolicy["uuid"].(string), nil, 200)
	if err := s.push("acme/app:release-x", labelled(t, nil)); err != nil {
		t.Fatal(err)
	}
}

// tokenActions asks the token service for pull and push on a repository.
func (s *lifecycleServer) tokenActions(repo string) []string {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+"/v2/auth?service="+s.host+"&scope=repository:"+repo+":pull,push", nil)
	req.SetBasicAuth("alice", lifecyclePassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
		s.t.Fatalf("token answer: HTTP %d, %v", resp.StatusCode, err)
	}
	parts := strings.Split(body.Token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		s.t.Fatal(err)
	}
	var claims struct {
		Access []struct {
			Actions []string `json:"actions"`
		} `json:"access"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, a := range claims.Access {
		out = append(out, a.Actions...)
	}
	return out
}

func TestLifecycleReadOnly(t *testing.T) {
	dir := t.TempDir()
	s := startLifecycle(t, dir, nil)
	if err := s.push("acme/app:1", labelled(t, nil)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.tokenActions("acme/app"), ","); got != "pull,push" {
		t.Fatalf("token actions %q", got)
	}

	// The superuser switch: pushes get 405 DENIED, pulls go on.
	s.call("root", "PUT", "/api/v1/superuser/registrystate", map[string]any{"state": "readonly"}, 200)
	wantRegistryError(t, s.push("acme/app:2", labelled(t, nil)), http.StatusMethodNotAllowed, "DENIED", "read-only")
	wantRegistryError(t, s.push("acme/new:1", labelled(t, nil)), http.StatusMethodNotAllowed, "DENIED", "read-only")
	wantRegistryError(t, remote.Delete(s.ref("acme/app:1"), s.opts()...), http.StatusMethodNotAllowed, "DENIED", "read-only")
	if err := s.pull("acme/app:1"); err != nil {
		t.Fatalf("pull while read-only: %v", err)
	}
	if got := strings.Join(s.tokenActions("acme/app"), ","); got != "pull" {
		t.Fatalf("token actions while read-only %q", got)
	}
	s.call("root", "PUT", "/api/v1/superuser/registrystate", map[string]any{"state": "normal"}, 200)
	if err := s.push("acme/app:2", labelled(t, nil)); err != nil {
		t.Fatal(err)
	}

	// One repository read-only.
	s.call("alice", "PUT", "/api/v1/repository/acme/app/changestate", map[string]any{"state": "READ_ONLY"}, 200)
	wantRegistryError(t, s.push("acme/app:3", labelled(t, nil)), http.StatusMethodNotAllowed, "DENIED", "acme/app is in read-only mode")
	if err := s.pull("acme/app:2"); err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/other:1", labelled(t, nil)); err != nil {
		t.Fatalf("another repository: %v", err)
	}
	s.call("alice", "PUT", "/api/v1/repository/acme/app/changestate", map[string]any{"state": "NORMAL"}, 200)
	s.close()

	// REGISTRY_STATE: readonly in the configuration.
	s = startLifecycle(t, dir, func(c *config.Config) { c.RegistryState = "readonly" })
	wantRegistryError(t, s.push("acme/app:4", labelled(t, nil)), http.StatusMethodNotAllowed, "DENIED", "read-only")
	if err := s.pull("acme/app:2"); err != nil {
		t.Fatal(err)
	}
	st := s.call("root", "PUT", "/api/v1/superuser/registrystate", map[string]any{"state": "normal"}, 200)
	if st["state"] != "readonly" {
		t.Fatalf("the switch undid the configuration: %v", st)
	}
}
