package backup

import (
	"context"
	"fmt"
	"sync"

	"github.com/tidemark/tidemark/dedup"
)

var (
	// packChunkRaw seals a chunk once it holds this many raw bytes: 1 MiB
	// of mail compressed together stores ~30% less than each message alone
	// (quoted replies, re-sent attachments, list footers), and reading one
	// blob decodes at most one chunk.
	packChunkRaw = 1 << 20
	// packTargetBytes writes a pack once its chunks hold this many stored
	// bytes; a ship writes whatever is pending, so packs may be smaller.
	packTargetBytes = 16 << 20
	// packLooseMin: blobs this large or larger are stored as loose objects.
	packLooseMin = 1 << 20
)

// packWriter gathers small blobs into chunks and chunks into packs. add
// is safe for concurrent use (it compresses a full chunk, and writes a
// full pack, in the caller's goroutine); flush writes what is pending and
// reports the blobs written since the last flush. A blob is durable once
// flush has returned without error.
type packWriter struct {
	r   *Repository
	put func(ctx context.Context, name string, b []byte) error
	// target overrides packTargetBytes when positive (a merge writes
	// each group of packs as one pack).
	target int

	mu          sync.Mutex
	open        []byte      // raw bytes of the open chunk
	openBlobs   []packEntry // its blobs (Chunk not set)
	sealed      []sealedChunk
	sealedBytes int
	written     []packedBlob
	err         error
}

type sealedChunk struct {
	framed []byte
	raw    int64
	blobs  []packEntry
}

// packedBlob is a blob that a written pack holds; stored is its share of
// its chunk's stored bytes.
type packedBlob struct {
	d           dedup.Digest
	raw, stored int64
	pack        string
}

func newPackWriter(r *Repository, put func(ctx context.Context, name string, b []byte) error) *packWriter {
	if put == nil {
		put = r.putObject
	}
	return &packWriter{r: r, put: put}
}

// add appends raw (whose digest is d) to the open chunk.
func (w *packWriter) add(ctx context.Context, d dedup.Digest, raw []byte) {
	w.mu.Lock()
	w.openBlobs = append(w.openBlobs, packEntry{Digest: d, Off: int64(len(w.open)), Len: int64(len(raw))})
	w.open = append(w.open, raw...)
	if len(w.open) < packChunkRaw {
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
func (w *packWriter) seal(ctx context.Context, chunk []byte, blobs []packEntry, force bool) {
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
	target := packTargetBytes
	if w.target > 0 {
		target = w.target
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
func (w *packWriter) write(ctx context.Context, chunks []sealedChunk) ([]packedBlob, error) {
	framed := make([][]byte, len(chunks))
	raws := make([]int64, len(chunks))
	var pi packIndex
	var done []packedBlob
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
			done = append(done, packedBlob{d: b.Digest, raw: b.Len, stored: share, pack: name})
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
func (w *packWriter) flush(ctx context.Context) ([]packedBlob, error) {
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
func (w *packWriter) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open, w.openBlobs, w.sealed, w.sealedBytes, w.written, w.err = nil, nil, nil, 0, nil, nil
}
