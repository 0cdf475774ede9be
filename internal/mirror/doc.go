// Package mirror copies container content into Wharf from outside it:
// repository mirroring (Quay's repo mirror: a repository in state MIRROR
// follows an external repository's tags, run as durable jobs) and the
// air-gapped workflow (export of repositories to an OCI image layout, and
// import of such a layout into another Wharf). Organization mirroring
// (orgmirror.go) adds repository mirrors for the repositories an upstream
// namespace has or gains. Within one sync a blob that several tags share
// is fetched once (the other tags wait for that fetch).
//
// Everything is written through the store and the blob store directly, with
// the validation of a push, from the same code a push uses: manifests are
// verified and parsed by oci.VerifyManifest, their quay.* labels read by
// oci.ManifestLabels, their rows built by store.ManifestPut; blob bytes are
// verified against their digest while they are committed, and quota
// applies. Copies are idempotent: what is already present is
// linked, not fetched again, so a failed sync or import simply runs again.
//
// A mirror writes as its robot: the robot must belong to the repository's
// namespace and hold write on it when the sync runs, and a blob already
// stored in another repository is linked (not downloaded) only when the
// robot may read that repository; otherwise its bytes are fetched from the
// upstream and verified, so an upstream manifest cannot name its way into
// content it could not read.
//
// It imports store, blob, oci, core and auth (the at-rest encryption of the
// upstream credentials); never the HTTP edges or the job queue.
package mirror
