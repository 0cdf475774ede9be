// Package app wires Wharf together from a config.Config: the metadata store,
// the blob store, the HTTP edges and the background workers. cmd/wharf and the
// end-to-end tests use it; nothing else imports it.
package app
