package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
	"github.com/wharfhq/wharf/internal/vulndb"
)

// Sources is what downloading needs from the metadata store: the state of
// each source.
type Sources interface {
	VulnSource(ctx context.Context, url string) (store.VulnSource, error)
	PutVulnSource(ctx context.Context, s store.VulnSource) error
}

// MaxDownloadSize bounds one downloaded file (osv.dev's largest
// per-ecosystem archive is well under it).
const MaxDownloadSize = 4 << 30

// DownloadStats says what Download did, per source and in total.
type DownloadStats struct {
	Sources     int // sources asked
	NotModified int // answered 304 Not Modified
	Downloaded  int // downloaded and imported
	Failed      int
	Import      ImportStats // what the imports did, added up
}

// Download fetches each source URL (an OSV zip archive such as osv.dev's
// <ecosystem>/all.zip, or an OSV, Debian tracker or CSAF JSON file) with a
// conditional request (If-None-Match / If-Modified-Since from the last
// download) and imports what changed, which queues the rescans of the
// manifests it concerns (Import). A source that fails is recorded and
// skipped; the others go on, and the failures are returned together.
func (s *Service) Download(ctx context.Context, src Sources, client *http.Client, urls []string) (DownloadStats, error) {
	var st DownloadStats
	var errs []error
	for _, u := range urls {
		st.Sources++
		is, changed, err := s.downloadOne(ctx, src, client, u)
		switch {
		case err != nil:
			st.Failed++
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
		case !changed:
			st.NotModified++
		default:
			st.Downloaded++
			st.Import.add(is)
		}
	}
	return st, errors.Join(errs...)
}

func (st *ImportStats) add(o ImportStats) {
	st.Files += o.Files
	st.Skipped += o.Skipped
	st.Added += o.Added
	st.Updated += o.Updated
	st.Unchanged += o.Unchanged
	st.Older += o.Older
	st.Rescanned += o.Rescanned
	st.Withdrawn += o.Withdrawn
	st.Advisories += o.Advisories
	st.RescanQueued = st.RescanQueued || o.RescanQueued
}

func (s *Service) downloadOne(ctx context.Context, src Sources, client *http.Client, u string) (ImportStats, bool, error) {
	prev, err := src.VulnSource(ctx, u)
	if err != nil && !core.IsCode(err, core.CodeNotFound) {
		return ImportStats{}, false, err
	}
	now := time.Now()
	rec := store.VulnSource{URL: u, ETag: prev.ETag, LastModified: prev.LastModified, CheckedAt: now}
	is, changed, ferr := s.fetchAndImport(ctx, client, u, prev, &rec)
	if ferr != nil {
		rec.Error = ferr.Error()
	} else if changed {
		rec.ChangedAt = now
	}
	if err := src.PutVulnSource(context.WithoutCancel(ctx), rec); err != nil {
		return is, changed, errors.Join(ferr, err)
	}
	return is, changed, ferr
}

// fetchAndImport downloads u (conditionally on prev) to a temporary file
// and imports it; rec gets the new validators once the import succeeded.
func (s *Service) fetchAndImport(ctx context.Context, client *http.Client, u string, prev store.VulnSource, rec *store.VulnSource) (ImportStats, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ImportStats{}, false, err
	}
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		return ImportStats{}, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return ImportStats{}, false, nil
	case http.StatusOK:
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return ImportStats{}, false, fmt.Errorf("GET: HTTP %d", resp.StatusCode)
	}
	f, err := os.CreateTemp(s.opts.TempDir, "vulndb-*")
	if err != nil {
		return ImportStats{}, false, fmt.Errorf("spool download: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	n, err := io.Copy(f, io.LimitReader(resp.Body, MaxDownloadSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ImportStats{}, false, fmt.Errorf("download: %w", err)
	}
	if n > MaxDownloadSize {
		return ImportStats{}, false, fmt.Errorf("download: larger than %d bytes", int64(MaxDownloadSize))
	}
	// vulndb.Walk reads a file by its extension: name it after what it is.
	ext := ".json"
	if isZip(name) {
		ext = ".zip"
	}
	named := name + ext
	if err := os.Rename(name, named); err != nil {
		return ImportStats{}, false, fmt.Errorf("spool download: %w", err)
	}
	defer os.Remove(named)
	is, err := s.importWith(ctx, func(fn func(string, []byte) error) error {
		return vulndb.Walk(ctx, []string{named}, func(entry string, raw []byte) error {
			return fn(sourceName(u, named, entry), raw)
		})
	})
	if err != nil {
		return is, false, err
	}
	rec.ETag, rec.LastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	return is, true, nil
}

// sourceName names a record's origin in errors after the URL rather than
// the temporary file.
func sourceName(u, file, entry string) string {
	p := u
	if pu, err := url.Parse(u); err == nil {
		p = pu.Host + pu.Path
	}
	if rest, ok := strings.CutPrefix(entry, file); ok {
		return path.Clean(p) + rest
	}
	return p
}

func isZip(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false
	}
	return bytes.Equal(magic[:], []byte("PK\x03\x04"))
}
