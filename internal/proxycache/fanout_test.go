package proxycache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// The download window: readers get every byte in order and the end; a
// reader the window passed learns it; nobody joins once the first bytes
// left the window; the window stays bounded.
func TestFanoutWindow(t *testing.T) {
	ctx := t.Context()
	f := newFanout()
	fast, slow := f.join(), f.join()
	if fast == nil || slow == nil {
		t.Fatal("join at the start refused")
	}
	chunk := bytes.Repeat([]byte{7}, fanoutChunk)
	var got []byte
	buf := make([]byte, fanoutChunk)
	for written := 0; written < 3*fanoutWindow; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := fast.next(ctx, buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("fast reader: %v", err)
			}
			if fast.off == int64(written+len(chunk)) {
				break
			}
		}
		if len(f.buf) > 2*fanoutWindow {
			t.Fatalf("window holds %d bytes", len(f.buf))
		}
	}
	if len(got) != 3*fanoutWindow {
		t.Fatalf("fast reader got %d bytes", len(got))
	}
	if _, err := slow.next(ctx, buf); !errors.Is(err, errLagged) {
		t.Fatalf("slow reader: %v, want lagged", err)
	}
	if late := f.join(); late != nil {
		t.Fatal("joined after the first bytes left the window")
	}
	f.finish(nil)
	if _, err := fast.next(ctx, buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v, want EOF", err)
	}
	if err := f.wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// A failed download reaches its readers, and a reader waits for bytes
// until its context ends.
func TestFanoutFailure(t *testing.T) {
	f := newFanout()
	r := f.join()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.next(ctx, make([]byte, 8)); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting with a cancelled context: %v", err)
	}
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("digest mismatch")
	f.finish(boom)
	if _, err := r.next(t.Context(), make([]byte, 8)); !errors.Is(err, boom) {
		t.Fatalf("after a failure: %v", err)
	}
	if f.join() != nil {
		t.Fatal("joined a finished download")
	}
	if err := f.wait(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("wait: %v", err)
	}
}

// A reader gets the bytes it has not read yet after a successful end.
func TestFanoutDrainAfterEnd(t *testing.T) {
	f := newFanout()
	r := f.join()
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	f.finish(nil)
	buf := make([]byte, 3)
	var got []byte
	for {
		n, err := r.next(t.Context(), buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != "hello" {
		t.Fatalf("drained %q", got)
	}
}
