package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func TestExternalLogins(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testExternalLogins(t, openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{}))
	})
	t.Run("postgres", func(t *testing.T) {
		testExternalLogins(t, openPostgresDB(t, startPostgres(t), "externallogins"))
	})
}

func testExternalLogins(t *testing.T, db *store.DB) {
	ctx := context.Background()
	if _, err := db.ExternalLoginUser(ctx, "corp", "sub-1"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("unlinked identity: %v, want not found", err)
	}
	// "alice" is taken by a person and "alice0" by an organization: the
	// third candidate is used.
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "alice", Email: "owner@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrganization(ctx, "alice0", "alice0@example.com", owner.ID); err != nil {
		t.Fatal(err)
	}
	login := store.ExternalLogin{Provider: "corp", Subject: "sub-1", Issuer: "https://idp.example.com", Username: "alice"}
	u, created, err := db.CreateExternalUser(ctx, store.NewExternalUser{
		Usernames: []string{"alice", "alice0", "alice1"}, Email: "alice@corp.example", Superuser: true, Login: login,
	})
	if err != nil || !created {
		t.Fatalf("CreateExternalUser: %v", err)
	}
	if u.Username != "alice1" || u.Email != "alice@corp.example" || !u.Superuser || u.PasswordHash != "" || !u.Enabled {
		t.Fatalf("created %+v", u)
	}
	if _, err := db.Namespace(ctx, "alice1"); err != nil {
		t.Fatalf("the new user has no namespace: %v", err)
	}
	got, err := db.ExternalLoginUser(ctx, "corp", "sub-1")
	if err != nil || got.ID != u.ID {
		t.Fatalf("ExternalLoginUser = %+v, %v", got, err)
	}
	// The same subject at another provider is another identity.
	if _, err := db.ExternalLoginUser(ctx, "other", "sub-1"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("other provider: %v", err)
	}
	// A second creation for a linked identity returns the linked person.
	again, created, err := db.CreateExternalUser(ctx, store.NewExternalUser{Usernames: []string{"someone"}, Login: login})
	if err != nil || again.ID != u.ID || created {
		t.Fatalf("second CreateExternalUser = %+v, %v, %v", again, created, err)
	}
	if _, err := db.User(ctx, "someone"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("a user was created for a linked identity: %v", err)
	}

	// No free name, or a taken email, is a conflict and creates nothing.
	if _, _, err := db.CreateExternalUser(ctx, store.NewExternalUser{Usernames: []string{"alice", "alice0"},
		Login: store.ExternalLogin{Provider: "corp", Subject: "sub-2"}}); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("no free name: %v", err)
	}
	if _, _, err := db.CreateExternalUser(ctx, store.NewExternalUser{Usernames: []string{"bob"}, Email: "owner@example.com",
		Login: store.ExternalLogin{Provider: "corp", Subject: "sub-2"}}); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("taken email: %v", err)
	}
	if _, err := db.User(ctx, "bob"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("a failed creation left a user: %v", err)
	}
	if _, err := db.ExternalLoginUser(ctx, "corp", "sub-2"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("a failed creation left a link: %v", err)
	}
	if _, _, err := db.CreateExternalUser(ctx, store.NewExternalUser{Usernames: []string{"x1"}}); !core.IsCode(err, core.CodeInvalid) {
		t.Fatalf("no provider: %v", err)
	}

	// Linking an existing person; one identity per provider and person.
	if err := db.LinkExternalLogin(ctx, store.ExternalLogin{UserID: owner.ID, Provider: "corp", Subject: "sub-3"}); err != nil {
		t.Fatalf("LinkExternalLogin: %v", err)
	}
	if err := db.LinkExternalLogin(ctx, store.ExternalLogin{UserID: owner.ID, Provider: "corp", Subject: "sub-4"}); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("second identity at one provider: %v", err)
	}
	if err := db.LinkExternalLogin(ctx, store.ExternalLogin{UserID: owner.ID, Provider: "other", Subject: "sub-1"}); err != nil {
		t.Fatalf("identity at another provider: %v", err)
	}
	if err := db.LinkExternalLogin(ctx, store.ExternalLogin{UserID: 99999, Provider: "x", Subject: "y"}); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("missing user: %v", err)
	}
	ls, err := db.ExternalLogins(ctx, owner.ID)
	if err != nil || len(ls) != 2 || ls[0].Provider != "corp" || ls[0].Subject != "sub-3" || ls[1].Provider != "other" {
		t.Fatalf("ExternalLogins = %+v, %v", ls, err)
	}
	if err := db.UnlinkExternalLogin(ctx, owner.ID, "corp"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExternalLoginUser(ctx, "corp", "sub-3"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("unlinked identity still resolves: %v", err)
	}

	// Deleting the person removes their links.
	if err := db.DeleteUser(ctx, "alice1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExternalLoginUser(ctx, "corp", "sub-1"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("deleted user's identity still resolves: %v", err)
	}
}
