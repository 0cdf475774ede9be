// Package registry serves the OCI distribution API (spec 1.1) and Docker
// registry v2 on /v2/. Handlers are thin: parse and validate the request, call
// the metadata store and the blob store, write the response. Errors are
// translated once, in errors.go, to the spec's codes and statuses.
//
// It imports core, oci, blob, store (for parameter types) and httpx; never the
// REST API or UI packages.
package registry
