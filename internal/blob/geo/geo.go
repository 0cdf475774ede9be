package geo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
)

// Location is one named storage location.
type Location struct {
	Name  string
	Store blob.Store
}

// Options tune a Store.
type Options struct {
	// Log receives warnings about unreachable locations; nil discards them.
	Log *slog.Logger
	// Cooldown is how long a location that failed is tried after the
	// others; 0 means 30 seconds.
	Cooldown time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RemoteRead, when set, is called after Open served a blob from the
	// location named from because the local location does not have it
	// (for example to ask for a local copy). It must not block for long.
	RemoteRead func(ctx context.Context, d digest.Digest, from string)
	// DeleteFailed, when set, is called when Delete cannot remove the blob
	// from one location; returning nil means the caller took care of it
	// (for example it queued a retry) and Delete does not report the
	// failure.
	DeleteFailed func(ctx context.Context, d digest.Digest, location string, err error) error
}

// Store is a blob.Store over several locations; the first is local.
type Store struct {
	locs       []Location
	byName     map[string]blob.Store
	redirect   bool // some location can redirect
	log        *slog.Logger
	cooldown   time.Duration
	remoteRead func(ctx context.Context, d digest.Digest, from string)
	delFailed  func(ctx context.Context, d digest.Digest, location string, err error) error
	now        func() time.Time

	mu        sync.Mutex
	downUntil map[string]time.Time
}

var (
	_ blob.Store        = (*Store)(nil)
	_ blob.UploadLister = (*Store)(nil)
	_ blob.Redirector   = (*Store)(nil)
)

// New returns a Store over locs in preference order: locs[0] is the local
// location, where uploads and new blobs go.
func New(locs []Location, opts Options) (*Store, error) {
	if len(locs) == 0 {
		return nil, errors.New("geo blob store: no locations")
	}
	s := &Store{locs: locs, byName: make(map[string]blob.Store, len(locs)), log: opts.Log,
		cooldown: opts.Cooldown, now: opts.Now, remoteRead: opts.RemoteRead, delFailed: opts.DeleteFailed, downUntil: map[string]time.Time{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cooldown <= 0 {
		s.cooldown = 30 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, l := range locs {
		if l.Name == "" || l.Store == nil {
			return nil, errors.New("geo blob store: a location needs a name and a store")
		}
		if _, dup := s.byName[l.Name]; dup {
			return nil, fmt.Errorf("geo blob store: location %q given twice", l.Name)
		}
		s.byName[l.Name] = l.Store
		if _, ok := l.Store.(blob.Redirector); ok {
			s.redirect = true
		}
	}
	return s, nil
}

// Local is the name of the local location.
func (s *Store) Local() string { return s.locs[0].Name }

// Names lists the locations in preference order.
func (s *Store) Names() []string {
	out := make([]string, len(s.locs))
	for i, l := range s.locs {
		out[i] = l.Name
	}
	return out
}

func (s *Store) local() blob.Store { return s.locs[0].Store }

// order is the order reads try the locations: preference order, with the
// locations in their cool-down moved to the end.
func (s *Store) order() []Location {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	up := make([]Location, 0, len(s.locs))
	var down []Location
	for _, l := range s.locs {
		if t, ok := s.downUntil[l.Name]; ok && now.Before(t) {
			down = append(down, l)
			continue
		}
		up = append(up, l)
	}
	return append(up, down...)
}

// isDown reports whether a location is in its cool-down.
func (s *Store) isDown(name string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.downUntil[name]
	return ok && now.Before(t)
}

// failed notes that a location failed with err (not "blob unknown").
func (s *Store) failed(ctx context.Context, name string, err error) {
	s.mu.Lock()
	_, was := s.downUntil[name]
	s.downUntil[name] = s.now().Add(s.cooldown)
	s.mu.Unlock()
	if !was {
		s.log.WarnContext(ctx, "storage location unreachable, trying the others first", "location", name, "err", err)
	}
}

// worked notes that a location answered.
func (s *Store) worked(name string) {
	s.mu.Lock()
	delete(s.downUntil, name)
	s.mu.Unlock()
}

// find calls try on each location in read order until one has the blob.
// It returns core.CodeBlobUnknown when every location answered that it does
// not, and core.CodeUnavailable when one that failed might have it.
func (s *Store) find(ctx context.Context, d digest.Digest, try func(Location) error) error {
	var failure error
	for _, l := range s.order() {
		err := try(l)
		if err == nil {
			s.worked(l.Name)
			return nil
		}
		if core.IsCode(err, core.CodeBlobUnknown) {
			s.worked(l.Name)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.failed(ctx, l.Name, err)
		if failure == nil {
			failure = fmt.Errorf("storage location %s: %w", l.Name, err)
		}
	}
	if failure != nil {
		return &core.Error{Code: core.CodeUnavailable, Msg: "blob storage unavailable", Err: failure}
	}
	return blob.ErrBlobUnknown(d)
}

// Stat implements blob.Store: the first location that has the blob answers.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (blob.Info, error) {
	var info blob.Info
	err := s.find(ctx, d, func(l Location) error {
		i, err := l.Store.Stat(ctx, d)
		info = i
		return err
	})
	return info, err
}

// Open implements blob.Store: the local copy when present, else the first
// other location that has the blob, streamed from there.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, blob.Info, error) {
	var (
		rc           io.ReadSeekCloser
		info         blob.Info
		localMissing bool
		from         string
	)
	err := s.find(ctx, d, func(l Location) error {
		r, i, err := l.Store.Open(ctx, d)
		rc, info, from = r, i, l.Name
		if l.Name == s.Local() && core.IsCode(err, core.CodeBlobUnknown) {
			localMissing = true
		}
		return err
	})
	if err == nil && localMissing && from != s.Local() && s.remoteRead != nil {
		s.remoteRead(ctx, d, from)
	}
	return rc, info, err
}

// Delete implements blob.Store: the blob is removed from every location.
// A location that fails does not stop the others; the failures not taken
// care of by Options.DeleteFailed are joined.
//
// With DeleteFailed set, a location in its cool-down is not tried: its
// failure goes to DeleteFailed at once, so deletes do not wait on it.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	var errs []error
	for _, l := range s.locs {
		var err error
		if s.delFailed != nil && s.isDown(l.Name) {
			err = core.Errorf(core.CodeUnavailable, "storage location %s is unreachable", l.Name)
		} else {
			if err = l.Store.Delete(ctx, d); err == nil {
				continue
			}
			if ctx.Err() == nil {
				s.failed(ctx, l.Name, err)
			}
			err = fmt.Errorf("storage location %s: %w", l.Name, err)
		}
		if s.delFailed != nil {
			err = s.delFailed(ctx, d, l.Name, err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Upload sessions start on the local location. A session another process
// started on its own local location (a client whose requests reach
// replicas preferring different locations) is found there and continued
// in place; its commit is then copied to the local location, so a blob
// this process commits is always stored locally.

// StartUpload implements blob.Store on the local location.
func (s *Store) StartUpload(ctx context.Context, id string) error {
	return s.local().StartUpload(ctx, id)
}

// remoteSession returns the other location that holds upload session id,
// or nil.
func (s *Store) remoteSession(ctx context.Context, id string) blob.Store {
	for _, l := range s.locs[1:] {
		if _, err := l.Store.UploadSize(ctx, id); err == nil {
			return l.Store
		}
	}
	return nil
}

// UploadSize implements blob.Store.
func (s *Store) UploadSize(ctx context.Context, id string) (int64, error) {
	n, err := s.local().UploadSize(ctx, id)
	if core.IsCode(err, core.CodeBlobUploadUnknown) {
		if st := s.remoteSession(ctx, id); st != nil {
			return st.UploadSize(ctx, id)
		}
	}
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Append implements blob.Store.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader, limit int64) (int64, error) {
	cr := &countingReader{r: r}
	n, err := s.local().Append(ctx, id, offset, cr, limit)
	// Only a refusal that read nothing may be retried elsewhere.
	if core.IsCode(err, core.CodeBlobUploadUnknown) && cr.n == 0 {
		if st := s.remoteSession(ctx, id); st != nil {
			return st.Append(ctx, id, offset, cr, limit)
		}
	}
	return n, err
}

// Commit implements blob.Store: a new blob is stored locally, and
// replicated elsewhere by jobs.
func (s *Store) Commit(ctx context.Context, id string, d digest.Digest) (blob.Info, error) {
	info, err := s.local().Commit(ctx, id, d)
	if !core.IsCode(err, core.CodeBlobUploadUnknown) {
		return info, err
	}
	st := s.remoteSession(ctx, id)
	if st == nil {
		return info, err
	}
	info, err = st.Commit(ctx, id, d)
	if err != nil {
		return info, err
	}
	if err := s.Replicate(ctx, d, s.Local()); err != nil {
		// The blob is stored (elsewhere) and reads find it there.
		s.log.WarnContext(ctx, "copying a blob committed on another location to the local one", "digest", d, "err", err)
	}
	return info, nil
}

// CancelUpload implements blob.Store.
func (s *Store) CancelUpload(ctx context.Context, id string) error {
	if _, err := s.local().UploadSize(ctx, id); core.IsCode(err, core.CodeBlobUploadUnknown) {
		if st := s.remoteSession(ctx, id); st != nil {
			return st.CancelUpload(ctx, id)
		}
	}
	return s.local().CancelUpload(ctx, id)
}

// Uploads implements blob.UploadLister for the local location (the only
// one uploads go to); nil when its driver cannot list sessions.
func (s *Store) Uploads(ctx context.Context, before time.Time) ([]string, error) {
	if l, ok := s.local().(blob.UploadLister); ok {
		return l.Uploads(ctx, before)
	}
	return nil, nil
}

// RedirectURL implements blob.Redirector: a direct download URL from the
// first location that has the blob, when its driver offers one.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	if !s.redirect {
		return "", nil
	}
	// Presigning needs no request; only when some location would redirect
	// is it worth asking which one has the blob.
	urls := map[string]string{}
	for _, l := range s.locs {
		if rd, ok := l.Store.(blob.Redirector); ok {
			if u, err := rd.RedirectURL(ctx, d); err == nil && u != "" {
				urls[l.Name] = u
			}
		}
	}
	if len(urls) == 0 {
		return "", nil
	}
	var u string
	err := s.find(ctx, d, func(l Location) error {
		if _, err := l.Store.Stat(ctx, d); err != nil {
			return err
		}
		u = urls[l.Name]
		return nil
	})
	if err != nil {
		// Let Open report what is missing or unreachable.
		return "", nil
	}
	return u, nil
}

// Has reports whether the named location holds the blob.
func (s *Store) Has(ctx context.Context, location string, d digest.Digest) (bool, error) {
	st, err := s.location(location)
	if err != nil {
		return false, err
	}
	if _, err := st.Stat(ctx, d); err != nil {
		if core.IsCode(err, core.CodeBlobUnknown) {
			return false, nil
		}
		return false, fmt.Errorf("storage location %s: %w", location, err)
	}
	return true, nil
}

// DeleteAt removes the blob from one location only.
func (s *Store) DeleteAt(ctx context.Context, location string, d digest.Digest) error {
	st, err := s.location(location)
	if err != nil {
		return err
	}
	return st.Delete(ctx, d)
}

func (s *Store) location(name string) (blob.Store, error) {
	st, ok := s.byName[name]
	if !ok {
		return nil, core.Errorf(core.CodeInvalid, "unknown storage location %q", name)
	}
	return st, nil
}

// Replicate copies the blob to the named location from the first other
// location that has it. The copy goes through an upload session on the
// target, whose Commit verifies the digest. A blob already at the target is
// left alone, so running it twice is safe. It returns core.CodeBlobUnknown
// when no other location has the blob.
func (s *Store) Replicate(ctx context.Context, d digest.Digest, to string) error {
	dst, err := s.location(to)
	if err != nil {
		return err
	}
	if _, err := dst.Stat(ctx, d); err == nil {
		return nil
	} else if !core.IsCode(err, core.CodeBlobUnknown) {
		return fmt.Errorf("storage location %s: %w", to, err)
	}
	var src io.ReadSeekCloser
	var from string
	var failure error
	for _, l := range s.order() {
		if l.Name == to {
			continue
		}
		r, _, err := l.Store.Open(ctx, d)
		if err == nil {
			src, from = r, l.Name
			break
		}
		if !core.IsCode(err, core.CodeBlobUnknown) && failure == nil {
			failure = fmt.Errorf("storage location %s: %w", l.Name, err)
		}
	}
	if src == nil {
		if failure != nil {
			return failure
		}
		return blob.ErrBlobUnknown(d)
	}
	defer src.Close()
	id := "replica-" + randomHex(12)
	if err := dst.StartUpload(ctx, id); err != nil {
		return fmt.Errorf("storage location %s: %w", to, err)
	}
	if _, err := dst.Append(ctx, id, 0, src, 0); err != nil {
		_ = dst.CancelUpload(context.WithoutCancel(ctx), id)
		return fmt.Errorf("copy %s from %s to %s: %w", d, from, to, err)
	}
	if _, err := dst.Commit(ctx, id, d); err != nil {
		_ = dst.CancelUpload(context.WithoutCancel(ctx), id)
		return fmt.Errorf("copy %s from %s to %s: %w", d, from, to, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
