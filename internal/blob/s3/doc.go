// Package s3 is the S3 blob.Store driver (minio-go): blobs under
// <prefix>/blobs/<alg>/<2 hex>/<hex>, upload sessions under
// <prefix>/uploads/<id>/. A session lives entirely in the bucket, so a chunked
// upload started on one replica continues on any other:
//
//   - uploads/<id>/state.json records the session: the S3 multipart upload id,
//     its parts {number, etag, size}, the total size, the sha256 hash state of
//     the bytes so far (so a resumed upload never rehashes), and the name and
//     size of the tail object. Append rewrites it, in one PUT, after
//     everything else it writes; it is the only source of truth.
//   - uploads/<id>/data is the key of the multipart upload. Whenever the
//     buffered bytes fill a part (Config.PartSize; at the end of an Append,
//     5 MiB or more) they are uploaded as the next part, in the background
//     while the next part is read.
//   - uploads/<id>/tail-<random> holds the bytes that do not fill a part yet;
//     the next Append merges them with its own bytes. Each tail is written
//     once under a new name, so the state never points at bytes it did not
//     record.
//
// Commit verifies before anything is written under a blob key: with a sha256
// digest and an intact hash state the saved state decides; otherwise the
// content is read back and hashed. A tail-only session becomes the blob in one
// PutObject of the verified bytes. Otherwise the multipart upload is completed
// into uploads/<id>/data (tail as last part) and server-side copied to the blob
// key, pinned to the verified ETag; then the session is removed. S3 completes a
// multipart upload only at the key it was started for, which is unknown until
// Commit, hence the copy. A blob key therefore only ever holds bytes that match
// its name. A session whose completed data failed verification keeps it as its
// first bytes; a later Append copies them server-side into a new multipart
// upload.
//
// Multipart uploads lost without a Commit (a crash before the state was
// saved) are aborted by CancelUpload; a bucket lifecycle rule that aborts
// incomplete multipart uploads after a few days is a good second net.
//
// Optional abilities beyond blob.Store: blob.UploadLister (Uploads) and a
// redirect extension the registry may declare as
//
//	type Redirector interface {
//		RedirectURL(ctx context.Context, d digest.Digest) (string, error)
//	}
//
// RedirectURL returns a presigned GET URL valid for Config.RedirectTTL, or ""
// when redirects are disabled.
//
// It imports only blob and core (never the HTTP edges or the store).
package s3
