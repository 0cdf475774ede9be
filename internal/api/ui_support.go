package api

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Endpoints the web UI needs beyond the ones Quay's tools use: the UI's
// settings, and Quay's manifest, label and (a Wharf extension) referrer
// views of a repository's manifests. Authorization is the same as for the
// tag API: read access to the repository.
func (h *Handler) uiSupportRoutes() {
	h.rt.handle("GET", "/ui/config", h.uiConfig)
	h.rt.handle("GET", "/repository/{repo}/manifest/{digest}", h.getManifest)
	h.rt.handle("GET", "/repository/{repo}/manifest/{digest}/labels", h.manifestLabels)
	h.rt.handle("GET", "/repository/{repo}/manifest/{digest}/referrers", h.manifestReferrers)
}

// uiConfig tells the web UI which sign-in methods and features are on and
// whether the first user still has to be created. It is public: the sign-in
// page needs it.
func (h *Handler) uiConfig(w http.ResponseWriter, r *http.Request, _ params) error {
	needsSetup := false
	if h.opts.UserInitialize {
		n, err := h.db.CountUsers(r.Context())
		if err != nil {
			return err
		}
		needsSetup = n == 0
	}
	providers := []map[string]string{}
	if h.opts.OIDC != nil {
		for _, p := range h.opts.OIDC.Providers() {
			providers = append(providers, map[string]string{"name": p.Name, "display_name": p.DisplayName,
				"login_url": "/oauth2/" + p.Name + "/authorize"})
		}
	}
	state := "normal"
	if err := h.authz.RegistryWritable(r.Context()); err != nil {
		if !core.IsCode(err, core.CodeReadOnly) {
			return err
		}
		state = "readonly"
	}
	base := h.baseURL(r)
	host := h.opts.Hostname
	if host == "" {
		host = r.Host
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"features": map[string]bool{
			"DIRECT_LOGIN":        h.opts.DirectLogin,
			"USER_CREATION":       h.opts.UserCreation && h.opts.DirectLogin,
			"USER_INITIALIZE":     h.opts.UserInitialize,
			"SECURITY_SCANNER":    h.opts.Security != nil,
			"APP_SPECIFIC_TOKENS": h.opts.AppTokens,
			"NOTIFICATIONS":       h.opts.Notifications != nil,
		},
		"needs_setup":      needsSetup,
		"anonymous_access": h.authz.Policy().AnonymousAccess,
		"server_hostname":  host,
		"base_url":         base,
		"registry_state":   state,
		"oidc_providers":   providers,
	})
	return nil
}

// uiManifest loads a live manifest of a repository the caller may read.
func (h *Handler) uiManifest(r *http.Request, p params) (string, core.Manifest, error) {
	name, err := repoName(p)
	if err != nil {
		return "", core.Manifest{}, err
	}
	id := caller(r)
	if err := requireScope(id, auth.ScopeRepoRead); err != nil {
		return "", core.Manifest{}, err
	}
	if _, err := h.requireRepoRole(r.Context(), id, name, core.RoleRead); err != nil {
		return "", core.Manifest{}, err
	}
	d, err := oci.ParseDigest(p["digest"])
	if err != nil {
		return "", core.Manifest{}, errNotFound("manifest not found")
	}
	m, err := h.db.Manifest(r.Context(), name, oci.Reference{Digest: d})
	if err != nil {
		if core.IsCode(err, core.CodeManifestUnknown) || core.IsCode(err, core.CodeNameUnknown) {
			return "", core.Manifest{}, errNotFound("manifest not found")
		}
		return "", core.Manifest{}, err
	}
	return name, m, nil
}

// manifestSummary is what the manifest view reads from a stored manifest:
// the layers of an image, or the platforms of an index.
type manifestSummary struct {
	Layers    []manifestLayer    `json:"layers"`
	Platforms []manifestPlatform `json:"platforms"`
}

type manifestLayer struct {
	Index     int    `json:"index"`
	Digest    string `json:"blob_digest"`
	Size      int64  `json:"compressed_size"`
	MediaType string `json:"media_type"`
}

type manifestPlatform struct {
	Digest       string `json:"digest"`
	MediaType    string `json:"media_type"`
	Size         int64  `json:"size"`
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
	OSVersion    string `json:"os_version,omitempty"`
}

// summarizeManifest reads layers and platforms from raw manifest JSON. The
// bytes were validated on push; anything unexpected gives an empty summary.
func summarizeManifest(raw []byte) manifestSummary {
	var doc struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int64  `json:"size"`
		} `json:"layers"`
		Manifests []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int64  `json:"size"`
			Platform  *struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
				Variant      string `json:"variant"`
				OSVersion    string `json:"os.version"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	out := manifestSummary{Layers: []manifestLayer{}, Platforms: []manifestPlatform{}}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return out
	}
	for i, l := range doc.Layers {
		out.Layers = append(out.Layers, manifestLayer{Index: i, Digest: l.Digest, Size: l.Size, MediaType: l.MediaType})
	}
	for _, m := range doc.Manifests {
		p := manifestPlatform{Digest: m.Digest, MediaType: m.MediaType, Size: m.Size}
		if m.Platform != nil {
			p.OS, p.Architecture, p.Variant, p.OSVersion = m.Platform.OS, m.Platform.Architecture, m.Platform.Variant, m.Platform.OSVersion
		}
		out.Platforms = append(out.Platforms, p)
	}
	return out
}

// getManifest is Quay's GET /repository/{repo}/manifest/{manifestref},
// with the platforms of an index added.
func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, p params) error {
	_, m, err := h.uiManifest(r, p)
	if err != nil {
		return err
	}
	sum := summarizeManifest(m.Content)
	isList := oci.IsIndexType(m.MediaType)
	v := map[string]any{
		"digest":            string(m.Digest),
		"is_manifest_list":  isList,
		"manifest_data":     string(m.Content),
		"media_type":        m.MediaType,
		"config_media_type": nilIfEmpty(m.ConfigMediaType),
		"artifact_type":     nilIfEmpty(m.ArtifactType),
		"size":              m.Size,
		"created":           m.CreatedAt.Unix(),
		"layers":            nil,
		"platforms":         sum.Platforms,
	}
	if !isList {
		v["layers"] = sum.Layers
	}
	if m.Subject != "" {
		v["subject"] = string(m.Subject)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// manifestLabels is Quay's GET …/manifest/{manifestref}/labels: the
// manifest's annotations, as labels whose source is the manifest.
func (h *Handler) manifestLabels(w http.ResponseWriter, r *http.Request, p params) error {
	_, m, err := h.uiManifest(r, p)
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("filter")
	keys := make([]string, 0, len(m.Annotations))
	for k := range m.Annotations {
		if filter == "" || len(k) >= len(filter) && k[:len(filter)] == filter {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	labels := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		labels = append(labels, map[string]any{"id": k, "key": k, "value": m.Annotations[k],
			"source_type": "manifest", "media_type": "text/plain"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"labels": labels})
	return nil
}

// manifestReferrers lists the manifests whose subject is this manifest
// (signatures, SBOMs, attestations), optionally of one artifactType.
func (h *Handler) manifestReferrers(w http.ResponseWriter, r *http.Request, p params) error {
	name, m, err := h.uiManifest(r, p)
	if err != nil {
		return err
	}
	descs, err := h.db.Referrers(r.Context(), name, digest.Digest(m.Digest), r.URL.Query().Get("artifactType"))
	if err != nil {
		return err
	}
	if descs == nil {
		descs = []core.Descriptor{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"referrers": descs})
	return nil
}
