package repository

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/corrupt"
)

// blobIndex is a Repository's map of where each blob is stored: loose
// objects (blobs/) and packs (packs/, read from their trailers). It is
// loaded on first use and refreshed when a blob is not found (another
// process may have written it since); packs this process writes are added
// as they are stored. A loose object wins over a packed copy of the same
// blob (verify --fix stores a damaged packed blob again as a loose object).
type blobIndex struct {
	mu       sync.Mutex
	loaded   bool
	loose    map[dedup.Digest]int64 // → object size
	packs    map[string]int64       // pack name → size, index read
	indexes  map[string]PackIndex
	bad      map[string]error // packs whose index cannot be read
	byDigest map[dedup.Digest]blobLoc
	cache    chunkCache
}

// blobLoc is where a packed blob's bytes are.
type blobLoc struct {
	pack    string
	chunk   packChunk
	off, ln int64
}

func (x *blobIndex) init() {
	if x.packs == nil {
		x.loose = map[dedup.Digest]int64{}
		x.packs = map[string]int64{}
		x.indexes = map[string]PackIndex{}
		x.bad = map[string]error{}
		x.byDigest = map[dedup.Digest]blobLoc{}
	}
}

// addPack records a pack this process stored. Safe for concurrent use.
func (x *blobIndex) addPack(name string, size int64, pi PackIndex) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.init()
	x.packs[name] = size
	x.indexes[name] = pi
	x.place(name, pi)
}

// addLoose records a loose blob this process stored.
func (x *blobIndex) addLoose(d dedup.Digest, size int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.init()
	x.loose[d] = size
}

// place maps pi's blobs to pack name; among several packs holding one
// blob the one packBefore orders first wins, so every reader picks the
// same copy, and the pack a merge wrote (it holds every blob of the packs
// it merged) wins over those.
func (x *blobIndex) place(name string, pi PackIndex) {
	for _, b := range pi.Blobs {
		if cur, ok := x.byDigest[b.Digest]; ok && !packBefore(name, len(pi.Blobs), cur.pack, len(x.indexes[cur.pack].Blobs)) {
			continue
		}
		x.byDigest[b.Digest] = blobLoc{pack: name, chunk: pi.Chunks[b.Chunk], off: b.Off, ln: b.Len}
	}
}

// packBefore reports whether pack a (holding na blobs) is read in
// preference to pack b (holding nb): the pack with more blobs, then the
// smaller name.
func packBefore(a string, na int, b string, nb int) bool {
	if na != nb {
		return na > nb
	}
	return a < b
}

// forget drops objects this process deleted: packs (their blobs are
// placed again among the packs left) and loose blobs.
func (x *blobIndex) forget(names ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.init()
	gone := false
	for _, name := range names {
		if d, ok := ParseBlobObject(name); ok {
			delete(x.loose, d)
		} else if _, ok := x.packs[name]; ok {
			delete(x.packs, name)
			delete(x.indexes, name)
			gone = true
		}
	}
	if gone {
		x.byDigest = map[dedup.Digest]blobLoc{}
		for n, pi := range x.indexes {
			x.place(n, pi)
		}
	}
}

// refresh lists blobs/ and packs/ and reads the index of every pack not
// known yet. Called with x.mu held.
func (r *Repository) refreshBlobs(ctx context.Context) error {
	x := &r.blobs
	x.init()
	loose := map[dedup.Digest]int64{}
	if err := r.vol.List(ctx, BlobPrefix, func(o hsm.ObjectInfo) error {
		if d, ok := ParseBlobObject(o.Name); ok {
			loose[d] = o.Size
		}
		return nil
	}); err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	listed := map[string]int64{}
	if err := r.vol.List(ctx, PackPrefix, func(o hsm.ObjectInfo) error {
		if IsPackName(o.Name) {
			listed[o.Name] = o.Size
		}
		return nil
	}); err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	var todo []string
	for name := range listed {
		if _, ok := x.packs[name]; !ok {
			todo = append(todo, name)
		}
	}
	sort.Strings(todo)
	type result struct {
		pi  PackIndex
		err error
	}
	res := make([]result, len(todo))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, name := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res[i].pi, res[i].err = r.readPackIndex(ctx, name, listed[name])
		}()
	}
	wg.Wait()
	for i, name := range todo {
		if err := res[i].err; err != nil {
			if !IsCorrupt(err) {
				return err
			}
			x.bad[name] = err
			continue
		}
		delete(x.bad, name)
		x.packs[name] = listed[name]
		x.indexes[name] = res[i].pi
	}
	gone := false
	for name := range x.packs {
		if _, ok := listed[name]; !ok {
			delete(x.packs, name)
			delete(x.indexes, name)
			gone = true
		}
	}
	for name := range x.bad {
		if _, ok := listed[name]; !ok {
			delete(x.bad, name)
		}
	}
	if gone {
		x.byDigest = map[dedup.Digest]blobLoc{}
		for name, pi := range x.indexes {
			x.place(name, pi)
		}
	} else {
		for _, name := range todo {
			if pi, ok := x.indexes[name]; ok {
				x.place(name, pi)
			}
		}
	}
	x.loose = loose
	x.loaded = true
	return nil
}

// IsCorrupt reports damaged data, whichever layer found it (this package,
// the decrypting volume of an encrypted repository, dedup).
func IsCorrupt(err error) bool { return corrupt.Is(err) }

// readPackIndex reads a pack's trailer and index (one ranged read of the
// tail when the index is under 64 KiB, two otherwise).
func (r *Repository) readPackIndex(ctx context.Context, name string, size int64) (PackIndex, error) {
	if size < packHeaderSize+packTrailerSize {
		return PackIndex{}, fmt.Errorf("%s: %w: %d bytes is too short for a pack", name, ErrCorrupt, size)
	}
	tailLen := min(size, 64<<10)
	tail, err := r.GetRange(ctx, name, size-tailLen, tailLen)
	if err != nil {
		return PackIndex{}, err
	}
	if tailLen == size {
		if err := checkPackHeader(tail); err != nil {
			return PackIndex{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	off, n, crc, err := decodePackTrailer(tail[len(tail)-packTrailerSize:], size)
	if err != nil {
		return PackIndex{}, fmt.Errorf("%s: %w", name, err)
	}
	var idx []byte
	if start := size - tailLen; off >= start {
		idx = tail[off-start : off-start+n]
	} else if idx, err = r.GetRange(ctx, name, off, n); err != nil {
		return PackIndex{}, err
	}
	pi, err := decodePackIndex(idx, crc, off)
	if err != nil {
		return pi, fmt.Errorf("%s: %w", name, err)
	}
	return pi, nil
}

// GetRange reads n bytes of name at off.
func (r *Repository) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	rc, err := r.vol.GetRange(ctx, name, off, n)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %s: %w: short object: %v", name, ErrCorrupt, err)
	}
	return b, nil
}

// blobWhere says where a blob is stored.
type blobWhere int

const (
	blobMissing blobWhere = iota
	blobLoose
	blobPacked
)

// locate finds a blob, loading the index on first use and refreshing it
// when the blob is unknown or force is set.
func (r *Repository) locate(ctx context.Context, d dedup.Digest, force bool) (blobWhere, blobLoc, error) {
	x := &r.blobs
	x.mu.Lock()
	defer x.mu.Unlock()
	for pass := 0; pass < 2; pass++ {
		if !x.loaded || force || pass == 1 {
			if err := r.refreshBlobs(ctx); err != nil {
				return blobMissing, blobLoc{}, err
			}
			force = false
		}
		if _, ok := x.loose[d]; ok {
			return blobLoose, blobLoc{}, nil
		}
		if loc, ok := x.byDigest[d]; ok {
			return blobPacked, loc, nil
		}
	}
	return blobMissing, blobLoc{}, nil
}

// readPacked returns a packed blob's raw bytes through the chunk cache.
func (r *Repository) readPacked(ctx context.Context, d dedup.Digest, loc blobLoc) ([]byte, error) {
	raw, err := r.blobs.cache.get(chunkKey{loc.pack, loc.chunk.Off}, func() ([]byte, error) {
		stored, err := r.GetRange(ctx, loc.pack, loc.chunk.Off, loc.chunk.Stored)
		if err != nil {
			return nil, err
		}
		raw, err := DecodeChunk(stored, loc.chunk)
		if err != nil {
			return nil, fmt.Errorf("%s chunk at %d: %w", loc.pack, loc.chunk.Off, err)
		}
		return raw, nil
	})
	if err != nil {
		return nil, err
	}
	b := raw[loc.off : loc.off+loc.ln]
	if dedup.Sum(b) != d {
		return nil, fmt.Errorf("%s: %w: digest mismatch", loc.pack, ErrCorrupt)
	}
	return append([]byte(nil), b...), nil
}

// chunkCache keeps the last decoded chunks, so a restore reading the blobs
// of one chunk in turn decodes it once; concurrent readers of one chunk
// share one fetch.
type chunkCache struct {
	mu    sync.Mutex
	m     map[chunkKey]*chunkEntry
	order []chunkKey
}

type chunkKey struct {
	pack string
	off  int64
}

type chunkEntry struct {
	done chan struct{}
	raw  []byte
	err  error
}

const chunkCacheSize = 16

func (c *chunkCache) get(k chunkKey, fetch func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[chunkKey]*chunkEntry{}
	}
	if e, ok := c.m[k]; ok {
		c.mu.Unlock()
		<-e.done
		return e.raw, e.err
	}
	e := &chunkEntry{done: make(chan struct{})}
	c.m[k] = e
	c.order = append(c.order, k)
	for len(c.order) > chunkCacheSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.mu.Unlock()
	e.raw, e.err = fetch()
	if e.err != nil {
		c.mu.Lock()
		if c.m[k] == e {
			delete(c.m, k)
		}
		c.mu.Unlock()
	}
	close(e.done)
	return e.raw, e.err
}

// BlobSizes lists every blob the repository holds (fresh listing) with its
// stored size (a packed blob's share of its chunk).
func (r *Repository) BlobSizes(ctx context.Context) (map[[32]byte]int64, error) {
	x := &r.blobs
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := r.refreshBlobs(ctx); err != nil {
		return nil, err
	}
	out := make(map[[32]byte]int64, len(x.loose)+len(x.byDigest))
	for d, loc := range x.byDigest {
		share := loc.chunk.Stored
		if loc.chunk.Raw > 0 {
			share = loc.chunk.Stored * loc.ln / loc.chunk.Raw
		}
		out[d] = share
	}
	for d, n := range x.loose {
		out[d] = n
	}
	return out, nil
}
