package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

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
	h.rt.handle("GET", "/ui/namespace/{namespace}/usage", h.uiNamespaceUsage)
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
		// The time-machine windows a namespace may choose
		// (TAG_EXPIRATION_OPTIONS) and the default (DEFAULT_TAG_EXPIRATION),
		// in seconds.
		"tag_expiration_options":   expirationSeconds(h.opts.TagExpirationOptions),
		"default_tag_expiration_s": int64(h.opts.TagExpirationDefault / time.Second),
		// The caller, so that the UI need not ask GET /user/ (a 401 the
		// browser logs) when nobody is signed in.
		"signed_in": !caller(r).IsAnonymous(),
	})
	return nil
}

func expirationSeconds(ds []time.Duration) []int64 {
	out := make([]int64, 0, len(ds))
	for _, d := range ds {
		out = append(out, int64(d/time.Second))
	}
	return out
}

// uiNamespaceUsage reports a namespace's storage use and quota, Quay's
// quota_report shape: to the user whose namespace it is, to members of an
// organization, and to superusers.
func (h *Handler) uiNamespaceUsage(w http.ResponseWriter, r *http.Request, p params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := requireScope(id, auth.ScopeUserRead); err != nil {
		return err
	}
	ns := p["namespace"]
	if ns != id.User.Username && !id.Superuser {
		role, err := h.authz.NamespaceRole(r.Context(), id, ns)
		if err != nil {
			return err
		}
		if role == "" {
			return errForbidden()
		}
	}
	report, err := h.quotaReport(r.Context(), ns)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) || core.IsCode(err, core.CodeNameUnknown) {
			return errNotFound("namespace not found")
		}
		return err
	}
	writeJSON(w, http.StatusOK, report)
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

// BlobReader reads the bytes of a stored blob, at most limit of them (the
// image config whose labels the labels view lists). A blob that is not
// stored answers an error with core.CodeBlobUnknown. app wires it to the
// blob store; nil lists only a manifest's annotations.
type BlobReader interface {
	ReadBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error)
}

// Image config media types whose Labels are a manifest's labels.
const (
	mediaTypeOCIImageConfig    = "application/vnd.oci.image.config.v1+json"
	mediaTypeDockerImageConfig = "application/vnd.docker.container.image.v1+json"
)

// maxImageConfigSize bounds the image config read for its labels.
const maxImageConfigSize = 8 << 20

// imageConfigRef returns the digest of an image manifest's config blob when
// it is an image config (OCI or Docker) of a readable size; ok is false for
// an index, an artifact or content that is not a manifest.
func imageConfigRef(content []byte) (d digest.Digest, ok bool) {
	var doc struct {
		Config *struct {
			MediaType string        `json:"mediaType"`
			Digest    digest.Digest `json:"digest"`
			Size      int64         `json:"size"`
		} `json:"config"`
	}
	if err := json.Unmarshal(content, &doc); err != nil || doc.Config == nil {
		return "", false
	}
	c := doc.Config
	if c.MediaType != mediaTypeOCIImageConfig && c.MediaType != mediaTypeDockerImageConfig ||
		c.Size < 0 || c.Size > maxImageConfigSize || c.Digest.Validate() != nil {
		return "", false
	}
	return c.Digest, true
}

// parseConfigLabels reads config.Labels from an image config; anything
// that is not such JSON has no labels.
func parseConfigLabels(raw []byte) map[string]string {
	var cfg struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if json.Unmarshal(raw, &cfg) != nil {
		return nil
	}
	return cfg.Config.Labels
}

// configLabels returns the config.Labels of an image manifest's config
// blob. An index, an artifact, a config that is not stored (a sparse or
// not yet cached image) or is not JSON has none; a storage failure is an
// error.
func (h *Handler) configLabels(ctx context.Context, m core.Manifest) (map[string]string, error) {
	if h.opts.Blobs == nil || oci.IsIndexType(m.MediaType) {
		return nil, nil
	}
	d, ok := imageConfigRef(m.Content)
	if !ok {
		return nil, nil
	}
	raw, err := h.opts.Blobs.ReadBlob(ctx, d, maxImageConfigSize)
	if core.IsCode(err, core.CodeBlobUnknown) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseConfigLabels(raw), nil
}

// manifestLabels is Quay's GET …/manifest/{manifestref}/labels: an image's
// config labels (config.Labels of its config blob) overlaid by the
// manifest's annotations, as Quay reads them; an index or artifact has its
// annotations only. Every label's source is the manifest.
func (h *Handler) manifestLabels(w http.ResponseWriter, r *http.Request, p params) error {
	_, m, err := h.uiManifest(r, p)
	if err != nil {
		return err
	}
	merged, err := h.configLabels(r.Context(), m)
	if err != nil {
		return err
	}
	all := make(map[string]string, len(merged)+len(m.Annotations))
	for k, v := range merged {
		all[k] = v
	}
	for k, v := range m.Annotations {
		all[k] = v
	}
	filter := r.URL.Query().Get("filter")
	keys := make([]string, 0, len(all))
	for k := range all {
		if strings.HasPrefix(k, filter) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	labels := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		labels = append(labels, map[string]any{"id": k, "key": k, "value": all[k],
			"source_type": "manifest", "media_type": labelMediaType(all[k])})
	}
	writeJSON(w, http.StatusOK, map[string]any{"labels": labels})
	return nil
}

// labelMediaType is Quay's guess of a label value's type: JSON objects and
// arrays are application/json, everything else text/plain.
func labelMediaType(v string) string {
	t := strings.TrimSpace(v)
	if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
		return "application/json"
	}
	return "text/plain"
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
