package app

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wharfhq/wharf/internal/blob"
	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/blob/geo"
	blobs3 "github.com/wharfhq/wharf/internal/blob/s3"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/store"
)

// openBlobs opens the blob store of this process: the filesystem under
// DATA_DIR by default, or its preferred location from
// DISTRIBUTED_STORAGE_CONFIG (the first of DISTRIBUTED_STORAGE_PREFERENCE).
// With FEATURE_STORAGE_REPLICATION it opens every location and returns a
// *geo.Store over them, the preferred one first; a blob it has to read
// from another location is then copied to the local one by a job.
func openBlobs(cfg config.Config, log *slog.Logger, db *store.DB) (blob.Store, error) {
	if len(cfg.Storage) == 0 {
		return blobfs.New(filepath.Join(cfg.DataDir, "storage"))
	}
	if cfg.StorageReplication {
		var locs []geo.Location
		for _, name := range cfg.StorageLocationNames() {
			st, err := openLocation(name, cfg.Storage[name])
			if err != nil {
				return nil, err
			}
			locs = append(locs, geo.Location{Name: name, Store: st})
		}
		return geo.New(locs, geo.Options{Log: log, RemoteRead: localCopyRequester(db, log),
			DeleteFailed: deletionRecorder(db, log)})
	}
	name, loc, err := cfg.PrimaryStorage()
	if err != nil {
		return nil, err
	}
	return openLocation(name, loc)
}

// openLocation opens one LocalStorage or S3Storage location.
func openLocation(name string, loc config.StorageLocation) (blob.Store, error) {
	p := loc.Params
	switch loc.Driver {
	case config.DriverLocal:
		path := p["storage_path"]
		if path == "" {
			return nil, fmt.Errorf("storage location %q: LocalStorage needs storage_path", name)
		}
		return blobfs.New(path)
	case config.DriverS3:
		sc, err := s3Config(p)
		if err != nil {
			return nil, fmt.Errorf("storage location %q: %w", name, err)
		}
		return blobs3.New(sc)
	}
	return nil, fmt.Errorf("storage location %q: unsupported driver %q", name, loc.Driver)
}

// s3Config maps Quay's S3Storage parameters (plus Wharf's path_style,
// ca_cert_file, redirect_ttl, part_size and secure) onto the driver's.
func s3Config(p map[string]string) (blobs3.Config, error) {
	c := blobs3.Config{
		Bucket:     p["s3_bucket"],
		Prefix:     strings.Trim(p["storage_path"], "/"),
		AccessKey:  p["s3_access_key"],
		SecretKey:  p["s3_secret_key"],
		Region:     p["s3_region"],
		CACertFile: p["ca_cert_file"],
		Secure:     true,
	}
	if c.Bucket == "" {
		return c, fmt.Errorf("S3Storage needs s3_bucket")
	}
	if v, ok := p["secure"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("secure: %w", err)
		}
		c.Secure = b
	}
	switch {
	case p["endpoint_url"] != "":
		c.Endpoint = p["endpoint_url"]
	case p["host"] != "":
		c.Endpoint = p["host"]
		if port := p["port"]; port != "" {
			c.Endpoint = net.JoinHostPort(p["host"], port)
		}
	}
	if v := p["path_style"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("path_style: %w", err)
		}
		c.PathStyle = b
	}
	if v := p["redirect_ttl"]; v != "" {
		d, err := config.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("redirect_ttl: %w", err)
		}
		c.RedirectTTL = d
	}
	if v := p["part_size"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("part_size: %w", err)
		}
		c.PartSize = n
	}
	return c, nil
}
