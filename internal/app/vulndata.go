package app

import (
	"context"
	"net/http"

	"github.com/wharfhq/wharf/internal/jobs"
)

// Periodic download of vulnerability data (VULNERABILITY_DATA_SOURCES):
// off by default, for air-gapped installs.

// jobVulnDataUpdate downloads the configured sources and imports what
// changed; the import queues the rescans (store.JobScanRematch).
const jobVulnDataUpdate = "vulndb_update"

// updateVulnerabilityData is the body of jobVulnDataUpdate.
func (a *App) updateVulnerabilityData(ctx context.Context, _ jobs.Job) error {
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	st, err := a.scanner.Download(ctx, a.db, client, a.cfg.VulnerabilityDataSources)
	a.log.Info("vulnerability data update", "sources", st.Sources, "not_modified", st.NotModified, "downloaded", st.Downloaded,
		"failed", st.Failed, "added", st.Import.Added, "updated", st.Import.Updated, "rescans_queued", st.Import.Rescanned)
	if err != nil {
		// Recorded per source; the next period tries again.
		a.log.Warn("vulnerability data update failed", "err", err)
	}
	return nil
}

// vulnDataWorkers adds the download job when sources are configured.
func (a *App) vulnDataWorkers(w *jobs.Workers) {
	if len(a.cfg.VulnerabilityDataSources) == 0 {
		return
	}
	w.Handlers[jobVulnDataUpdate] = a.updateVulnerabilityData
	w.Periodic = append(w.Periodic, jobs.Periodic{Kind: jobVulnDataUpdate, Interval: a.cfg.VulnerabilityDataInterval.Std()})
}
