package store_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func TestRobotFederation(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testRobotFederation(t, openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{}))
	})
	t.Run("postgres", func(t *testing.T) {
		testRobotFederation(t, openPostgresDB(t, startPostgres(t), "federation"))
	})
}

func testRobotFederation(t *testing.T, db *store.DB) {
	ctx := context.Background()
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "owner@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrganization(ctx, "acme", "acme@example.com", owner.ID); err != nil {
		t.Fatal(err)
	}
	robot, err := db.CreateRobot(ctx, "acme", "ci", "sealed", "", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.RobotFederation(ctx, robot.ID)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("new robot federation = %v, %v; want an empty list", got, err)
	}
	want := []store.FederationEntry{
		{Issuer: "https://z.example.com", Subject: "repo:acme/app"},
		{Issuer: "https://a.example.com", Subject: "system:serviceaccount:ci:builder", Audience: "wharf"},
	}
	if err := db.SetRobotFederation(ctx, robot.ID, want); err != nil {
		t.Fatal(err)
	}
	if got, err = db.RobotFederation(ctx, robot.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("federation = %v, %v; want %v (in order)", got, err, want)
	}
	dup := append(want[:1:1], want[0])
	if err := db.SetRobotFederation(ctx, robot.ID, dup); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("duplicate entries: %v, want a conflict", err)
	}
	if got, _ = db.RobotFederation(ctx, robot.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("a refused update changed the entries: %v", got)
	}
	if err := db.SetRobotFederation(ctx, owner.ID, want); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("federation on a person: %v, want not found", err)
	}
	if err := db.SetRobotFederation(ctx, robot.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ = db.RobotFederation(ctx, robot.ID); len(got) != 0 {
		t.Fatalf("cleared federation = %v", got)
	}
	// Deleting the robot deletes its entries.
	if err := db.SetRobotFederation(ctx, robot.ID, want); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRobot(ctx, robot.Username); err != nil {
		t.Fatal(err)
	}
	again, err := db.CreateRobot(ctx, "acme", "ci", "sealed", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ = db.RobotFederation(ctx, again.ID); len(got) != 0 {
		t.Fatalf("a re-created robot inherited federation entries: %v", got)
	}
}
