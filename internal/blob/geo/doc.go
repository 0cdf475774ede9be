// Package geo is a blob.Store over several named storage locations (Quay's
// DISTRIBUTED_STORAGE_CONFIG with FEATURE_STORAGE_REPLICATION), so the
// registry and garbage collection keep using one blob.Store:
//
//   - uploads and commits go to the local location (this process's
//     preferred one), so an upload session lives where it started;
//   - Stat and Open try the local location first and fall back to the others
//     in preference order, so a blob that has not been replicated yet, or
//     whose local copy is unreachable, is still served from elsewhere;
//   - Delete removes the blob from every location (garbage collection must
//     not leave copies behind).
//
// Replicate copies one blob to one location (verifying its digest); the
// replication jobs that decide what to copy, and the table recording which
// location holds which blob, live in internal/store and internal/app.
//
// A location that fails with anything but "blob unknown" is tried last for
// a short cool-down, so reads do not wait on an unreachable location each
// time. It imports only blob and core.
package geo
