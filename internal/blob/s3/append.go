package s3

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/wharfhq/wharf/internal/core"
)

// salvageTimeout bounds the writes that keep what arrived before a broken body.
const salvageTimeout = time.Minute

// Append implements blob.Store. Bytes are cut into parts of the configured
// size, each uploaded in the background while the next one is read; what is
// left below 5 MiB becomes the new tail object. The state is saved last, so
// until then a crash leaves the session as it was.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader, limit int64) (int64, error) {
	st, err := s.loadState(ctx, id)
	if err != nil {
		return 0, err
	}
	if offset != st.Size {
		return st.Size, core.Errorf(core.CodeRangeInvalid, "upload is at offset %d, not %d", st.Size, offset)
	}
	a := &appender{s: s, id: id, old: st, next: st.clone(), cur: s.getBuf()}
	defer a.release(ctx)
	buf, err := s.readTail(ctx, id, st, (*a.cur)[:0])
	if err != nil {
		return st.Size, err
	}
	h := st.hash()
	if h == nil && st.Base == 0 && st.Multipart == "" {
		// Lost hash state, but the tail is the whole session: rehash it.
		h = sha256.New()
		h.Write(buf)
	}
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit-st.Size+1)
	}
	size := st.Size
	var readErr error
	for {
		n, rerr := fill(src, buf[len(buf):cap(buf)])
		if h != nil {
			h.Write(buf[len(buf) : len(buf)+n])
		}
		buf = buf[:len(buf)+n]
		size += int64(n)
		if limit > 0 && size > limit {
			return st.Size, core.Errorf(core.CodeSizeInvalid, "upload exceeds the limit of %d bytes", limit)
		}
		if len(buf) == cap(buf) {
			if buf, err = a.ship(ctx, buf); err != nil {
				return st.Size, err
			}
		}
		if rerr == io.EOF { //nolint:errorlint // io.EOF is returned unwrapped by contract
			break
		}
		if rerr != nil {
			readErr = fmt.Errorf("read upload: %w", rerr)
			break
		}
	}
	if size == st.Size {
		return st.Size, readErr
	}
	if readErr != nil {
		// Keep what arrived, even if the request's context is gone: the
		// client can query the offset and resume.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), salvageTimeout)
		defer cancel()
	}
	if err := a.wait(); err != nil {
		return st.Size, err
	}
	next := a.next
	if len(buf) >= minPartSize {
		if err := s.putPart(ctx, id, next, buf); err != nil {
			return st.Size, err
		}
		buf = buf[:0]
	}
	next.Size = size
	next.Tail, next.TailSize = "", int64(len(buf))
	if len(buf) > 0 {
		next.Tail = newTailName()
		if err := s.putSmall(ctx, s.tailKey(id, next.Tail), buf, minio.PutObjectOptions{ContentType: blobContentType}); err != nil {
			return st.Size, fmt.Errorf("write upload tail: %w", err)
		}
	}
	next.setHash(h)
	// A failed save may still have been applied: from here on nothing this
	// call wrote is removed (orphans go with the session).
	a.saving = true
	if err := s.saveState(ctx, id, next); err != nil {
		return st.Size, err
	}
	if st.Tail != next.Tail {
		s.removeTail(ctx, id, st.Tail)
	}
	return next.Size, readErr
}

// appender is one Append's parts pipeline: at most one part uploads in the
// background (from one buffer) while the next is read (into the other).
type appender struct {
	s         *Store
	id        string
	old, next *state // next's parts are only touched by the part in flight, or after wait
	cur       *[]byte
	spare     *[]byte
	inflight  chan error
	saving    bool
}

// ship starts uploading the full buffer b as the next part, once the
// previous part is done, and returns an empty buffer to fill.
func (a *appender) ship(ctx context.Context, b []byte) ([]byte, error) {
	if err := a.wait(); err != nil {
		return b, err
	}
	if a.spare == nil {
		a.spare = a.s.getBuf()
	}
	a.cur, a.spare = a.spare, a.cur
	done := make(chan error, 1)
	a.inflight = done
	go func() { done <- a.s.putPart(ctx, a.id, a.next, b) }()
	return (*a.cur)[:0], nil
}

// wait waits for the part in flight, if any.
func (a *appender) wait() error {
	if a.inflight == nil {
		return nil
	}
	err := <-a.inflight
	a.inflight = nil
	return err
}

// release ends the Append: no part is left in flight, a multipart upload
// started by a failed Append is aborted, and the buffers go back.
func (a *appender) release(ctx context.Context) {
	_ = a.wait()
	if !a.saving && a.next.Multipart != "" && a.next.Multipart != a.old.Multipart {
		_ = a.s.core.AbortMultipartUpload(context.WithoutCancel(ctx), a.s.bucket, a.s.dataKey(a.id), a.next.Multipart)
	}
	a.s.putBuf(a.cur)
	if a.spare != nil {
		a.s.putBuf(a.spare)
	}
}

// fill reads into b until it is full or r fails; unlike io.ReadFull it
// passes r's errors on unchanged (a body cut short reads as
// io.ErrUnexpectedEOF, which must not look like a clean end).
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
