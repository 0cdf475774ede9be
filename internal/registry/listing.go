package registry

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// pageParams parses the n and last query parameters of a listing. n < 0 means
// no n was given.
func (h *Handler) pageParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	n = -1
	if v := q.Get("n"); v != "" {
		n, err = strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, "", &statusError{http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid n"}
		}
		n = min(n, h.opts.MaxListPage)
	}
	return n, last, nil
}

// nextLink sets the Link header for the next page when the page is full.
func nextLink(w http.ResponseWriter, path string, n int, items []string) {
	if n <= 0 || len(items) < n {
		return
	}
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", items[len(items)-1])
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last, err := h.pageParams(r)
	if err != nil {
		return err
	}
	var names []string
	if n == 0 {
		if _, err := h.meta.Repository(r.Context(), rt.name); err != nil {
			return err
		}
		names = []string{}
	} else if names, err = h.meta.Tags(r.Context(), rt.name, last, n); err != nil {
		return err
	}
	nextLink(w, "/v2/"+rt.name+"/tags/list", n, names)
	return writeJSON(w, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, names})
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, _ route) error {
	n, last, err := h.pageParams(r)
	if err != nil {
		return err
	}
	names := []string{}
	if n != 0 {
		f, err := h.catalogFilter(r.Context())
		if err != nil {
			return err
		}
		f.After, f.Limit = last, max(n, 0)
		repos, err := h.meta.ListRepositories(r.Context(), f)
		if err != nil {
			return err
		}
		for _, repo := range repos {
			names = append(names, repo.FullName)
		}
	}
	nextLink(w, "/v2/_catalog", n, names)
	return writeJSON(w, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{names})
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := oci.ParseDigest(rt.arg)
	if err != nil {
		return err
	}
	artifactType := r.URL.Query().Get("artifactType")
	descs, err := h.meta.Referrers(r.Context(), rt.name, d, artifactType)
	if err != nil && !core.IsCode(err, core.CodeNameUnknown) {
		return err
	}
	if descs == nil {
		descs = []core.Descriptor{}
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, http.StatusOK, oci.MediaTypeOCIIndex, struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []core.Descriptor `json:"manifests"`
	}{2, oci.MediaTypeOCIIndex, descs})
}
