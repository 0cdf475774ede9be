package app

import (
	"context"
	"fmt"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// CreateUser creates a person (wharf admin create-user). An empty password
// generates one, which is returned.
func (a *App) CreateUser(ctx context.Context, name, email, password string, superuser bool) (string, error) {
	if err := oci.ValidateNamespace(name); err != nil {
		return "", err
	}
	generated := ""
	if password == "" {
		password = auth.RandomString(24, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
		generated = password
	}
	if len(password) < 8 {
		return "", core.Errorf(core.CodeInvalid, "passwords must be at least 8 characters")
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	if _, err := a.db.CreateUser(ctx, store.NewUser{Username: name, Email: email, PasswordHash: hash, Superuser: superuser}); err != nil {
		return "", fmt.Errorf("create user %s: %w", name, err)
	}
	return generated, nil
}

// RotateSigningKey starts signing registry tokens with a new key (wharf admin
// rotate-keys); tokens signed by the old key stay valid until they expire.
func (a *App) RotateSigningKey(ctx context.Context) (string, error) {
	return a.keys.Rotate(ctx)
}
