package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Meta is what a sync needs from the store.
type Meta interface {
	Content
	CurrentTags(ctx context.Context, repo string) (map[string]digest.Digest, error)
	DeleteTag(ctx context.Context, repo, tag string) error
	RepositoryAccess(ctx context.Context, userID int64, repo string) (store.Access, error)
	ClaimDueMirrors(ctx context.Context, lease time.Duration, limit int) (int, error)
	BeginMirrorSync(ctx context.Context, repoID int64, token string, lease time.Duration, first bool,
		data func(store.Mirror) any) (store.Mirror, bool, error)
	MirrorSyncHeld(ctx context.Context, repoID int64, token string) (bool, error)
	MirrorAttemptFailed(ctx context.Context, repoID int64, token, msg string) (int, error)
	FinishMirrorSync(ctx context.Context, repoID int64, token string, res store.MirrorResult) error
}

// DefaultLease is how long a claimed sync may run before the scheduler
// claims the mirror again (the older run then stops at its next tag).
const DefaultLease = time.Hour

// maxReferrerDepth bounds how deep referrers of referrers are followed.
const maxReferrerDepth = 3

// Syncer runs repository mirror syncs.
type Syncer struct {
	Meta  Meta
	Blobs blob.Store
	// Box opens the sealed upstream credentials.
	Box *auth.Box
	Log *slog.Logger
	// MaxBlobSize bounds one blob (0: no limit).
	MaxBlobSize int64
	// Lease is the claim's lease (0: DefaultLease).
	Lease time.Duration
}

// Report is what one sync did.
type Report struct {
	Synced      []string // tags now matching the upstream
	Failed      []string // tags that could not be copied
	Deleted     []string // local tags removed because the upstream has them no more
	BlobsCopied int      // blobs whose bytes were fetched
	Manifests   int      // manifests fetched
}

func (s *Syncer) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

// Schedule claims the mirrors whose sync is due and enqueues their jobs
// (the body of the periodic scheduling job).
func (s *Syncer) Schedule(ctx context.Context) error {
	n, err := s.Meta.ClaimDueMirrors(ctx, s.lease(), 100)
	if err != nil {
		return err
	}
	if n > 0 {
		s.Log.InfoContext(ctx, "mirror syncs scheduled", "count", n)
	}
	return nil
}

func message(m store.Mirror) string {
	return fmt.Sprintf("'%s' with tag pattern '%s'", m.ExternalReference, strings.Join(m.RuleValue, ","))
}

// Run is the body of store.JobMirrorSync. Upstream failures return an error
// (the queue retries; the next attempt resumes where this one stopped)
// until the mirror's retries are spent, when the sync ends as FAIL.
func (s *Syncer) Run(ctx context.Context, args store.MirrorSyncArgs, attempt int) error {
	m, ok, err := s.Meta.BeginMirrorSync(ctx, args.RepositoryID, args.Token, s.lease(), attempt <= 1,
		func(m store.Mirror) any { return map[string]any{"message": message(m)} })
	if err != nil || !ok {
		return err
	}
	log := s.Log.With("repository", m.Repository, "upstream", m.ExternalReference)
	rep, err := s.Sync(ctx, m, args.Token)
	if errors.Is(err, errCancelled) {
		log.InfoContext(ctx, "mirror sync cancelled")
		return nil
	}
	data := map[string]any{"message": message(m), "tags": nonNil(rep.Synced)}
	res := store.MirrorResult{Status: store.MirrorSuccess, TagsSynced: len(rep.Synced), TagsFailed: len(rep.Failed), Data: data}
	if err != nil && ctx.Err() != nil {
		// The job's time ran out or the worker is stopping: the retry
		// resumes where this attempt stopped and costs no retry.
		log.InfoContext(ctx, "mirror sync interrupted; it will resume", "err", err)
		return err
	}
	if err != nil {
		left, ferr := s.Meta.MirrorAttemptFailed(ctx, m.RepositoryID, args.Token, err.Error())
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		if left > 0 {
			log.WarnContext(ctx, "mirror sync attempt failed; it will be retried", "err", err, "retries_left", left)
			return err
		}
		log.WarnContext(ctx, "mirror sync failed", "err", err)
		res.Status, res.Error = store.MirrorFail, err.Error()
		data["error"] = err.Error()
	} else if len(rep.Failed) > 0 {
		res.Status, res.Error = store.MirrorFail, "tags failed: "+strings.Join(rep.Failed, ", ")
		data["error"] = res.Error
	}
	log.InfoContext(ctx, "mirror sync finished", "status", res.Status, "tags_synced", len(rep.Synced),
		"tags_failed", len(rep.Failed), "tags_deleted", len(rep.Deleted), "blobs_copied", rep.BlobsCopied)
	return s.Meta.FinishMirrorSync(ctx, m.RepositoryID, args.Token, res)
}

// syncRun is the state of one sync.
type syncRun struct {
	s    *Syncer
	m    store.Mirror
	up   Upstream
	opts []remote.Option
	w    *Writer
	mu   sync.Mutex // guards rep, seen and blobs
	rep  *Report
	seen map[digest.Digest]bool
	// blobs are the blobs made available in the repository during this
	// sync, or being made so: the tags copied at once share one download
	// of a blob they have in common.
	blobs map[digest.Digest]*blobFlight
}

// blobFlight is one blob being made available; done is closed when err is
// set.
type blobFlight struct {
	done chan struct{}
	err  error
}

// tagWorkers is how many tags a sync copies at once.
const tagWorkers = 4

// Sync copies the mirror's matching upstream tags into its repository
// (only what is missing), moves tags that moved upstream, and removes the
// tags the upstream no longer has (when configured). token, when not
// empty, must keep holding the sync (checked between tags).
func (s *Syncer) Sync(ctx context.Context, m store.Mirror, token string) (Report, error) {
	var rep Report
	if m.RobotID == 0 {
		return rep, errorf("no robot account is configured")
	}
	acc, err := s.Meta.RepositoryAccess(ctx, m.RobotID, m.Repository)
	if err != nil {
		return rep, err
	}
	if core.RoleRank(acc.Role) < core.RoleRank(core.RoleWrite) {
		return rep, errorf("robot %s may not write to %s", m.RobotUsername, m.Repository)
	}
	// Writes are the robot's: the audit log names it as the performer.
	ctx = core.WithActor(ctx, core.Actor{UserID: m.RobotID, Username: m.RobotUsername, Kind: core.UserKindRobot, Auth: "robot"})
	user, pass, err := s.credentials(m)
	if err != nil {
		return rep, err
	}
	cfg, err := ParseRegistryConfig(m.RegistryConfig)
	if err != nil {
		return rep, err
	}
	up, err := NewUpstream(m.ExternalReference, user, pass, cfg)
	if err != nil {
		return rep, err
	}
	opts, err := up.options(ctx)
	if err != nil {
		return rep, err
	}
	robot := m.RobotID
	r := &syncRun{s: s, m: m, up: up, opts: opts, rep: &rep, seen: map[digest.Digest]bool{}, blobs: map[digest.Digest]*blobFlight{},
		w: &Writer{Meta: s.Meta, Blobs: s.Blobs, MaxBlobSize: s.MaxBlobSize, CanRead: func(ctx context.Context, repo string) bool {
			a, err := s.Meta.RepositoryAccess(ctx, robot, repo)
			return err == nil && (core.RoleRank(a.Role) >= core.RoleRank(core.RoleRead) || a.Repo.Visibility == core.VisibilityPublic)
		}}}
	all, err := remote.List(up.Repository, opts...)
	if err != nil {
		return rep, errorf("listing upstream tags: %w", err)
	}
	var wanted []string
	for _, t := range all {
		if MatchTag(m.RuleValue, t) && oci.ValidateTag(t) == nil {
			wanted = append(wanted, t)
		}
	}
	sort.Strings(wanted)
	local, err := s.Meta.CurrentTags(ctx, m.Repository)
	if err != nil {
		return rep, err
	}
	if err := r.syncTags(ctx, wanted, local, token); err != nil {
		return rep, err
	}
	sort.Strings(rep.Synced)
	sort.Strings(rep.Failed)
	if m.DeleteObsoleteTags {
		// As Quay: every current tag the upstream (filtered) does not have
		// goes.
		var names []string
		for name := range local {
			if !slices.Contains(wanted, name) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			err := s.Meta.DeleteTag(ctx, m.Repository, name)
			if err != nil && !core.IsCode(err, core.CodeManifestUnknown) && !core.IsCode(err, core.CodeNotFound) {
				if contentError(err) {
					rep.Failed = append(rep.Failed, name)
					continue
				}
				return rep, err
			}
			rep.Deleted = append(rep.Deleted, name)
		}
	}
	return rep, nil
}

// contentError reports whether err concerns one tag's content (it fails
// that tag) rather than the upstream or Wharf being unavailable (it fails
// the attempt, which is retried).
func contentError(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 400 && te.StatusCode < 500 && te.StatusCode != http.StatusTooManyRequests &&
			te.StatusCode != http.StatusUnauthorized
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce.Code != core.CodeUnavailable && ce.Code != core.CodeNameUnknown
	}
	return false
}

func (s *Syncer) credentials(m store.Mirror) (user, pass string, err error) {
	if m.UsernameEnc != "" {
		if user, err = s.Box.Open(m.UsernameEnc); err != nil {
			return "", "", errorf("opening the upstream username: %w", err)
		}
	}
	if m.PasswordEnc != "" {
		if pass, err = s.Box.Open(m.PasswordEnc); err != nil {
			return "", "", errorf("opening the upstream password: %w", err)
		}
	}
	return user, pass, nil
}

// syncTags syncs tags with a few workers: the round trips to the upstream
// and the durable writes of one tag overlap with the others'. The first
// error that is not about one tag's content stops the sync.
func (r *syncRun) syncTags(ctx context.Context, tags []string, local map[string]digest.Digest, token string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	var wg sync.WaitGroup
	var firstErr error
	for range min(tagWorkers, len(tags)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tag := range next {
				err := r.syncTag(ctx, tag, local[tag])
				r.mu.Lock()
				switch {
				case err == nil:
					r.rep.Synced = append(r.rep.Synced, tag)
				case contentError(err):
					r.s.Log.WarnContext(ctx, "mirror: tag not copied", "repository", r.m.Repository, "tag", tag, "err", err)
					r.rep.Failed = append(r.rep.Failed, tag)
				case firstErr == nil:
					firstErr = errorf("tag %s: %w", tag, err)
					cancel()
				}
				r.mu.Unlock()
			}
		}()
	}
	var err error
feed:
	for _, tag := range tags {
		if token != "" {
			held, herr := r.s.Meta.MirrorSyncHeld(ctx, r.m.RepositoryID, token)
			if herr != nil {
				err = herr
				break
			}
			if !held {
				err = errCancelled
				break
			}
		}
		select {
		case next <- tag:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// syncTag makes tag point at the upstream's manifest.
func (r *syncRun) syncTag(ctx context.Context, tag string, local digest.Digest) error {
	desc, err := remote.Head(r.up.Repository.Tag(tag), r.opts...)
	if err != nil {
		return err
	}
	d := digest.Digest(desc.Digest.String())
	if d == local {
		if ok, err := r.w.HasManifest(ctx, r.m.Repository, d); err != nil || ok {
			if err != nil {
				return err
			}
			// Unchanged: only referrers attached since may be missing.
			return r.copyReferrers(ctx, d, 0)
		}
	}
	return r.copyManifest(ctx, d, []string{tag}, 0)
}

// copyManifest copies manifest d (with what it references) unless present,
// points tags at it, and copies its referrers.
func (r *syncRun) copyManifest(ctx context.Context, d digest.Digest, tags []string, depth int) error {
	repo := r.m.Repository
	has, err := r.w.HasManifest(ctx, repo, d)
	if err != nil {
		return err
	}
	if has {
		if len(tags) > 0 {
			cur, err := r.s.Meta.Manifest(ctx, repo, oci.Reference{Digest: d})
			if err != nil {
				return err
			}
			pm, err := ParseManifest(cur.Content, cur.MediaType, d)
			if err != nil {
				return err
			}
			if err := r.w.PutManifest(ctx, repo, cur.Content, pm, d, tags); err != nil {
				return err
			}
		}
		return r.copyReferrers(ctx, d, depth)
	}
	rd, err := remote.Get(r.up.Repository.Digest(d.String()), r.opts...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.rep.Manifests++
	r.mu.Unlock()
	pm, err := ParseManifest(rd.Manifest, string(rd.MediaType), d)
	if err != nil {
		return err
	}
	if pm.IsIndex() {
		for _, c := range pm.Manifests {
			if !r.platformWanted(c) {
				continue // the index is stored sparse
			}
			if err := r.copyManifest(ctx, c.Digest, nil, depth+1); err != nil {
				return err
			}
		}
	} else {
		for _, b := range pm.RequiredBlobs() {
			if err := r.ensureBlob(ctx, b); err != nil {
				return err
			}
		}
	}
	if err := r.w.PutManifest(ctx, repo, rd.Manifest, pm, d, tags); err != nil {
		return err
	}
	return r.copyReferrers(ctx, d, depth)
}

// ensureBlob makes blob b available in the mirror's repository once per
// sync: a tag that needs a blob another tag is fetching waits for that
// fetch and shares its outcome. A failed fetch is forgotten, so a later
// tag tries again.
func (r *syncRun) ensureBlob(ctx context.Context, b oci.Descriptor) error {
	r.mu.Lock()
	if f, ok := r.blobs[b.Digest]; ok {
		r.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &blobFlight{done: make(chan struct{})}
	r.blobs[b.Digest] = f
	r.mu.Unlock()
	written, err := r.w.EnsureBlob(ctx, r.m.Repository, b.Digest, b.Size, func(ctx context.Context) (io.ReadCloser, error) {
		l, err := remote.Layer(r.up.Repository.Digest(b.Digest.String()), r.opts...)
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	})
	r.mu.Lock()
	if written {
		r.rep.BlobsCopied++
	}
	if err != nil {
		delete(r.blobs, b.Digest)
	}
	r.mu.Unlock()
	f.err = err
	close(f.done)
	return err
}

// platformWanted applies the architecture filter to an index child.
func (r *syncRun) platformWanted(c oci.Descriptor) bool {
	if len(r.m.ArchitectureFilter) == 0 {
		return true
	}
	return c.Platform != nil && slices.Contains(r.m.ArchitectureFilter, c.Platform.Architecture)
}

// copyReferrers copies the manifests whose subject is d (signatures,
// SBOMs, attestations), from the upstream's referrers API or its
// sha256-<hex> tag.
func (r *syncRun) copyReferrers(ctx context.Context, d digest.Digest, depth int) error {
	if depth >= maxReferrerDepth {
		return nil
	}
	r.mu.Lock()
	seen := r.seen[d]
	r.seen[d] = true
	r.mu.Unlock()
	if seen {
		return nil
	}
	idx, err := remote.Referrers(r.up.Repository.Digest(d.String()), r.opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("referrers of %s: %w", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("referrers of %s: %w", d, err)
	}
	for _, ref := range im.Manifests {
		if err := r.copyManifest(ctx, digest.Digest(ref.Digest.String()), nil, depth+1); err != nil {
			return err
		}
	}
	return nil
}
