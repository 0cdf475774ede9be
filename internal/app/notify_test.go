package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/config"
)

// hookReceiver is a webhook receiver that fails its first failFirst
// requests with 500 and records the bodies of the others.
type hookReceiver struct {
	mu        sync.Mutex
	failFirst int
	requests  int
	bodies    []map[string]any
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if h.requests <= h.failFirst {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	h.bodies = append(h.bodies, m)
}

func (h *hookReceiver) received() (int, []map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, append([]map[string]any(nil), h.bodies...)
}

type notifyServer struct {
	t    *testing.T
	a    *App
	base string
	host string
}

func startNotifyServer(t *testing.T, mod func(*config.Config)) *notifyServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AnonymousAccess = false
	cfg.NotificationRetryBackoff = config.Duration(50 * time.Millisecond)
	cfg.NotificationSendTimeout = config.Duration(2 * time.Second)
	if mod != nil {
		mod(&cfg)
	}
	a, host := serveApp(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), true, "alice", "mallory")
	return &notifyServer{t: t, a: a, base: "http://" + host, host: host}
}

func (s *notifyServer) call(token, method, path string, body any, want int) map[string]any {
	s.t.Helper()
	return callJSON(s.t, s.base, token, method, path, body, want)
}

func (s *notifyServer) push(ref string) {
	s.t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		s.t.Fatal(err)
	}
	r, err := name.ParseReference(s.host+"/"+ref, name.Insecure)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"})); err != nil {
		s.t.Fatal(err)
	}
}

func tagsOf(m map[string]any) string {
	b, _ := json.Marshal(m["updated_tags"])
	return string(b)
}

// Notifications end to end: the API creates a webhook config, a push with
// go-containerregistry emits one repo_push with its tag, the receiver fails
// twice and the job queue retries with backoff until it succeeds; the test
// endpoint sends sample data; quay_notification reaches the user's
// notifications; permissions.
func TestRepositoryNotifications(t *testing.T) {
	testRepositoryNotifications(t, startNotifyServer(t, nil))
}

// The same on PostgreSQL, where repo_push's job joins PutManifest's
// transaction through River's pgx driver.
func TestRepositoryNotificationsPostgres(t *testing.T) {
	dsn := testPostgresDSN(t)
	testRepositoryNotifications(t, startNotifyServer(t, func(c *config.Config) { c.DBURI = dsn }))
}

func testRepositoryNotifications(t *testing.T, s *notifyServer) {
	alice, mallory := apiToken(t, s.a, "alice"), apiToken(t, s.a, "mallory")
	s.push("alice/app:v1")

	recv := &hookReceiver{failFirst: 2}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	const path = "/api/v1/repository/alice/app/notification/"
	created := s.call(alice, "POST", path, map[string]any{
		"event": "repo_push", "method": "webhook", "config": map[string]any{"url": hook.URL, "secret": "k"},
		"eventConfig": map[string]any{}, "title": "CI hook"}, 201)
	uuid, _ := created["uuid"].(string)
	if uuid == "" || created["event"] != "repo_push" || created["method"] != "webhook" || created["title"] != "CI hook" ||
		created["number_of_failures"] != 0.0 || created["event_config"] == nil {
		t.Fatalf("created = %v", created)
	}
	if cfg, _ := created["config"].(map[string]any); cfg["url"] != hook.URL || cfg["secret"] == "k" {
		t.Fatalf("config view = %v (the secret must not be shown)", cfg)
	}

	// Shapes and refusals.
	s.call(alice, "POST", path, map[string]any{"event": "repo_pull", "method": "webhook", "config": map[string]any{"url": hook.URL}, "eventConfig": map[string]any{}}, 400)
	s.call(alice, "POST", path, map[string]any{"event": "repo_push", "method": "webhook", "config": map[string]any{}, "eventConfig": map[string]any{}}, 400)
	s.call(alice, "POST", path, map[string]any{"event": "repo_push", "method": "webhook", "config": map[string]any{"url": hook.URL}}, 400)
	s.call(mallory, "GET", path, nil, 403)
	s.call(mallory, "POST", path+uuid+"/test", nil, 403)
	s.call("", "GET", path, nil, 401)
	s.call(alice, "GET", path+"00000000-0000-4000-8000-000000000000", nil, 404)
	list := s.call(alice, "GET", path, nil, 200)["notifications"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["uuid"] != uuid {
		t.Fatalf("list = %v", list)
	}

	// One push, one event, delivered on the third attempt.
	s.push("alice/app:v2")
	waitFor(t, "the retried delivery", func() bool { _, b := recv.received(); return len(b) == 1 })
	n, bodies := recv.received()
	if n != 3 || tagsOf(bodies[0]) != `["v2"]` || bodies[0]["repository"] != "alice/app" || bodies[0]["docker_url"] != s.host+"/alice/app" {
		t.Fatalf("requests %d, bodies %v", n, bodies)
	}
	// The job records the success after the receiver has answered.
	var got map[string]any
	waitFor(t, "the successful delivery to be recorded", func() bool {
		got = s.call(alice, "GET", path+uuid, nil, 200)
		return got["number_of_failures"] == 0.0
	})
	if got["disabled"] != false {
		t.Fatalf("after success: %v", got)
	}
	ds := s.call(alice, "GET", path+uuid+"/deliveries", nil, 200)["deliveries"].([]any)
	if len(ds) != 3 || ds[0].(map[string]any)["success"] != true || ds[1].(map[string]any)["success"] != false ||
		ds[2].(map[string]any)["attempt"] != 1.0 {
		t.Fatalf("deliveries = %v", ds)
	}

	// The next push is one more event with its own tag, and no repeats.
	s.push("alice/app:v3")
	waitFor(t, "the v3 event", func() bool { _, b := recv.received(); return len(b) == 2 })
	// The test endpoint sends Quay's sample data.
	s.call(alice, "POST", path+uuid+"/test", nil, 200)
	waitFor(t, "the test delivery", func() bool { _, b := recv.received(); return len(b) == 3 })
	time.Sleep(1500 * time.Millisecond)
	_, bodies = recv.received()
	if len(bodies) != 3 || tagsOf(bodies[1]) != `["v3"]` || tagsOf(bodies[2]) != `["latest","foo"]` {
		t.Fatalf("bodies = %v", bodies)
	}

	// In-app notifications for a user.
	s.call(alice, "POST", path, map[string]any{"event": "repo_push", "method": "quay_notification",
		"config": map[string]any{"target": map[string]any{"kind": "user", "name": "alice"}}, "eventConfig": map[string]any{}}, 201)
	s.push("alice/app:v4")
	waitFor(t, "the in-app notification", func() bool {
		ns, _ := s.call(alice, "GET", "/api/v1/user/notifications", nil, 200)["notifications"].([]any)
		return len(ns) == 1
	})
	un := s.call(alice, "GET", "/api/v1/user/notifications", nil, 200)["notifications"].([]any)[0].(map[string]any)
	if un["kind"] != "repo_push" || tagsOf(un["metadata"].(map[string]any)) != `["v4"]` || un["dismissed"] != false {
		t.Fatalf("user notification = %v", un)
	}
	if ns := s.call(mallory, "GET", "/api/v1/user/notifications", nil, 200)["notifications"].([]any); len(ns) != 0 {
		t.Fatalf("mallory sees %v", ns)
	}

	// Reset and delete.
	s.call(mallory, "DELETE", path+uuid, nil, 403)
	s.call(alice, "POST", path+uuid, nil, 204)
	s.call(alice, "DELETE", path+uuid, nil, 204)
	s.call(alice, "GET", path+uuid, nil, 404)
}

// Other features emit through the store: a quota event for a namespace
// reaches the configs of its repositories with the namespace's payload.
func TestNamespaceEventEmit(t *testing.T) {
	s := startNotifyServer(t, nil)
	alice := apiToken(t, s.a, "alice")
	s.push("alice/app:v1")
	recv := &hookReceiver{}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	s.call(alice, "POST", "/api/v1/repository/alice/app/notification/", map[string]any{"event": "quota_warning", "method": "webhook",
		"config": map[string]any{"url": hook.URL}, "eventConfig": map[string]any{}}, 201)
	data := map[string]any{"threshold_percent": 80, "usage_percent": 85}
	if err := s.a.db.EmitNamespaceNotification(t.Context(), "alice", "quota_warning", data); err != nil {
		t.Fatal(err)
	}
	// A push is not a quota event.
	s.push("alice/app:v2")
	waitFor(t, "the quota event", func() bool { _, b := recv.received(); return len(b) == 1 })
	time.Sleep(1500 * time.Millisecond)
	_, bodies := recv.received()
	b := bodies[0]
	if len(bodies) != 1 || b["namespace"] != "alice" || b["homepage"] != "http://"+s.host+"/organization/alice" ||
		b["usage_percent"] != 85.0 || b["repository"] != nil {
		t.Fatalf("bodies = %v", bodies)
	}
}

// A receiver that never answers: each attempt times out and counts a
// failure, and after NOTIFICATION_MAX_FAILURES the config is disabled (the
// view says so) and no longer retried.
func TestNotificationHangingReceiverIsDisabled(t *testing.T) {
	s := startNotifyServer(t, nil)
	alice := apiToken(t, s.a, "alice")
	s.push("alice/app:v1")
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hook.Close()
	defer close(release)
	const path = "/api/v1/repository/alice/app/notification/"
	uuid := s.call(alice, "POST", path, map[string]any{"event": "repo_push", "method": "webhook",
		"config": map[string]any{"url": hook.URL}, "eventConfig": map[string]any{}}, 201)["uuid"].(string)
	s.push("alice/app:v2")
	waitFor(t, "the config to be disabled", func() bool {
		return s.call(alice, "GET", path+uuid, nil, 200)["disabled"] == true
	})
	got := s.call(alice, "GET", path+uuid, nil, 200)
	if got["number_of_failures"] != 3.0 {
		t.Fatalf("view = %v", got)
	}
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	n := calls
	mu.Unlock()
	if n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	ds := s.call(alice, "GET", path+uuid+"/deliveries", nil, 200)["deliveries"].([]any)
	if len(ds) != 3 || ds[0].(map[string]any)["error"] == nil {
		t.Fatalf("deliveries = %v", ds)
	}
}
