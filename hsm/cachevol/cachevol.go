// Package cachevol is a Volume decorator that keeps a size-bounded local
// copy of the objects read from a slow volume (an S3 volume), so a message
// read again is served from local disk. Objects are cached whole on their
// first read and evicted least recently used first once the cache holds
// more than its bound. Writes and deletes go to the remote volume and drop
// the cached copy, so a read after a write (the check of a copy just
// written) always comes from the remote. Stat and List always ask the
// remote.
//
// The cache is itself a Volume (a local directory, <data>/cache/<name>):
// its objects are written whole and atomically, so a crash leaves each one
// whole or absent; the index of what it holds is rebuilt by listing it on
// New.
package cachevol

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/tidemark/tidemark/hsm"
)

// Volume is a remote volume with a local read cache.
type Volume struct {
	remote, cache hsm.Volume
	max           int64

	mu    sync.Mutex
	size  int64
	lru   *list.List               // of *entry, most recent at the front
	index map[string]*list.Element // name -> element

	hits, misses atomic.Int64
}

type entry struct {
	name string
	size int64
}

var _ hsm.Volume = (*Volume)(nil)

// New wraps remote with a cache of at most maxBytes in cache. Objects
// larger than a quarter of the bound are not cached. What cache holds
// already is indexed, oldest first, and trimmed to the bound.
func New(ctx context.Context, remote, cache hsm.Volume, maxBytes int64) (*Volume, error) {
	v := &Volume{remote: remote, cache: cache, max: maxBytes, lru: list.New(), index: map[string]*list.Element{}}
	var found []hsm.ObjectInfo
	if err := cache.List(ctx, "", func(oi hsm.ObjectInfo) error { found = append(found, oi); return nil }); err != nil {
		return nil, err
	}
	// Oldest first to the back: the list gets the newest at the front.
	sortByTime(found)
	for _, oi := range found {
		v.index[oi.Name] = v.lru.PushFront(&entry{oi.Name, oi.Size})
		v.size += oi.Size
	}
	v.evict(ctx)
	return v, nil
}

func sortByTime(a []hsm.ObjectInfo) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].ModTime.Before(a[j-1].ModTime); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// Stats reports cache hits and misses (reads served locally and from the
// remote) and the bytes cached.
func (v *Volume) Stats() (hits, misses, bytes int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.hits.Load(), v.misses.Load(), v.size
}

// Unwrap returns the remote volume.
func (v *Volume) Unwrap() hsm.Volume { return v.remote }

// touch marks name used; it reports whether it is cached.
func (v *Volume) touch(name string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	el, ok := v.index[name]
	if ok {
		v.lru.MoveToFront(el)
	}
	return ok
}

func (v *Volume) forget(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if el, ok := v.index[name]; ok {
		v.size -= el.Value.(*entry).size
		v.lru.Remove(el)
		delete(v.index, name)
	}
}

// evict deletes least recently used objects until the cache fits.
func (v *Volume) evict(ctx context.Context) {
	for {
		v.mu.Lock()
		if v.size <= v.max || v.lru.Len() == 0 {
			v.mu.Unlock()
			return
		}
		el := v.lru.Back()
		e := el.Value.(*entry)
		v.lru.Remove(el)
		delete(v.index, e.name)
		v.size -= e.size
		v.mu.Unlock()
		_ = v.cache.Delete(ctx, e.name) // a leftover is found and trimmed at the next New
	}
}

// local opens a cached copy, or reports false.
func (v *Volume) local(ctx context.Context, name string, off, length int64) (io.ReadCloser, bool) {
	if !v.touch(name) {
		return nil, false
	}
	rc, err := v.cache.GetRange(ctx, name, off, length)
	if err != nil {
		if hsm.IsNotFound(err) {
			v.forget(name)
		}
		return nil, false
	}
	v.hits.Add(1)
	return rc, true
}

// fill reads the whole object from the remote and caches it.
func (v *Volume) fill(ctx context.Context, name string) ([]byte, error) {
	v.misses.Add(1)
	b, err := hsm.ReadAll(ctx, v.remote, name)
	if err != nil {
		return nil, err
	}
	n := int64(len(b))
	if n > v.max/4 {
		return b, nil
	}
	if err := hsm.PutBytes(ctx, v.cache, name, b); err != nil {
		return b, nil // the cache is an optimisation: a full disk costs only speed
	}
	v.mu.Lock()
	if el, ok := v.index[name]; ok {
		v.size -= el.Value.(*entry).size
		v.lru.Remove(el)
	}
	v.index[name] = v.lru.PushFront(&entry{name, n})
	v.size += n
	v.mu.Unlock()
	v.evict(ctx)
	return b, nil
}

// Get implements hsm.Volume.
func (v *Volume) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return v.GetRange(ctx, name, 0, -1)
}

// GetRange implements hsm.Volume: served from the cache when there, else
// the whole object is read from the remote, cached, and cut.
func (v *Volume) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := hsm.CheckName(name); err != nil {
		return nil, err
	}
	if off < 0 || length < -1 {
		return nil, hsm.ErrInvalidRange
	}
	if rc, ok := v.local(ctx, name, off, length); ok {
		return rc, nil
	}
	b, err := v.fill(ctx, name)
	if err != nil {
		return nil, err
	}
	if off > int64(len(b)) {
		return nil, hsm.ErrInvalidRange
	}
	end := int64(len(b))
	if length >= 0 && off+length < end {
		end = off + length
	}
	return io.NopCloser(bytes.NewReader(b[off:end])), nil
}

// Put implements hsm.Volume: to the remote; the cached copy is dropped.
func (v *Volume) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	v.drop(ctx, name)
	return v.remote.Put(ctx, name, r, size)
}

var _ hsm.VerifyingPutter = (*Volume)(nil)

// PutVerified stores data on the remote, verified there when the remote
// verifies its stores (hsm.VerifyingPutter), else read back from it and
// compared. The cache is not filled: the object is not being read.
func (v *Volume) PutVerified(ctx context.Context, name string, data []byte) error {
	v.drop(ctx, name)
	if vp, ok := v.remote.(hsm.VerifyingPutter); ok {
		return vp.PutVerified(ctx, name, data)
	}
	if err := v.remote.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
		return err
	}
	back, err := hsm.ReadAll(ctx, v.remote, name)
	if err != nil {
		return err
	}
	if !bytes.Equal(back, data) {
		return fmt.Errorf("put %s: %w", name, hsm.ErrDigestMismatch)
	}
	return nil
}

// Delete implements hsm.Volume.
func (v *Volume) Delete(ctx context.Context, name string) error {
	v.drop(ctx, name)
	return v.remote.Delete(ctx, name)
}

func (v *Volume) drop(ctx context.Context, name string) {
	v.mu.Lock()
	_, ok := v.index[name]
	v.mu.Unlock()
	if ok {
		v.forget(name)
		_ = v.cache.Delete(ctx, name)
	}
}

// Stat implements hsm.Volume.
func (v *Volume) Stat(ctx context.Context, name string) (hsm.ObjectInfo, error) {
	return v.remote.Stat(ctx, name)
}

// List implements hsm.Volume.
func (v *Volume) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	return v.remote.List(ctx, prefix, fn)
}

// Close closes the remote and the cache when they can be closed.
func (v *Volume) Close() error {
	var err error
	for _, x := range []hsm.Volume{v.remote, v.cache} {
		if c, ok := x.(io.Closer); ok {
			if cerr := c.Close(); err == nil {
				err = cerr
			}
		}
	}
	return err
}
