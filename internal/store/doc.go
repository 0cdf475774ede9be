// Package store owns all SQL: the schema (embedded, forward-only migrations that
// run unchanged on SQLite and PostgreSQL), and one file per resource with the
// queries for it. Every public method is one transaction.
//
// Queries are written with '?' placeholders; the dialect rebinds them for
// PostgreSQL. Timestamps are Unix milliseconds in BIGINT columns. It imports only
// core and oci.
package store
