package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
	"github.com/wharfhq/wharf/internal/vulndb"
)

// Metadata is what the scanner needs from the metadata store.
type Metadata interface {
	Manifest(ctx context.Context, repo string, ref oci.Reference) (core.Manifest, error)

	LayerScan(ctx context.Context, d digest.Digest) (store.LayerScan, error)
	PutLayerScan(ctx context.Context, l store.LayerScan) error
	QueueManifestScan(ctx context.Context, d digest.Digest, repo string) error
	PutManifestScan(ctx context.Context, s store.ManifestScan) error
	ManifestScan(ctx context.Context, d digest.Digest) (store.ManifestScan, error)
	ManifestScans(ctx context.Context, status string, after digest.Digest, limit int) ([]store.ManifestScan, error)
	ScannedManifestsWith(ctx context.Context, refs []store.PackageRef) ([]digest.Digest, error)
	QueueRematch(ctx context.Context, digests []digest.Digest, batch int) (bool, error)
	QueuesJobs() bool

	PutVulnerabilities(ctx context.Context, recs []store.VulnRecord) (store.VulnImport, error)
	VulnerabilitiesFor(ctx context.Context, keys []store.VulnKey) ([][]byte, error)
}

// Options tunes a Service.
type Options struct {
	// TempDir is where layer files are spooled while indexing ("": the
	// system's temporary directory).
	TempDir string
	// OnScan, when set, is told the outcome of each scan job (a
	// core.Scan* status, or "error" when the job will be retried) and how
	// long it took; OnMatch how long each matching of a composed image
	// (a scan's or a rescan's) took. For metrics.
	OnScan  func(status string, d time.Duration)
	OnMatch func(d time.Duration)
}

// Service indexes and matches manifests and imports vulnerability data.
type Service struct {
	meta  Metadata
	blobs blob.Store
	log   *slog.Logger
	ix    *Indexer
	opts  Options
	// layerLocks serialises indexing of the same layer by concurrent scans.
	mu         sync.Mutex
	layerLocks map[digest.Digest]*sync.Mutex
}

// New builds the scanner.
func New(meta Metadata, blobs blob.Store, log *slog.Logger, opts Options) (*Service, error) {
	ix, err := NewIndexer(opts.TempDir)
	if err != nil {
		return nil, err
	}
	return &Service{meta: meta, blobs: blobs, log: log, ix: ix, opts: opts,
		layerLocks: map[digest.Digest]*sync.Mutex{}}, nil
}

// Enqueue records that a pushed manifest waits for a scan. The store
// enqueues the scan job (store.JobScanManifest) in the same transaction,
// when it has a job queue; a worker then calls Work.
func (s *Service) Enqueue(ctx context.Context, repo string, d digest.Digest) error {
	return s.meta.QueueManifestScan(ctx, d, repo)
}

// Work runs one scan job. A scan whose outcome is recorded (scanned,
// unsupported, or failed on an unreadable layer) is done: only an error
// that leaves the manifest queued is returned, for the job to be tried
// again.
func (s *Service) Work(ctx context.Context, repo string, d digest.Digest) error {
	start := time.Now()
	r, err := s.ScanManifest(ctx, repo, d)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if st, serr := s.meta.ManifestScan(ctx, d); serr == nil && st.Status != core.ScanQueued {
			s.log.Error("scan manifest", "repository", repo, "digest", string(d), "status", st.Status, "err", err)
			s.observeScan(st.Status, start)
			return nil
		}
		s.observeScan("error", start)
		return err
	}
	s.observeScan(r.Status, start)
	n := 0
	for _, p := range r.Packages {
		n += len(p.Vulnerabilities)
	}
	s.log.Info("scanned manifest", "repository", repo, "digest", string(d), "status", r.Status,
		"packages", len(r.Packages), "vulnerabilities", n, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// Requeue queues again the manifests still marked queued whose status has
// not changed for olderThan (their job was lost: queued before scans were
// jobs, or given up after its last attempt), which enqueues a new scan job
// for each, and returns how many.
func (s *Service) Requeue(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	var after digest.Digest
	n := 0
	for {
		page, err := s.meta.ManifestScans(ctx, core.ScanQueued, after, 100)
		if err != nil {
			return n, err
		}
		for _, m := range page {
			if m.UpdatedAt.After(cutoff) {
				continue
			}
			if err := s.meta.QueueManifestScan(ctx, m.Digest, m.Repository); err != nil {
				return n, fmt.Errorf("requeue scan %s: %w", m.Digest, err)
			}
			n++
		}
		if len(page) < 100 {
			return n, nil
		}
		after = page[len(page)-1].Digest
	}
}

// layerMediaTypes are the layer types the indexer reads.
var layerMediaTypes = []string{
	"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}

// ScanManifest indexes the manifest's layers (reusing stored layer
// indexes), matches its packages and stores the report. Indexes (manifest
// lists) and artifacts whose layers are not image layers are marked
// unsupported, as Quay does; their image manifests are scanned on their
// own. A failure to read or index a layer marks the scan failed and is
// returned.
func (s *Service) ScanManifest(ctx context.Context, repo string, d digest.Digest) (core.SecurityReport, error) {
	m, err := s.meta.Manifest(ctx, repo, oci.Reference{Digest: d})
	if core.IsCode(err, core.CodeManifestUnknown) || core.IsCode(err, core.CodeNameUnknown) {
		// Deleted since it was queued: settle the scan so sweeps stop
		// retrying it.
		_, ferr := s.finish(ctx, repo, d, nil, core.ScanFailed, "manifest is no longer in "+repo, nil, nil)
		return core.SecurityReport{}, errors.Join(err, ferr)
	}
	if err != nil {
		return core.SecurityReport{}, err
	}
	parsed, err := oci.ParseManifest(m.MediaType, m.Content)
	if err != nil {
		return s.finish(ctx, repo, d, nil, core.ScanUnsupported, err.Error(), nil, nil)
	}
	if parsed.IsIndex() || len(parsed.Layers) == 0 {
		return s.finish(ctx, repo, d, nil, core.ScanUnsupported, "", nil, nil)
	}
	var layers []indexedLayer
	var digests []digest.Digest
	for _, l := range parsed.Layers {
		if !isLayerType(l.MediaType) {
			return s.finish(ctx, repo, d, nil, core.ScanUnsupported, "", nil, nil)
		}
		idx, err := s.layerIndex(ctx, l.Digest)
		if err != nil {
			if ctx.Err() != nil {
				return core.SecurityReport{}, ctx.Err()
			}
			_, ferr := s.finish(ctx, repo, d, nil, core.ScanFailed, err.Error(), nil, nil)
			return core.SecurityReport{}, errors.Join(err, ferr)
		}
		layers = append(layers, indexedLayer{Digest: l.Digest, Index: idx})
		digests = append(digests, l.Digest)
	}
	img := compose(layers)
	return s.match(ctx, repo, d, digests, img)
}

func isLayerType(mt string) bool {
	for _, t := range layerMediaTypes {
		if mt == t {
			return true
		}
	}
	return false
}

func (s *Service) observeScan(status string, start time.Time) {
	if s.opts.OnScan != nil {
		s.opts.OnScan(status, time.Since(start))
	}
}

// match matches a composed image and stores the report.
func (s *Service) match(ctx context.Context, repo string, d digest.Digest, layers []digest.Digest, img Image) (core.SecurityReport, error) {
	if s.opts.OnMatch != nil {
		defer func(start time.Time) { s.opts.OnMatch(time.Since(start)) }(time.Now())
	}
	var keys []store.VulnKey
	seen := map[vulndb.PackageKey]bool{}
	for _, p := range img.Packages {
		for _, q := range targetFor(p, img.Distro).queries {
			for _, k := range keysOf(q) {
				if !seen[k] {
					seen[k] = true
					keys = append(keys, store.VulnKey{Ecosystem: k.Ecosystem, Name: k.Name})
				}
			}
		}
	}
	recs, err := s.meta.VulnerabilitiesFor(ctx, keys)
	if err != nil {
		return core.SecurityReport{}, err
	}
	byKey := map[vulndb.PackageKey][]*vulndb.Advisory{}
	for _, raw := range recs {
		a, err := vulndb.DecodeStored(raw)
		if err != nil {
			return core.SecurityReport{}, fmt.Errorf("stored advisory: %w", err)
		}
		for _, k := range a.Keys() {
			if seen[k] {
				byKey[k] = append(byKey[k], &a)
			}
		}
	}
	return s.finish(ctx, repo, d, layers, core.ScanScanned, "", &img, byKey)
}

// finish stores the outcome of a scan and returns the report.
func (s *Service) finish(ctx context.Context, repo string, d digest.Digest, layers []digest.Digest, status, msg string,
	img *Image, byKey map[vulndb.PackageKey][]*vulndb.Advisory) (core.SecurityReport, error) {
	r := core.SecurityReport{Manifest: d, Status: status, Error: msg, ScannedAt: time.Now().UTC().Truncate(time.Millisecond)}
	var report []byte
	if img != nil {
		if img.Distro != nil {
			r.DistroName, r.DistroVersion = img.Distro.Name, img.Distro.VersionID
		}
		r.Packages = matchPackages(*img, byKey)
		b, err := json.Marshal(r)
		if err != nil {
			return r, fmt.Errorf("encode report: %w", err)
		}
		report = b
	}
	err := s.meta.PutManifestScan(ctx, store.ManifestScan{Digest: d, Repository: repo, Status: status, Error: msg,
		Report: report, Layers: layers})
	return r, err
}

// layerIndex returns the stored index of a layer, indexing it first when
// there is none (or one from another indexer version).
func (s *Service) layerIndex(ctx context.Context, d digest.Digest) (LayerIndex, error) {
	lock := s.layerLock(d)
	lock.Lock()
	defer lock.Unlock()
	if st, err := s.meta.LayerScan(ctx, d); err == nil && st.IndexerVersion == IndexerVersion {
		return decodeLayerScan(st)
	} else if err != nil && !core.IsCode(err, core.CodeNotFound) {
		return LayerIndex{}, err
	}
	rc, _, err := s.blobs.Open(ctx, d)
	if err != nil {
		return LayerIndex{}, fmt.Errorf("open layer %s: %w", d, err)
	}
	defer rc.Close()
	idx, err := s.ix.Index(ctx, rc)
	if err != nil {
		return LayerIndex{}, fmt.Errorf("index layer %s: %w", d, err)
	}
	st, err := encodeLayerScan(d, idx)
	if err != nil {
		return LayerIndex{}, err
	}
	if err := s.meta.PutLayerScan(ctx, st); err != nil {
		return LayerIndex{}, err
	}
	return idx, nil
}

func (s *Service) layerLock(d digest.Digest) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layerLocks[d]
	if !ok {
		if len(s.layerLocks) > 4096 {
			// Locks only matter while a layer is being indexed; an
			// old entry dropped here at worst lets a layer be indexed
			// twice.
			clear(s.layerLocks)
		}
		l = &sync.Mutex{}
		s.layerLocks[d] = l
	}
	return l
}

// layerContent is the part of a LayerIndex kept outside the package rows.
type layerContent struct {
	Files     []string          `json:"files,omitempty"`
	Whiteouts []string          `json:"whiteouts,omitempty"`
	Opaque    []string          `json:"opaque,omitempty"`
	OSRelease map[string]string `json:"os_release,omitempty"`
}

func encodeLayerScan(d digest.Digest, idx LayerIndex) (store.LayerScan, error) {
	b, err := json.Marshal(layerContent{Files: idx.Files, Whiteouts: idx.Whiteouts, Opaque: idx.Opaque, OSRelease: idx.OSRelease})
	if err != nil {
		return store.LayerScan{}, fmt.Errorf("encode layer index: %w", err)
	}
	st := store.LayerScan{Digest: d, IndexerVersion: IndexerVersion, Content: b}
	for _, p := range idx.Packages {
		st.Packages = append(st.Packages, store.LayerPackage{Type: p.Type, Name: p.Name, Version: p.Version,
			SourceName: p.SourceName, SourceVersion: p.SourceVersion, Path: p.Path})
	}
	return st, nil
}

func decodeLayerScan(st store.LayerScan) (LayerIndex, error) {
	var c layerContent
	if err := json.Unmarshal(st.Content, &c); err != nil {
		return LayerIndex{}, fmt.Errorf("decode layer index %s: %w", st.Digest, err)
	}
	idx := LayerIndex{Files: c.Files, Whiteouts: c.Whiteouts, Opaque: c.Opaque, OSRelease: c.OSRelease}
	for _, p := range st.Packages {
		idx.Packages = append(idx.Packages, Package{Type: p.Type, Name: p.Name, Version: p.Version,
			SourceName: p.SourceName, SourceVersion: p.SourceVersion, Path: p.Path})
	}
	return idx, nil
}

// Report returns the stored report of a manifest: status queued when it
// has never been scanned.
func (s *Service) Report(ctx context.Context, d digest.Digest) (core.SecurityReport, error) {
	st, err := s.meta.ManifestScan(ctx, d)
	if core.IsCode(err, core.CodeNotFound) {
		return core.SecurityReport{Manifest: d, Status: core.ScanQueued}, nil
	}
	if err != nil {
		return core.SecurityReport{}, err
	}
	r := core.SecurityReport{Manifest: d, Status: st.Status, Error: st.Error}
	if st.Status == core.ScanScanned && len(st.Report) > 0 {
		if err := json.Unmarshal(st.Report, &r); err != nil {
			return core.SecurityReport{}, fmt.Errorf("decode report: %w", err)
		}
	}
	return r, nil
}

// Rematch matches a scanned manifest again from its stored layer indexes
// (after new vulnerability data), without reading any blob.
func (s *Service) Rematch(ctx context.Context, d digest.Digest) (core.SecurityReport, error) {
	st, err := s.meta.ManifestScan(ctx, d)
	if err != nil {
		return core.SecurityReport{}, err
	}
	if st.Status != core.ScanScanned {
		return s.ScanManifest(ctx, st.Repository, d)
	}
	var layers []indexedLayer
	for _, l := range st.Layers {
		ls, err := s.meta.LayerScan(ctx, l)
		if err != nil || ls.IndexerVersion != IndexerVersion {
			// The layer index is gone or outdated: scan from the blobs.
			return s.ScanManifest(ctx, st.Repository, d)
		}
		idx, err := decodeLayerScan(ls)
		if err != nil {
			return core.SecurityReport{}, err
		}
		layers = append(layers, indexedLayer{Digest: l, Index: idx})
	}
	return s.match(ctx, st.Repository, d, st.Layers, compose(layers))
}

// RescanAll matches every scanned manifest again and returns how many.
func (s *Service) RescanAll(ctx context.Context) (int, error) {
	var after digest.Digest
	n := 0
	for {
		page, err := s.meta.ManifestScans(ctx, core.ScanScanned, after, 100)
		if err != nil {
			return n, err
		}
		for _, m := range page {
			if _, err := s.Rematch(ctx, m.Digest); err != nil {
				return n, fmt.Errorf("rescan %s: %w", m.Digest, err)
			}
			n++
		}
		if len(page) < 100 {
			return n, nil
		}
		after = page[len(page)-1].Digest
	}
}

// refsFor maps vulnerability keys to the layer package rows they concern.
func refsFor(keys []store.VulnKey) []store.PackageRef {
	var out []store.PackageRef
	for _, k := range keys {
		base, _, _ := strings.Cut(k.Ecosystem, ":")
		var typ string
		switch base {
		case "Go":
			typ = "golang"
			if k.Name == "stdlib" {
				out = append(out, store.PackageRef{Type: typ, Name: "stdlib"})
				continue
			}
		case "npm":
			typ = "npm"
		case "PyPI", "Maven":
			// Stored names are as the package spells them, the keys
			// normalised: concern every package of the kind.
			out = append(out, store.PackageRef{Type: strings.ToLower(base)})
			continue
		case "Debian", "Ubuntu":
			typ = "deb"
		case "Alpine":
			typ = "apk"
		case "Red Hat", "Rocky Linux", "AlmaLinux":
			typ = "rpm"
		default:
			continue
		}
		out = append(out, store.PackageRef{Type: typ, Name: k.Name})
	}
	return out
}

// RematchDigests works one store.JobScanRematch job: each manifest is
// matched again (safe to repeat); one that is gone is skipped.
func (s *Service) RematchDigests(ctx context.Context, digests []digest.Digest) error {
	for _, d := range digests {
		if _, err := s.Rematch(ctx, d); err != nil {
			if core.IsCode(err, core.CodeNotFound) {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("rescan %s: %w", d, err)
		}
	}
	return nil
}
