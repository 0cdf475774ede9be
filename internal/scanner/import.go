package scanner

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharfhq/wharf/internal/store"
	"github.com/wharfhq/wharf/internal/vulndb"
)

// ImportStats says what an import did.
type ImportStats struct {
	Files     int // files and archive entries read
	Skipped   int // JSON that is no vulnerability record
	Added     int
	Updated   int
	Unchanged int
	Older     int // records older than the stored copy
	Rescanned int // manifests matched again, or queued to be (RescanQueued)
	// RescanQueued says the manifests are matched again by jobs
	// (store.JobScanRematch) rather than during the import.
	RescanQueued bool
	Withdrawn    int // records marked withdrawn among those read
	Advisories   int // records read
}

// importBatch is the number of records stored per transaction.
const importBatch = 500

// RematchBatch is the number of manifests one store.JobScanRematch job
// matches again.
const RematchBatch = 50

// Import reads vulnerability data from files, directories and zip archives
// (vulndb.Walk), stores what is new or changed, and has the scanned
// manifests that have a package the changed records concern matched again:
// when the store has a job queue, by the store.JobScanRematchKeys job it
// commits with the records (QueueRematchFor) and the store.JobScanRematch
// jobs of RematchBatch manifests that one queues; else before it returns. It is idempotent: importing the same
// data again changes nothing and rescans nothing. A malformed record fails
// the import (records stored before it stay).
func (s *Service) Import(ctx context.Context, paths []string) (ImportStats, error) {
	return s.importWith(ctx, func(fn func(name string, raw []byte) error) error {
		return vulndb.Walk(ctx, paths, fn)
	})
}

// importWith is Import over the records walk hands to its callback.
func (s *Service) importWith(ctx context.Context, walk func(fn func(name string, raw []byte) error) error) (ImportStats, error) {
	var st ImportStats
	var batch []store.VulnRecord
	changed := map[store.VulnKey]bool{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := s.meta.PutVulnerabilities(ctx, batch)
		if err != nil {
			return err
		}
		st.Added += res.Added
		st.Updated += res.Updated
		st.Unchanged += res.Unchanged
		st.Older += res.Older
		for _, k := range res.Changed {
			changed[k] = true
		}
		batch = batch[:0]
		return nil
	}
	err := walk(func(name string, raw []byte) error {
		st.Files++
		advs, err := vulndb.Decode(raw)
		if errors.Is(err, vulndb.ErrNotRecord) {
			st.Skipped++
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for i := range advs {
			a := &advs[i]
			st.Advisories++
			if a.IsWithdrawn() {
				st.Withdrawn++
			}
			rec, err := a.Encode()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			r := store.VulnRecord{ID: a.ID, Source: a.Source, Modified: a.Modified, Hash: a.Hash,
				Withdrawn: a.IsWithdrawn(), Record: rec}
			for _, k := range a.Keys() {
				r.Keys = append(r.Keys, store.VulnKey{Ecosystem: k.Ecosystem, Name: k.Name})
			}
			batch = append(batch, r)
		}
		if len(batch) >= importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st, fmt.Errorf("import: %w", err)
	}
	if len(changed) == 0 {
		return st, nil
	}
	keys := make([]store.VulnKey, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	digests, err := s.meta.ScannedManifestsWith(ctx, refsFor(keys))
	if err != nil {
		return st, fmt.Errorf("import: %w", err)
	}
	if s.meta.QueuesJobs() {
		// The store queued store.JobScanRematchKeys with the records:
		// the rescans happen in jobs, even if this process stops now.
		st.Rescanned, st.RescanQueued = len(digests), true
		return st, nil
	}
	for _, d := range digests {
		if _, err := s.Rematch(ctx, d); err != nil {
			return st, fmt.Errorf("import: rescan %s: %w", d, err)
		}
		st.Rescanned++
	}
	return st, nil
}

// QueueRematchFor works a store.JobScanRematchKeys job: it queues the
// rematch of the scanned manifests that have a package the keys concern,
// in store.JobScanRematch jobs of RematchBatch manifests, and returns how
// many manifests.
func (s *Service) QueueRematchFor(ctx context.Context, keys []store.VulnKey) (int, error) {
	digests, err := s.meta.ScannedManifestsWith(ctx, refsFor(keys))
	if err != nil {
		return 0, err
	}
	if _, err := s.meta.QueueRematch(ctx, digests, RematchBatch); err != nil {
		return 0, err
	}
	return len(digests), nil
}
