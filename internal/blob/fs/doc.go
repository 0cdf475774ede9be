// Package fs is the filesystem blob.Store driver: blobs under
// <root>/blobs/<alg>/<2 hex>/<hex>, upload sessions under <root>/uploads/<id>/.
// Writes go to the session file, are fsync'd, verified against their digest and
// renamed into place, so a crash at any instant leaves either no blob or a
// complete, verified one. It imports only blob, core and oci.
package fs
