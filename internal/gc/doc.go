// Package gc removes what nobody needs any more: upload sessions idle longer
// than the configured expiration (their database row and their bytes), upload
// bytes the database does not know, the upload bytes of deleted repositories,
// expired tags, and — online, while pushes continue — unreachable manifests
// and unreferenced blobs (Collector). Its entry points are the bodies of
// background jobs, which app registers with internal/jobs; they are safe to
// run again after a failure. It imports store-facing interfaces it declares
// itself, store's option and result types, blob and core; never the HTTP
// edges or the job queue.
//
// # Online garbage collection
//
// Reachability. A manifest is kept while any of these holds: a current tag
// points at it (immutable tags are always current); a tag row pointing at it
// ended, or expired, within its namespace's time-machine window; an index of
// the same repository lists it as a child (manifest_children, by digest); it
// is a referrer whose subject is a manifest of the same repository; it was
// pushed (or pushed again) less than the grace period ago. Otherwise its row,
// its references and its history rows go. A blob is kept while any manifest
// of any repository references it (manifest_blobs) or while a repository link
// to it is younger than the grace period; otherwise its links and its row go,
// and then its bytes. A link of a referenced blob to a repository none of
// whose manifests references it goes once older than the grace period.
//
// Cost proportional to the garbage. Nothing scans live data. Candidates sit
// in two queues (gc_manifest_queue, gc_blob_queue) with the time of the event
// that made them candidates: the store queues a manifest when it is pushed,
// and a blob when it is linked (upload, mount) or unlinked; the collector
// queues the blobs, children and referrers of each manifest it removes, and
// the manifest of each tag row whose window has passed (found through the
// tags_ended index, oldest end first). A run takes one batch (500) of tag rows
// and due manifests in one transaction, then one batch of due blobs in
// another; a candidate that is still reachable simply leaves the queue, to be
// queued again by the next event that could make it garbage. One caveat: the
// history scan walks ended tag rows in order of their end and skips those
// still inside a (longer) namespace window, so those rows are looked at again
// each run until their window passes.
//
// Never racing a push. Every decision is made inside a write transaction that
// first checks again what made the candidate due. On SQLite writes are
// serialized (one writer connection, BEGIN IMMEDIATE), so a push and a GC
// batch never interleave. On PostgreSQL row locks order them:
//   - PutManifest takes FOR KEY SHARE on each referenced blob's row before it
//     reads the repository link; the collector takes FOR UPDATE SKIP LOCKED on
//     the blob row before it looks for references. A blob a push holds is
//     skipped (it stays queued); a push that waits for the collector's lock
//     reads the link afterwards in a new statement and, if the collector
//     removed it, answers MANIFEST_BLOB_UNKNOWN instead of storing a dangling
//     reference. Inserting manifest_blobs takes the same KEY SHARE lock through
//     its foreign key.
//   - PutManifest takes FOR NO KEY UPDATE on an existing manifest row (a
//     re-push or a revival) and queues it again; the collector takes FOR
//     UPDATE SKIP LOCKED on the manifest row and only then consumes its queue
//     entry if it is still due, so a manifest pushed again moments ago waits
//     for another grace period, and a push that waited for a removal finds no
//     row and stores the manifest anew.
//   - The collector never waits for a lock (SKIP LOCKED), so it cannot
//     deadlock with pushes.
//
// Grace. A blob uploaded or mounted moments before its manifest arrives is
// safe because the link queues the blob with the link's time and the blob is
// not examined before the grace period (GARBAGE_COLLECTION_GRACE, default
// 1h) has passed; a manifest pushed by digest (an index's child, a referrer
// that arrives before its subject) is protected the same way.
//
// Bytes after the commit. The collector deletes a blob's row (and links) in
// the transaction, and its bytes only after the commit, after checking that
// no row for the digest was created again meanwhile. A crash between the
// commit and the byte deletion leaves bytes without a row: never served,
// harmless, and left to a sweep of unreferenced storage, which does not exist
// yet. What remains is a narrow window: an identical upload whose bytes land
// and whose row commits between that check and the deletion loses its bytes
// (the upload would have to verify its bytes after its commit to close it).
//
// Read-only. The periodic job does nothing while the registry is read-only.
package gc
