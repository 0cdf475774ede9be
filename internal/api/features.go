package api

import (
	"net/http"

	"github.com/wharfhq/wharf/internal/core"
)

// FeatureDisabled answers the endpoints of a feature that is switched off
// (FEATURE_AUTO_PRUNE, FEATURE_QUOTA_MANAGEMENT, ...) with Quay's 404
// error, naming the setting: Quay hides such endpoints.
func (h *Handler) FeatureDisabled(setting string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, core.Errorf(core.CodeNotFound, "This endpoint is not enabled on this registry (%s is off)", setting))
	})
}
