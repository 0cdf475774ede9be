package app

import (
	"net/http"

	"github.com/wharfhq/wharf/internal/ui"
)

// mountUI serves the web UI at / (index.html for its routes, /static/ for
// its assets). More specific patterns (/v2/, /api/v1/, /oauth2/…, health
// and metrics) keep their handlers.
func mountUI(mux *http.ServeMux) error {
	h, err := ui.New()
	if err != nil {
		return err
	}
	mux.Handle("/", h)
	return nil
}
