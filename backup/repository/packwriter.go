package repository

import (
	"context"
	"fmt"
	"sync"

	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/dedup"
)

// PackWriter gathers small blobs into chunks and chunks into packs. add
// is safe for concurrent use (it compresses a full chunk, and writes a
// full pack, in the caller's goroutine); flush writes what is pending and
// reports the blobs written since the last flush. A blob is durable once
// flush has returned without error.
type PackWriter struct {
	r   *Repository
	put func(ctx context.Context, name string, b []byte) error
	// target overrides tune.PackTargetBytes when positive (a merge writes
	// each group of packs as one pack).
	Target int

	mu          sync.Mutex
	open        []byte      // raw bytes of the open chunk
	openBlobs   []PackEntry // its blobs (Chunk not set)
	sealed      []sealedChunk
	sealedBytes int
	written     []PackedBlob
	err         error
}

type sealedChunk struct {
	framed []byte
	raw    int64
	blobs  []PackEntry
}

// PackedBlob is a blob that a written pack holds; stored is its share of
// its chunk's stored bytes.
type PackedBlob struct {
	D           dedup.Digest
	Raw, Stored int64
	Pack        string
}

func NewPackWriter(r *Repository, put func(ctx context.Context, name string, b []byte) error) *PackWriter {
	if put == nil {
		put = r.PutObject
	}
	return &PackWriter{r: r, put: put}
}

// add appends raw (whose digest is d) to the open chunk.
func (w *PackWriter) Add(ctx context.Context, d dedup.Digest, raw []byte) {
	w.mu.Lock()
	w.openBlobs = append(w.openBlobs, PackEntry{Digest: d, Off: int64(len(w.open)), Len: int64(len(raw))})
	w.open = append(w.open, raw...)
	if len(w.open) < tune.PackChunkRaw {
		w.mu.Unlock()
		return
	}
	chunk, blobs := w.open, w.openBlobs
	w.open, w.openBlobs = nil, nil
	w.mu.Unlock()
	w.seal(ctx, chunk, blobs, false)
}

// seal compresses one chunk and, when the pending chunks reach the target
// size (or force), writes them as a pack.
func (w *PackWriter) seal(ctx context.Context, chunk []byte, blobs []PackEntry, force bool) {
	// A chunk of empty blobs only (an empty message is a valid message)
	// holds no bytes but must still be written with its index entries:
	// it frames as the one-byte raw codec header.
	var framed []byte
	if len(chunk) > 0 || len(blobs) > 0 {
		framed = dedup.Encode(chunk, 0)
	}
	w.mu.Lock()
	if framed != nil {
		w.sealed = append(w.sealed, sealedChunk{framed: framed, raw: int64(len(chunk)), blobs: blobs})
		w.sealedBytes += len(framed)
	}
	target := tune.PackTargetBytes
	if w.Target > 0 {
		target = w.Target
	}
	if len(w.sealed) == 0 || (!force && w.sealedBytes < target) {
		w.mu.Unlock()
		return
	}
	take := w.sealed
	w.sealed, w.sealedBytes = nil, 0
	w.mu.Unlock()
	done, err := w.write(ctx, take)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.written = append(w.written, done...)
}

// write stores chunks as one pack and adds it to the repository's index.
func (w *PackWriter) write(ctx context.Context, chunks []sealedChunk) ([]PackedBlob, error) {
	framed := make([][]byte, len(chunks))
	raws := make([]int64, len(chunks))
	var pi PackIndex
	var done []PackedBlob
	off := int64(packHeaderSize)
	name := newPackName()
	for i, c := range chunks {
		framed[i], raws[i] = c.framed, c.raw
		pi.Chunks = append(pi.Chunks, packChunk{Off: off, Stored: int64(len(c.framed)), Raw: c.raw})
		off += int64(len(c.framed))
		for _, b := range c.blobs {
			b.Chunk = i
			pi.Blobs = append(pi.Blobs, b)
			share := int64(len(c.framed))
			if c.raw > 0 {
				share = int64(len(c.framed)) * b.Len / c.raw
			}
			done = append(done, PackedBlob{D: b.Digest, Raw: b.Len, Stored: share, Pack: name})
		}
	}
	obj := encodePack(framed, raws, pi.Blobs)
	for i := range pi.Chunks {
		c := &pi.Chunks[i]
		c.CRC = chunkCRC(obj[c.Off : c.Off+c.Stored])
	}
	if err := w.put(ctx, name, obj); err != nil {
		return nil, fmt.Errorf("put pack %s: %w", name, err)
	}
	w.r.blobs.addPack(name, int64(len(obj)), pi)
	return done, nil
}

// flush seals the open chunk, writes every pending chunk as a pack and
// returns the blobs written since the last flush, or the first error (the
// pending blobs are then dropped: the caller stores them again).
func (w *PackWriter) Flush(ctx context.Context) ([]PackedBlob, error) {
	w.mu.Lock()
	chunk, blobs := w.open, w.openBlobs
	w.open, w.openBlobs = nil, nil
	w.mu.Unlock()
	w.seal(ctx, chunk, blobs, true)
	w.mu.Lock()
	defer w.mu.Unlock()
	done, err := w.written, w.err
	w.written, w.err = nil, nil
	if err != nil {
		w.sealed, w.sealedBytes = nil, 0
		return nil, err
	}
	return done, nil
}

// reset drops whatever is pending (a failed batch).
func (w *PackWriter) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open, w.openBlobs, w.sealed, w.sealedBytes, w.written, w.err = nil, nil, nil, 0, nil, nil
}
