package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

var notificationTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"NotificationConfigs", testNotificationConfigs},
	{"NotificationDeliveries", testNotificationDeliveries},
	{"UserNotifications", testUserNotifications},
}

func notificationRepo(t *testing.T, db *store.DB) core.Repository {
	t.Helper()
	r, err := db.EnsureRepository(context.Background(), "acme/notified")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testNotificationConfigs(t *testing.T, db *store.DB) {
	ctx := context.Background()
	notificationRepo(t, db)
	n, err := db.CreateNotification(ctx, "acme/notified", store.NewNotification{Title: "hook", Event: "repo_push", Method: "webhook",
		Config: json.RawMessage(`{"url":"http://example.com"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if n.UUID == "" || n.Repository != "acme/notified" || string(n.EventConfig) != "{}" || n.NumberOfFailures != 0 {
		t.Fatalf("created %+v", n)
	}
	if _, err := db.CreateNotification(ctx, "acme/missing", store.NewNotification{Event: "repo_push", Method: "webhook"}); !core.IsCode(err, core.CodeNameUnknown) {
		t.Fatalf("missing repository: %v", err)
	}
	ns, err := db.Notifications(ctx, "acme/notified")
	if err != nil || len(ns) != 1 || ns[0].UUID != n.UUID || string(ns[0].Config) != `{"url":"http://example.com"}` {
		t.Fatalf("list = %+v, %v", ns, err)
	}
	if _, err := db.Notification(ctx, "other/repo", n.UUID); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("other repository's uuid: %v", err)
	}
	if got, err := db.Notification(ctx, "", n.UUID); err != nil || got.ID != n.ID {
		t.Fatalf("by uuid: %+v, %v", got, err)
	}
	// Without a job queue an emit is a no-op, not an error.
	if err := db.EmitNotification(ctx, "acme/notified", "repo_push", map[string]any{"updated_tags": []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteNotification(ctx, "acme/notified", n.UUID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteNotification(ctx, "acme/notified", n.UUID); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testNotificationDeliveries(t *testing.T, db *store.DB) {
	ctx := context.Background()
	notificationRepo(t, db)
	n, err := db.CreateNotification(ctx, "acme/notified", store.NewNotification{Event: "repo_push", Method: "webhook"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		f, err := db.RecordNotificationDelivery(ctx, n.ID, store.NotificationDelivery{Event: "repo_push", Attempt: i, Error: "boom"})
		if err != nil || f != i {
			t.Fatalf("failure %d: count %d, %v", i, f, err)
		}
	}
	// A test delivery does not change the count; a success resets it.
	if f, err := db.RecordNotificationDelivery(ctx, n.ID, store.NotificationDelivery{Event: "repo_push", Attempt: 1, Error: "x", Test: true}); err != nil || f != 2 {
		t.Fatalf("test delivery: %d, %v", f, err)
	}
	if f, err := db.RecordNotificationDelivery(ctx, n.ID, store.NotificationDelivery{Event: "repo_push", Attempt: 3, Success: true}); err != nil || f != 0 {
		t.Fatalf("success: %d, %v", f, err)
	}
	if _, err := db.RecordNotificationDelivery(ctx, n.ID, store.NotificationDelivery{Event: "repo_push", Attempt: 1, Error: "e"}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ResetNotificationFailures(ctx, "acme/notified", n.UUID); err != nil || got.NumberOfFailures != 0 {
		t.Fatalf("reset: %+v, %v", got, err)
	}
	// History keeps the last deliveries, newest first.
	for i := 0; i < 30; i++ {
		if _, err := db.RecordNotificationDelivery(ctx, n.ID, store.NotificationDelivery{Event: "repo_push", Attempt: 1, Success: true, Error: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := db.NotificationDeliveries(ctx, n.ID)
	if err != nil || len(ds) != 25 || ds[0].Error != "29" || !ds[0].Success || ds[24].Error != "5" {
		t.Fatalf("history: %d entries, first %+v, %v", len(ds), ds[0], err)
	}
}

func testUserNotifications(t *testing.T, db *store.DB) {
	ctx := context.Background()
	u, err := db.CreateUser(ctx, store.NewUser{Username: "notified", Email: "notified@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddUserNotifications(ctx, []int64{u.ID}, "repo_push", map[string]any{"repository": "a/b"}); err != nil {
		t.Fatal(err)
	}
	ns, err := db.UserNotifications(ctx, u.ID)
	if err != nil || len(ns) != 1 || ns[0].Kind != "repo_push" || string(ns[0].Metadata) != `{"repository":"a/b"}` || ns[0].Dismissed {
		t.Fatalf("user notifications = %+v, %v", ns, err)
	}
}
