// Package oci holds the pure functions of the OCI distribution and image specs that
// Wharf needs: digests, repository names and references, media types, manifest and
// index parsing, and the Content-Range / Range headers of the blob API. It does no
// I/O. Every parser here reads untrusted input and has a fuzz test.
//
// It imports only the standard library, go-digest, image-spec and core.
package oci
