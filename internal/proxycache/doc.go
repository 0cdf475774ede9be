// Package proxycache is the pull-through cache of proxy-cache organizations
// (Quay's FEATURE_PROXY_CACHE): an organization configured with an upstream
// registry ("docker.io", "quay.io/someorg") serves org/<path> from the
// upstream's <prefix>/<path>, storing what it fetches.
//
// Rules:
//   - A manifest or blob missing locally is fetched upstream once however
//     many pulls ask for it at the same time: once per process (single flight
//     per repository and digest or tag), and once across the replicas sharing
//     the database as a best effort (a renewed fetch lease in the database,
//     lease.go; the others wait for the stored result). Should two replicas
//     still both fetch an item, that is harmless: stored content is
//     addressed by its digest.
//   - A fetched manifest, its tag, its tag's cache state and its blobs not
//     fetched yet ("pending") are stored in one transaction
//     (store.PutProxiedManifest): a crash never leaves a cached manifest
//     whose blobs the cache does not know it may fetch. A blob's bytes are
//     committed before its rows; a blob found stored is linked, not fetched.
//   - Blobs stream to the first client while they are written to the blob
//     store, and are kept only when their size and digest verify. Only blobs
//     that a cached manifest of the repository references are fetched.
//     Pulls arriving during the download stream along from a bounded
//     in-memory window (fanout.go); a Range request on a cold blob is
//     served from storage once the blob is stored (exact bytes, 206).
//   - The repository is created (private) by its first pull.
//   - Manifests by tag are revalidated (HEAD) once expiration_s has passed
//     since the last check; the cached copy is served while the upstream is
//     unreachable or failing. A tag the upstream answers 404 for is removed
//     from the cache (as Quay does) and the pull answers MANIFEST_UNKNOWN.
//     Manifests by digest and blobs never change.
//   - Tags are cached as seen with an Accept header taking every manifest
//     kind; a client not accepting the tag's kind gets the upstream's answer
//     to its own Accept header, stored by digest (accept.go).
//   - Upstream hosts can be restricted to an allowlist, and connections to
//     internal addresses refused (guard.go).
//   - When a blob would take the organization over its quota's reject
//     threshold, the least recently pulled tags are evicted until it fits.
//
// It implements registry.Upstream (and api.ProxyCache) and is wired by app.
// It imports store, blob, oci, core and auth (to open sealed upstream
// passwords), and the go-containerregistry transport for upstream
// authentication (basic, and the bearer token flow of Docker Hub and
// others); never the HTTP edges.
package proxycache
