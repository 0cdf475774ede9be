package notify_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/notify"
	"github.com/wharfhq/wharf/internal/smtptest"
	"github.com/wharfhq/wharf/internal/store"
)

type fixture struct {
	db    *store.DB
	repo  core.Repository
	alice core.User
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	alice, err := db.CreateUser(ctx, store.NewUser{Username: "alice", Email: "alice@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := db.EnsureRepository(ctx, "alice/app")
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, repo: repo, alice: alice}
}

func (f fixture) config(t *testing.T, event, method string, cfg map[string]any) store.Notification {
	t.Helper()
	b, _ := json.Marshal(cfg)
	n, err := f.db.CreateNotification(context.Background(), f.repo.FullName, store.NewNotification{
		Title: "t", Event: event, Method: method, Config: b, EventConfig: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pushJob(n store.Notification, tags ...string) store.NotificationJob {
	b, _ := json.Marshal(map[string]any{"updated_tags": tags})
	return store.NotificationJob{UUID: n.UUID, Event: n.Event, Repository: n.Repository, Data: b}
}

func (f fixture) failures(t *testing.T, n store.Notification) int {
	t.Helper()
	got, err := f.db.Notification(context.Background(), "", n.UUID)
	if err != nil {
		t.Fatal(err)
	}
	return got.NumberOfFailures
}

func TestWebhookPayloadAndSignature(t *testing.T) {
	f := newFixture(t)
	const secret = "s3cret"
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if sig := r.Header.Get(notify.SignatureHeader); !hmac.Equal([]byte(sig), []byte(notify.Sign([]byte(secret), body))) {
			t.Errorf("signature %q does not verify", sig)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Error(err)
		}
		got <- m
	}))
	defer srv.Close()
	n := f.config(t, "repo_push", "webhook", map[string]any{"url": srv.URL + "/hook", "secret": secret})
	nf := notify.New(f.db, notify.Options{Hostname: "registry.example:5000", Scheme: "https"})
	if err := nf.Deliver(context.Background(), pushJob(n, "v1", "latest"), 1); err != nil {
		t.Fatal(err)
	}
	m := <-got
	want := map[string]any{
		"repository": "alice/app", "namespace": "alice", "name": "app",
		"docker_url": "registry.example:5000/alice/app", "homepage": "https://registry.example:5000/repository/alice/app",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if tags, _ := json.Marshal(m["updated_tags"]); string(tags) != `["v1","latest"]` {
		t.Errorf("updated_tags = %s", tags)
	}
	ds, err := f.db.NotificationDeliveries(context.Background(), n.ID)
	if err != nil || len(ds) != 1 || !ds[0].Success || ds[0].Event != "repo_push" {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
}

func TestWebhookFailuresDisableTheConfig(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "nope", http.StatusBadGateway)
	}))
	defer srv.Close()
	n := f.config(t, "repo_push", "webhook", map[string]any{"url": srv.URL})
	nf := notify.New(f.db, notify.Options{MaxFailures: 3})
	ctx := context.Background()
	for attempt := 1; attempt <= 2; attempt++ {
		err := nf.Deliver(ctx, pushJob(n, "latest"), attempt)
		if err == nil || !strings.Contains(err.Error(), "502") {
			t.Fatalf("attempt %d: err = %v, want a 502 failure (to be retried)", attempt, err)
		}
		if got := f.failures(t, n); got != attempt {
			t.Fatalf("failures = %d after attempt %d", got, attempt)
		}
	}
	// The third failure disables the config: no more retries.
	if err := nf.Deliver(ctx, pushJob(n, "latest"), 3); err != nil {
		t.Fatalf("third failure: err = %v, want nil (config disabled, no retry)", err)
	}
	if got := f.failures(t, n); got != 3 {
		t.Fatalf("failures = %d", got)
	}
	if err := nf.Deliver(ctx, pushJob(n, "latest"), 1); err != nil || calls.Load() != 3 {
		t.Fatalf("disabled config delivered: err %v, calls %d", err, calls.Load())
	}
	ds, _ := f.db.NotificationDeliveries(ctx, n.ID)
	if len(ds) != 3 || ds[0].Success || !strings.Contains(ds[0].Error, "502") {
		t.Fatalf("history = %+v", ds)
	}
	// Reset enables it again.
	if _, err := f.db.ResetNotificationFailures(ctx, "alice/app", n.UUID); err != nil {
		t.Fatal(err)
	}
	if err := nf.Deliver(ctx, pushJob(n, "latest"), 1); err == nil || calls.Load() != 4 {
		t.Fatalf("after reset: err %v, calls %d", err, calls.Load())
	}
}

func TestWebhookTimeout(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	n := f.config(t, "repo_push", "webhook", map[string]any{"url": srv.URL})
	nf := notify.New(f.db, notify.Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	err := nf.Deliver(context.Background(), pushJob(n, "latest"), 1)
	if err == nil {
		t.Fatal("delivery to a hanging receiver succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("delivery took %s", d)
	}
	if got := f.failures(t, n); got != 1 {
		t.Fatalf("failures = %d, want 1", got)
	}
}

func TestWebhookCustomCA(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	nf := notify.New(f.db, notify.Options{})
	untrusted := f.config(t, "repo_push", "webhook", map[string]any{"url": srv.URL})
	if err := nf.Deliver(context.Background(), pushJob(untrusted, "a"), 1); err == nil {
		t.Fatal("delivery to an unknown CA succeeded")
	}
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	trusted := f.config(t, "repo_push", "webhook", map[string]any{"url": srv.URL, "ca_cert": ca})
	if err := nf.Deliver(context.Background(), pushJob(trusted, "a"), 1); err != nil || calls.Load() != 1 {
		t.Fatalf("custom CA: err %v, calls %d", err, calls.Load())
	}
}

func TestSlackPayload(t *testing.T) {
	f := newFixture(t)
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Error(err)
		}
		got <- m
	}))
	defer srv.Close()
	n := f.config(t, "repo_push", "slack", map[string]any{"url": srv.URL + "/services/T0/B0/XXXX"})
	nf := notify.New(f.db, notify.Options{Hostname: "reg.example"})
	if err := nf.Deliver(context.Background(), pushJob(n, "latest"), 1); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m["text"] != "Repository alice/app updated" {
		t.Errorf("text = %v", m["text"])
	}
	atts, _ := m["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments = %v", m["attachments"])
	}
	a := atts[0].(map[string]any)
	if a["fallback"] != m["text"] || a["color"] != "good" || !strings.Contains(a["text"].(string), "latest") ||
		!strings.Contains(a["text"].(string), "<http://reg.example/repository/alice/app|alice/app>") {
		t.Errorf("attachment = %v", a)
	}
	if mk, _ := json.Marshal(a["mrkdwn_in"]); string(mk) != `["text"]` {
		t.Errorf("mrkdwn_in = %s", mk)
	}
}

func TestEmailSTARTTLSAndAuth(t *testing.T) {
	f := newFixture(t)
	tlsCfg, pool, _ := smtptest.TestCA(t)
	sink := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, Username: "mailer", Password: "mail-pw"})
	host, portStr, _ := net.SplitHostPort(sink.Addr)
	port, _ := strconv.Atoi(portStr)
	n := f.config(t, "repo_push", "email", map[string]any{"email": "team@example.com"})
	mail := notify.Mail{Server: host, Port: port, UseTLS: true, Username: "mailer", Password: "mail-pw",
		Sender: "Wharf <wharf@example.com>", RootCAs: pool}
	nf := notify.New(f.db, notify.Options{Mail: mail, Timeout: 5 * time.Second})
	if err := nf.Deliver(context.Background(), pushJob(n, "v2"), 1); err != nil {
		t.Fatal(err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("messages = %d", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.Auth != "mailer" || m.From != "wharf@example.com" || len(m.To) != 1 || m.To[0] != "team@example.com" {
		t.Fatalf("envelope = %+v", m)
	}
	if !strings.Contains(m.Data, "Subject: Repository alice/app updated") || !strings.Contains(m.Data, "v2") {
		t.Fatalf("message = %s", m.Data)
	}

	// Without the test CA the STARTTLS handshake fails, and so does the delivery.
	mail.RootCAs = nil
	nf = notify.New(f.db, notify.Options{Mail: mail, Timeout: 5 * time.Second})
	if err := nf.Deliver(context.Background(), pushJob(n, "v2"), 1); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("untrusted server: err = %v", err)
	}
	// A wrong password is refused.
	mail.RootCAs, mail.Password = pool, "wrong"
	nf = notify.New(f.db, notify.Options{Mail: mail, Timeout: 5 * time.Second})
	if err := nf.Deliver(context.Background(), pushJob(n, "v2"), 1); err == nil || !strings.Contains(err.Error(), "auth") {
		t.Fatalf("wrong password: err = %v", err)
	}
}

func TestQuayNotification(t *testing.T) {
	f := newFixture(t)
	nf := notify.New(f.db, notify.Options{})
	ctx := context.Background()
	if err := nf.Validate(ctx, f.repo, "repo_push", "quay_notification", map[string]any{"target": map[string]any{"kind": "user", "name": "nobody"}}, nil); err == nil {
		t.Fatal("unknown user accepted")
	}
	cfg := map[string]any{"target": map[string]any{"kind": "user", "name": "alice"}}
	if err := nf.Validate(ctx, f.repo, "repo_push", "quay_notification", cfg, nil); err != nil {
		t.Fatal(err)
	}
	n := f.config(t, "repo_push", "quay_notification", cfg)
	if err := nf.Deliver(ctx, pushJob(n, "latest"), 1); err != nil {
		t.Fatal(err)
	}
	ns, err := f.db.UserNotifications(ctx, f.alice.ID)
	if err != nil || len(ns) != 1 || ns[0].Kind != "repo_push" || !strings.Contains(string(ns[0].Metadata), `"updated_tags":["latest"]`) {
		t.Fatalf("user notifications = %+v, %v", ns, err)
	}
}

func TestValidate(t *testing.T) {
	f := newFixture(t)
	nf := notify.New(f.db, notify.Options{})
	ctx := context.Background()
	hook := map[string]any{"url": "https://example.com/hook"}
	for _, c := range []struct {
		name, event, method string
		cfg, ecfg           map[string]any
		ok                  bool
	}{
		{"push webhook", "repo_push", "webhook", hook, nil, true},
		{"unknown event", "repo_pull", "webhook", hook, nil, false},
		{"unknown method", "repo_push", "carrier_pigeon", hook, nil, false},
		{"webhook without url", "repo_push", "webhook", map[string]any{}, nil, false},
		{"webhook ftp", "repo_push", "webhook", map[string]any{"url": "ftp://example.com"}, nil, false},
		{"bad ca", "repo_push", "webhook", map[string]any{"url": "https://x", "ca_cert": "nope"}, nil, false},
		{"slack", "build_success", "slack", map[string]any{"url": "https://hooks.slack.com/services/x"}, nil, true},
		{"email", "quota_warning", "email", map[string]any{"email": "a@example.com"}, nil, true},
		{"email missing", "quota_error", "email", map[string]any{}, nil, false},
		{"vuln level", "vulnerability_found", "webhook", hook, map[string]any{"level": "3"}, true},
		{"vuln bad level", "vulnerability_found", "webhook", hook, map[string]any{"level": "worst"}, false},
		{"expiry days", "repo_image_expiry", "webhook", hook, map[string]any{"days": 7.0}, true},
		{"expiry no days", "repo_image_expiry", "webhook", hook, map[string]any{}, false},
		{"mirror", "repo_mirror_sync_failed", "webhook", hook, nil, true},
	} {
		err := nf.Validate(ctx, f.repo, c.event, c.method, c.cfg, c.ecfg)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if err != nil && !core.IsCode(err, core.CodeInvalid) {
			t.Errorf("%s: err %v is not CodeInvalid", c.name, err)
		}
	}
}

func TestVulnerabilityLevelFilter(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	b, _ := json.Marshal(map[string]any{"url": srv.URL})
	n, err := f.db.CreateNotification(context.Background(), "alice/app", store.NewNotification{
		Event: "vulnerability_found", Method: "webhook", Config: b, EventConfig: json.RawMessage(`{"level": 2}`)})
	if err != nil {
		t.Fatal(err)
	}
	nf := notify.New(f.db, notify.Options{})
	for _, c := range []struct {
		priority string
		calls    int32
	}{{"Low", 0}, {"Medium", 0}, {"High", 1}, {"Critical", 2}} {
		data, _ := json.Marshal(map[string]any{"tags": []string{"latest"}, "vulnerability": map[string]any{"id": "CVE-1", "priority": c.priority}})
		if err := nf.Deliver(context.Background(), store.NotificationJob{UUID: n.UUID, Event: n.Event, Repository: "alice/app", Data: data}, 1); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != c.calls {
			t.Errorf("after %s: %d deliveries, want %d", c.priority, calls.Load(), c.calls)
		}
	}
}
