package proxycache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/opencontainers/go-digest"
)

// A blob download is shared with the pulls of the same blob that arrive
// while it runs (in this process): they stream its bytes as they arrive
// from an in-memory window instead of waiting for the whole download.
// Memory is bounded: the window keeps the last fanoutWindow to
// 2*fanoutWindow bytes. A pull can join only while the window still starts
// at the blob's first byte; a reader the window has passed (a slow client)
// continues from the blob store once the blob is stored. Range requests do not join: they are
// served from storage.

// fanoutWindow bounds the bytes of one download kept for its followers.
const fanoutWindow = 4 << 20

// fanoutChunk is how much a follower copies at a time.
const fanoutChunk = 64 << 10

var errLagged = errors.New("proxy cache: follower fell behind the download window")

// fanout is the shared state of one download.
type fanout struct {
	mu       sync.Mutex
	buf      []byte // bytes [base, base+len(buf)) of the blob
	base     int64
	readers  map[*fanReader]bool
	wake     chan struct{} // closed (and replaced) when bytes arrive or the download ends
	finished bool
	err      error
}

type fanReader struct {
	f      *fanout
	off    int64
	lagged bool
}

func newFanout() *fanout {
	return &fanout{readers: map[*fanReader]bool{}, wake: make(chan struct{})}
}

// join adds a reader at the blob's first byte, or returns nil when the
// window no longer holds it (or the download ended).
func (f *fanout) join() *fanReader {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.base != 0 || f.finished {
		return nil
	}
	r := &fanReader{f: f}
	f.readers[r] = true
	return r
}

func (r *fanReader) leave() {
	r.f.mu.Lock()
	delete(r.f.readers, r)
	r.f.mu.Unlock()
}

// Write appends downloaded bytes; readers the window passes are marked
// lagged. It never blocks on readers.
func (f *fanout) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = append(f.buf, p...)
	if len(f.buf) > 2*fanoutWindow {
		// Trimmed back to the window in place, at most once per window
		// of bytes written.
		over := len(f.buf) - fanoutWindow
		f.base += int64(over)
		f.buf = f.buf[:copy(f.buf, f.buf[over:])]
		for r := range f.readers {
			if r.off < f.base {
				r.lagged = true
				delete(f.readers, r)
			}
		}
		if len(f.readers) == 0 {
			// Nobody can join any more, nobody reads: keep nothing.
			f.base += int64(len(f.buf))
			f.buf = nil
		}
	} else if f.base > 0 && len(f.readers) == 0 {
		f.base += int64(len(f.buf))
		f.buf = f.buf[:0]
	}
	close(f.wake)
	f.wake = make(chan struct{})
	return len(p), nil
}

// finish ends the download: err nil means the blob is stored and linked
// (readers still read what they have not), an error cuts the readers.
func (f *fanout) finish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished, f.err = true, err
	if err != nil {
		f.buf = nil
	}
	close(f.wake)
	f.wake = make(chan struct{})
}

// next copies the bytes after the reader's offset into p, waiting for
// them; io.EOF when the download succeeded and everything was read, the
// download's error as soon as it failed, errLagged when the window passed the
// reader (the caller waits for the end and reads the rest from storage).
func (r *fanReader) next(ctx context.Context, p []byte) (int, error) {
	f := r.f
	for {
		f.mu.Lock()
		if r.lagged {
			f.mu.Unlock()
			return 0, errLagged
		}
		if f.finished && f.err != nil {
			err := f.err
			f.mu.Unlock()
			return 0, err
		}
		if end := f.base + int64(len(f.buf)); r.off < end {
			n := copy(p, f.buf[r.off-f.base:])
			r.off += int64(n)
			f.mu.Unlock()
			return n, nil
		}
		if f.finished {
			f.mu.Unlock()
			return 0, io.EOF
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// wait waits for the end of the download and returns its result.
func (f *fanout) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		if f.finished {
			err := f.err
			f.mu.Unlock()
			return err
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// streams are the downloads in progress that pulls may join, by flight key.
type streams struct {
	mu sync.Mutex
	m  map[string]*fanout
}

func (s *streams) add(key string, f *fanout) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*fanout{}
	}
	s.m[key] = f
	s.mu.Unlock()
}

func (s *streams) remove(key string, f *fanout) {
	s.mu.Lock()
	if s.m[key] == f {
		delete(s.m, key)
	}
	s.mu.Unlock()
}

func (s *streams) get(key string) *fanout {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

// follow serves a pull from a download in progress. served false with a
// nil error: the download ended before any byte was sent and the blob is
// stored (the registry serves it); served false with an error: the
// download failed before any byte was sent. A failure after bytes were
// sent cuts the response.
func (s *Service) follow(ctx context.Context, w http.ResponseWriter, rd *fanReader, d digest.Digest, size int64) (served bool, err error) {
	defer rd.leave()
	buf := make([]byte, fanoutChunk)
	started := false
	for {
		n, err := rd.next(ctx, buf)
		if n > 0 {
			if !started {
				hd := w.Header()
				hd.Set("Docker-Content-Digest", string(d))
				hd.Set("Content-Type", "application/octet-stream")
				hd.Set("Content-Length", strconv.FormatInt(size, 10))
				w.WriteHeader(http.StatusOK)
				started = true
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return true, nil // the client went away
			}
			continue
		}
		switch {
		case errors.Is(err, io.EOF):
			if !started {
				return false, nil
			}
			return true, nil
		case errors.Is(err, errLagged):
			// Read the rest from storage once the blob is stored.
			if err := rd.f.wait(ctx); err != nil {
				return s.cut(ctx, started, d, err)
			}
			if !started {
				return false, nil
			}
			s.copyStored(ctx, w, d, rd.off, size)
			return true, nil
		case ctx.Err() != nil: // the client went away
			if started {
				return true, nil
			}
			return false, ctx.Err()
		default:
			return s.cut(ctx, started, d, err)
		}
	}
}

// cut ends a follower's response after a failed download: an error when
// nothing was sent, an aborted response otherwise.
func (s *Service) cut(ctx context.Context, started bool, d digest.Digest, err error) (bool, error) {
	if !started {
		return false, err
	}
	s.log.WarnContext(ctx, "proxy cache: shared blob download failed while streaming", "digest", d, "err", err)
	panic(http.ErrAbortHandler)
}

// copyStored sends bytes [off, size) of a stored blob.
func (s *Service) copyStored(ctx context.Context, w http.ResponseWriter, d digest.Digest, off, size int64) {
	f, _, err := s.blobs.Open(ctx, d)
	if err != nil {
		s.log.ErrorContext(ctx, "proxy cache: stored blob unreadable while streaming", "digest", d, "err", err)
		panic(http.ErrAbortHandler)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		s.log.ErrorContext(ctx, "proxy cache: seeking a stored blob", "digest", d, "err", err)
		panic(http.ErrAbortHandler)
	}
	// An error here is the client going away.
	_, _ = io.Copy(w, io.LimitReader(f, size-off))
}
