// Package api serves Quay's REST API on /api/v1/: Quay's paths, JSON field
// names and semantics, and Quay's error shape, so Quay's documentation and
// tools work against Wharf. One file per resource; handlers decode and
// validate, check the caller's rights through auth, call the store, and
// encode.
//
// It imports auth, store, core, oci and httpx; never the registry or UI
// packages.
package api
