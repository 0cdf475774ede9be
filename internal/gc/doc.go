// Package gc removes what nobody needs any more. For now: upload sessions idle
// longer than the configured expiration (their database row and their bytes).
// It imports store-facing interfaces it declares itself, blob and core; never
// the HTTP edges.
package gc
