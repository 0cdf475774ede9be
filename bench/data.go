package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// tailSize is the length of the unique suffix that every generated blob ends with.
const tailSize = 32

// dataSource hands out blobs with unique digests without generating or hashing
// their bulk for every blob: all blobs share one buffer of random bytes generated
// once (in parallel, with ChaCha8) and differ only in a 32-byte suffix made of the
// run's nonce and a counter. The SHA-256 state after the shared part is computed
// once per length and cloned, so a new 1 GiB blob costs one hash of 32 bytes.
type dataSource struct {
	base    []byte
	nonce   [8]byte
	counter atomic.Uint64

	mu     sync.Mutex
	states map[int][]byte // marshalled sha256 state after base[:n]
}

// newDataSource generates size random bytes. Two sources never produce the same
// blob, as each has a random nonce.
func newDataSource(size int) (*dataSource, error) {
	ds := &dataSource{base: make([]byte, size), states: map[int][]byte{}}
	if _, err := rand.Read(ds.nonce[:]); err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	parts := runtime.GOMAXPROCS(0) * 2
	chunk := (size + parts - 1) / parts
	var wg sync.WaitGroup
	for i := 0; i < parts; i++ {
		lo, hi := i*chunk, min((i+1)*chunk, size)
		if lo >= hi {
			break
		}
		s := seed
		binary.LittleEndian.PutUint64(s[:8], binary.LittleEndian.Uint64(s[:8])^uint64(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.NewChaCha8(s)
			_, _ = r.Read(ds.base[lo:hi])
		}()
	}
	wg.Wait()
	return ds, nil
}

// Nonce is a short lowercase hex string unique to this run; it names repositories.
func (ds *dataSource) Nonce() string { return hex.EncodeToString(ds.nonce[:4]) }

// blob is a blob's content as shared random bytes followed by a unique tail.
type blob struct {
	head   []byte // a prefix of the shared buffer (never written to)
	tail   []byte
	size   int64
	digest string
}

// newBlob returns a random blob of the given size (at least tailSize bytes) whose
// digest is unique to this source.
func (ds *dataSource) newBlob(size int64) (*blob, error) {
	if size < tailSize || size-tailSize > int64(len(ds.base)) {
		return nil, fmt.Errorf("blob size %d out of range", size)
	}
	n := int(size - tailSize)
	tail := make([]byte, tailSize)
	copy(tail, "wharf-bench:")
	copy(tail[12:20], ds.nonce[:])
	binary.BigEndian.PutUint64(tail[20:28], ds.counter.Add(1))
	h, err := ds.hasherAfter(n)
	if err != nil {
		return nil, err
	}
	h.Write(tail)
	return &blob{head: ds.base[:n], tail: tail, size: size, digest: "sha256:" + hex.EncodeToString(h.Sum(nil))}, nil
}

// hasherAfter returns a sha256 hash that has already consumed base[:n].
func (ds *dataSource) hasherAfter(n int) (interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	state, ok := ds.states[n]
	if !ok {
		h := sha256.New()
		h.Write(ds.base[:n])
		var err error
		state, err = h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, err
		}
		ds.states[n] = state
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, err
	}
	return h, nil
}

// bytesBlob wraps literal content (a config or manifest) as a blob.
func bytesBlob(content []byte) *blob {
	sum := sha256.Sum256(content)
	return &blob{tail: content, size: int64(len(content)), digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// reader streams the whole blob.
func (b *blob) reader() io.Reader { return b.section(0, b.size) }

// section streams n bytes of the blob starting at off.
func (b *blob) section(off, n int64) io.Reader {
	var rs []io.Reader
	hl := int64(len(b.head))
	if off < hl {
		end := min(off+n, hl)
		rs = append(rs, bytes.NewReader(b.head[off:end]))
		n -= end - off
		off = end
	}
	if n > 0 {
		t := off - hl
		rs = append(rs, bytes.NewReader(b.tail[t:t+n]))
	}
	if len(rs) == 1 {
		return rs[0]
	}
	return io.MultiReader(rs...)
}

// bytes returns the content in one slice (copying; meant for small blobs).
func (b *blob) bytes() []byte {
	out := make([]byte, 0, b.size)
	return append(append(out, b.head...), b.tail...)
}
