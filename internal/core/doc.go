// Package core holds Wharf's domain types and its error type. It imports only the
// standard library and the OCI type packages; every other package may import it.
package core
