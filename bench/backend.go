package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/s3test"
)

// scaleOutBackend starts a PostgreSQL server and an S3 server (versitygw)
// for wharf and writes a config that points wharf at them. stop shuts both
// down.
func scaleOutBackend(ctx context.Context, tmp string) (configPath string, stop func(), err error) {
	pg, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		return "", nil, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	dsn, err := pg.CreateDatabase(ctx, "wharf")
	if err != nil {
		pg.Stop()
		return "", nil, err
	}
	s3, err := s3test.Start(ctx)
	if err != nil {
		pg.Stop()
		return "", nil, fmt.Errorf("starting the S3 server (versitygw): %w", err)
	}
	stop = func() { s3.Stop(); pg.Stop() }
	if err := s3.NewBucket("wharf"); err != nil {
		stop()
		return "", nil, err
	}
	cfg := fmt.Sprintf(`DB_URI: %s
DATABASE_SECRET_KEY: benchmark-database-secret-key
DISTRIBUTED_STORAGE_CONFIG:
  default:
    - S3Storage
    - s3_bucket: wharf
      storage_path: /registry
      s3_access_key: %s
      s3_secret_key: %s
      s3_region: us-east-1
      endpoint_url: %s
      path_style: true
DISTRIBUTED_STORAGE_PREFERENCE: [default]
`, dsn, s3.AccessKey, s3.SecretKey, s3.URL())
	configPath = filepath.Join(tmp, "wharf-scaleout.yaml")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		stop()
		return "", nil, err
	}
	return configPath, stop, nil
}
