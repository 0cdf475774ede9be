// Package e2e holds end-to-end tests: they build the real wharf binary, start it on
// loopback ports with throw-away data directories, and drive it with real clients
// (go-containerregistry, crane, skopeo, oras, regctl, podman, buildah) and the OCI
// conformance runner.
//
// Tools that are not installed make a test skip, unless WHARF_E2E_REQUIRE=1 is set
// (the project's test script sets it after installing them), in which case they fail.
// It imports nothing from internal/ except through the binary's command line.
package e2e
