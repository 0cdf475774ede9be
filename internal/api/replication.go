package api

import (
	"net/http"

	"github.com/wharfhq/wharf/internal/store"
)

// Storage replication (FEATURE_STORAGE_REPLICATION). Quay keeps the extra
// locations of a namespace in its UserRegion table without an API; Wharf
// lets superusers read the replication state and set a namespace's
// locations:
//
//	GET /api/v1/superuser/storage/replication              per-location counts
//	GET /api/v1/superuser/storage/replication/{namespace}  a namespace's locations
//	PUT /api/v1/superuser/storage/replication/{namespace}  {"locations": [...]}
//
// With replication off they answer 404.
func (h *Handler) replicationRoutes() {
	h.rt.handle("GET", "/superuser/storage/replication", h.getReplicationStatus)
	h.rt.handle("GET", "/superuser/storage/replication/{namespace}", h.getNamespaceReplication)
	h.rt.handle("PUT", "/superuser/storage/replication/{namespace}", h.setNamespaceReplication)
}

type locationReplicationView struct {
	Name       string `json:"name"`
	Default    bool   `json:"default"`
	Configured bool   `json:"configured"`
	Present    int64  `json:"present"`
	Pending    int64  `json:"pending"`
	Failed     int64  `json:"failed"`
	Deleting   int64  `json:"deleting"`
}

func (h *Handler) getReplicationStatus(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	st, err := h.db.ReplicationStatus(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, replicationStatusView(st))
	return nil
}

func replicationStatusView(st store.ReplicationStatus) map[string]any {
	locs := make([]locationReplicationView, 0, len(st.Locations))
	for _, l := range st.Locations {
		locs = append(locs, locationReplicationView{Name: l.Location, Default: l.Default, Configured: l.Configured,
			Present: l.Present, Pending: l.Pending, Failed: l.Failed, Deleting: l.Deleting})
	}
	defaults := st.Defaults
	if defaults == nil {
		defaults = []string{}
	}
	return map[string]any{"enabled": true, "preferred_location": st.Local, "default_locations": defaults,
		"blobs": st.Blobs, "locations": locs}
}

func (h *Handler) getNamespaceReplication(w http.ResponseWriter, r *http.Request, p params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	locs, err := h.db.NamespaceStorageLocations(r.Context(), p["namespace"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespace": p["namespace"], "locations": locs})
	return nil
}

func (h *Handler) setNamespaceReplication(w http.ResponseWriter, r *http.Request, p params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	var req struct {
		Locations *[]string `json:"locations"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Locations == nil {
		return errInvalid("locations is required (a list of storage location names)")
	}
	if len(*req.Locations) > 100 {
		return errInvalid("too many locations")
	}
	if err := h.db.SetNamespaceStorageLocations(r.Context(), p["namespace"], *req.Locations); err != nil {
		return err
	}
	return h.getNamespaceReplication(w, r, p)
}
