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
	Files      int // files and archive entries read
	Skipped    int // JSON that is no vulnerability record
	Added      int
	Updated    int
	Unchanged  int
	Older      int // records older than the stored copy
	Rescanned  int // manifests matched again
	Withdrawn  int // records marked withdrawn among those read
	Advisories int // records read
}

// importBatch is the number of records stored per transaction.
const importBatch = 500

// Import reads vulnerability data from files, directories and zip archives
// (vulndb.Walk), stores what is new or changed, and matches again the
// scanned manifests that have a package the changed records concern. It is
// idempotent: importing the same data again changes nothing and rescans
// nothing. A malformed record fails the import (records stored before it
// stay).
func (s *Service) Import(ctx context.Context, paths []string) (ImportStats, error) {
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
	err := vulndb.Walk(ctx, paths, func(name string, raw []byte) error {
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
	for _, d := range digests {
		if _, err := s.Rematch(ctx, d); err != nil {
			return st, fmt.Errorf("import: rescan %s: %w", d, err)
		}
		st.Rescanned++
	}
	return st, nil
}
