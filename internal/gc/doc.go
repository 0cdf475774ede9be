// Package gc removes what nobody needs any more. For now: upload sessions idle
// longer than the configured expiration (their database row and their bytes),
// upload bytes the database does not know, and the upload bytes of deleted
// repositories. Its entry points (Expire, Sweep, DeletedRepository) are the
// bodies of background jobs, which app registers with internal/jobs; they are
// safe to run again after a failure. It imports store-facing interfaces it
// declares itself, blob and core; never the HTTP edges or the job queue.
package gc
