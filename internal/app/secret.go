package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
)

// secretBox builds the at-rest encryption from DATABASE_SECRET_KEY, or from a
// key generated once into DATA_DIR/secret.key when none is configured.
func secretBox(cfg config.Config) (*auth.Box, error) {
	key := cfg.DatabaseSecretKey
	if key == "" {
		path := filepath.Join(cfg.DataDir, "secret.key")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			key = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			key = auth.RandomString(48, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return nil, fmt.Errorf("secret key: %w", err)
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return nil, fmt.Errorf("secret key: %w", err)
			}
			if _, err := f.WriteString(key + "\n"); err != nil {
				f.Close()
				return nil, fmt.Errorf("secret key: %w", err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, fmt.Errorf("secret key: %w", err)
			}
			if err := f.Close(); err != nil {
				return nil, fmt.Errorf("secret key: %w", err)
			}
		default:
			return nil, fmt.Errorf("secret key: %w", err)
		}
	}
	return auth.NewBox(key)
}
