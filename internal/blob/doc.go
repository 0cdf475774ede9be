// Package blob defines the content-addressed blob store contract (Store) and its
// errors. Drivers live in sub-packages (fs and s3); blobtest holds the
// conformance suite every driver must pass.
//
// A driver verifies every byte it commits against the digest it is committed as,
// so anything Open returns matches its digest. It imports only core and oci.
package blob
