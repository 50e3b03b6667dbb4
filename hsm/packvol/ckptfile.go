package packvol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

// The version 2 index checkpoint (doc.go "Index checkpoint") is the bulk
// of the index: its message blob records are fixed-size, sorted by digest
// and grouped in 4 KiB blocks, so a lookup is a binary search over an
// in-memory fence (the first digest of every block) and one ReadAt of one
// block, whose own checksum is verified on every read. The file is read
// through the page cache, never mapped: mapped pages would count in the
// process's resident memory.

const (
	ckptVersion2  = 2
	ckptHeader2   = 16
	ckptFooter    = 40
	ckptBlock     = 4096
	ckptBlobRec   = 52
	ckptBlockRecs = (ckptBlock - 4) / ckptBlobRec // 78
	// ckptReadBlocks is how many blocks a sequential reader (open, merge,
	// List) reads at a time.
	ckptReadBlocks = 16
)

// ckptFile is an open version 2 checkpoint. Its blob records stay on disk;
// the other names (rare: anything not of the message blob shape, and blobs
// whose place needs 64-bit fields) are held in memory. It is immutable
// once loaded; concurrent reads are safe.
type ckptFile struct {
	f         vfs.File
	packs     map[uint64]ckptPack
	names     map[string]wideLoc
	wideBlobs int // blob-shaped names in names
	nblobs    int64
	blobsOff  int64
	fence     []blobKey // first digest of every block
	// perPack counts the records (blobs and names) in each pack; New
	// uses it to count the visible objects, then drops it.
	perPack map[uint64]int
}

// entries is the number of records in the file.
func (c *ckptFile) entries() int64 { return c.nblobs + int64(len(c.names)) }

func (c *ckptFile) close() error { return c.f.Close() }

// blockRecs is the number of records in block i: every block but the last
// is full.
func (c *ckptFile) blockRecs(i int) int {
	if i < len(c.fence)-1 {
		return ckptBlockRecs
	}
	return int(c.nblobs - int64(ckptBlockRecs)*int64(len(c.fence)-1))
}

// checkBlock verifies block i's checksum and returns its records.
func (c *ckptFile) checkBlock(b []byte, i int) ([]byte, error) {
	if crc32.Checksum(b[:ckptBlock-4], castagnoli) != binary.LittleEndian.Uint32(b[ckptBlock-4:]) {
		return nil, fmt.Errorf("%w: index checkpoint block %d: checksum mismatch", ErrCorrupt, i)
	}
	recs := b[:c.blockRecs(i)*ckptBlobRec]
	if !bytes.Equal(recs[:32], c.fence[i][:]) {
		return nil, fmt.Errorf("%w: index checkpoint block %d: first digest differs from the one read at open", ErrCorrupt, i)
	}
	return recs, nil
}

var blockPool = sync.Pool{New: func() any { return new([ckptBlock]byte) }}

// readAt reads exactly len(b) bytes at off.
func readAt(f vfs.File, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// decodeBlobRec reads a 52-byte blob record.
func decodeBlobRec(b []byte, r *blobRec) {
	le := binary.LittleEndian
	copy(r.k[:], b[:32])
	r.l = blobLoc{
		seq: le.Uint32(b[32:]), off: le.Uint32(b[36:]), n: le.Uint32(b[40:]),
		mtimeLo: le.Uint32(b[44:]), mtimeHi: le.Uint32(b[48:]),
	}
}

func appendBlobRec(b []byte, k *blobKey, l blobLoc) []byte {
	le := binary.LittleEndian
	b = append(b, k[:]...)
	b = le.AppendUint32(b, l.seq)
	b = le.AppendUint32(b, l.off)
	b = le.AppendUint32(b, l.n)
	b = le.AppendUint32(b, l.mtimeLo)
	return le.AppendUint32(b, l.mtimeHi)
}

// getBlob returns the record of digest k: a search of the fence, then one
// ReadAt of the block that would hold k. A block whose checksum fails
// returns an error wrapping ErrCorrupt.
func (c *ckptFile) getBlob(k *blobKey) (blobLoc, bool, error) {
	i := sort.Search(len(c.fence), func(i int) bool { return bytes.Compare(c.fence[i][:], k[:]) > 0 }) - 1
	if i < 0 {
		return blobLoc{}, false, nil
	}
	buf := blockPool.Get().(*[ckptBlock]byte)
	defer blockPool.Put(buf)
	if err := readAt(c.f, buf[:], c.blobsOff+int64(i)*ckptBlock); err != nil {
		return blobLoc{}, false, fmt.Errorf("read index checkpoint block %d: %w", i, err)
	}
	recs, err := c.checkBlock(buf[:], i)
	if err != nil {
		return blobLoc{}, false, err
	}
	lo, hi := 0, len(recs)/ckptBlobRec
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		rec := recs[m*ckptBlobRec : (m+1)*ckptBlobRec]
		switch cmp := bytes.Compare(rec[:32], k[:]); {
		case cmp == 0:
			var r blobRec
			decodeBlobRec(rec, &r)
			return r.l, true, nil
		case cmp < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return blobLoc{}, false, nil
}

// get returns name's record in the file.
func (c *ckptFile) get(name string) (loc, bool, error) {
	if k, ok := parseBlobName(name); ok {
		p, found, err := c.getBlob(&k)
		if err != nil || found {
			return p.loc(), found, err
		}
		if c.wideBlobs == 0 {
			return loc{}, false, nil
		}
	}
	w, ok := c.names[name]
	if !ok {
		return loc{}, false, nil
	}
	return w.loc(name), true, nil
}

// blockCursor reads the blob records of blocks [blk, end) in order,
// ckptReadBlocks blocks per ReadAt, verifying each block's checksum.
type blockCursor struct {
	c          *ckptFile
	buf        []byte
	first, cnt int // blocks in buf
	blk, end   int
	recs       []byte // the rest of the current block's records
	err        error
}

func (c *ckptFile) cursor(from, to int) *blockCursor {
	return &blockCursor{c: c, blk: from, end: to}
}

// next decodes the next record into r; false at the end or on an error
// (r.err).
func (r *blockCursor) next(rec *blobRec) bool {
	for len(r.recs) == 0 {
		if r.err != nil || r.blk >= r.end {
			return false
		}
		if r.blk >= r.first+r.cnt {
			n := min(ckptReadBlocks, r.end-r.blk)
			if r.buf == nil {
				r.buf = make([]byte, ckptReadBlocks*ckptBlock)
			}
			if err := readAt(r.c.f, r.buf[:n*ckptBlock], r.c.blobsOff+int64(r.blk)*ckptBlock); err != nil {
				r.err = fmt.Errorf("read index checkpoint block %d: %w", r.blk, err)
				return false
			}
			r.first, r.cnt = r.blk, n
		}
		b := r.buf[(r.blk-r.first)*ckptBlock : (r.blk-r.first+1)*ckptBlock]
		r.recs, r.err = r.c.checkBlock(b, r.blk)
		r.blk++
	}
	decodeBlobRec(r.recs, rec)
	r.recs = r.recs[ckptBlobRec:]
	return true
}

// blobRange returns the blocks that may hold names under prefix.
func (c *ckptFile) blobRange(prefix string) (from, to int) {
	const fan = len(blobPrefix) + 2 // "blobs/ab": the fan-out gives the first byte
	if n := min(len(prefix), len(blobPrefix)); len(prefix) > blobNameLen || prefix[:n] != blobPrefix[:n] {
		return 0, 0
	}
	if len(prefix) < fan {
		return 0, len(c.fence)
	}
	hi, lo := unhex[prefix[fan-2]], unhex[prefix[fan-1]]
	if hi|lo > 0xf {
		return 0, 0
	}
	first := hi<<4 | lo
	search := func(b int) int { // first block whose fence starts at b or later
		return sort.Search(len(c.fence), func(i int) bool { return int(c.fence[i][0]) >= b })
	}
	// The block before the first fence of byte first may hold some too.
	return max(search(int(first))-1, 0), search(int(first) + 1)
}

// withPrefix calls fn with every record under prefix (blobs in digest
// order, then the other names in no order).
func (c *ckptFile) withPrefix(prefix string, fn func(name string, l loc)) error {
	from, to := c.blobRange(prefix)
	cur := c.cursor(from, to)
	var r blobRec
	var b [blobNameLen]byte
	for cur.next(&r) {
		if name := r.k.appendName(b[:0]); string(name[:len(prefix)]) == prefix {
			fn(string(name), r.l.loc())
		}
	}
	if cur.err != nil {
		return cur.err
	}
	for name, w := range c.names {
		if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
			fn(name, w.loc(name))
		}
	}
	return nil
}

// loadCkptFile reads and verifies a version 2 checkpoint of size bytes:
// the checksums of the head and of every block, the whole-file checksum,
// the order of the digests and every record against the pack records.
// It builds the fence and keeps f for lookups. Every error wraps
// errStale. It reads the file once, ckptReadBlocks blocks at a time.
func loadCkptFile(f vfs.File, size int64) (*ckptFile, error) {
	le := binary.LittleEndian
	if size < ckptHeader2+ckptFooter {
		return nil, fmt.Errorf("%w: truncated", errStale)
	}
	var foot [ckptFooter]byte
	if err := readAt(f, foot[:], size-ckptFooter); err != nil {
		return nil, fmt.Errorf("%w: read: %v", errStale, err)
	}
	np := int64(le.Uint32(foot[0:]))
	headCRC := le.Uint32(foot[4:])
	nn := le.Uint64(foot[8:])
	nb := le.Uint64(foot[16:])
	blobsOff := int64(le.Uint64(foot[24:]))
	headLen := ckptHeader2 + np*ckptPackRec
	if string(foot[32:36]) != ckptMagic || nb > uint64(size)/ckptBlobRec || blobsOff%ckptBlock != 0 ||
		blobsOff < headLen || blobsOff > size {
		return nil, fmt.Errorf("%w: truncated or bad footer", errStale)
	}
	nblocks := (int64(nb) + ckptBlockRecs - 1) / ckptBlockRecs
	if blobsOff+nblocks*ckptBlock+ckptFooter != size {
		return nil, fmt.Errorf("%w: truncated or bad footer: %d bytes, footer says %d", errStale, size, blobsOff+nblocks*ckptBlock+ckptFooter)
	}
	head := make([]byte, blobsOff)
	if err := readAt(f, head, 0); err != nil {
		return nil, fmt.Errorf("%w: read: %v", errStale, err)
	}
	if crc32.Checksum(head, castagnoli) != headCRC {
		return nil, fmt.Errorf("%w: checksum mismatch", errStale)
	}
	whole := crc32.Checksum(head, castagnoli)
	if string(head[:4]) != ckptMagic || le.Uint16(head[8:]) != ckptVersion2 || le.Uint32(head[12:]) != ckptBlock {
		return nil, fmt.Errorf("%w: bad header", errStale)
	}
	c := &ckptFile{f: f, packs: make(map[uint64]ckptPack, np), nblobs: int64(nb), blobsOff: blobsOff,
		perPack: map[uint64]int{}}
	rest := head[ckptHeader2:]
	var prevSeq uint64
	for range np {
		p := ckptPack{seq: le.Uint64(rest), covered: int64(le.Uint64(rest[8:])), live: int64(le.Uint64(rest[16:]))}
		rest = rest[ckptPackRec:]
		if p.seq <= prevSeq || p.covered < packHeaderSize || p.live < 0 || p.live > p.covered {
			return nil, fmt.Errorf("%w: bad pack record %+v", errStale, p)
		}
		prevSeq = p.seq
		c.packs[p.seq] = p
	}
	markNewest(c.packs)
	// Name records, sorted by name, then zeros up to the blocks.
	if nn > uint64(len(rest))/ckptNameRec {
		return nil, fmt.Errorf("%w: truncated", errStale)
	}
	c.names = make(map[string]wideLoc, nn)
	var prev []byte
	for range nn {
		if len(rest) < ckptNameRec {
			return nil, fmt.Errorf("%w: truncated", errStale)
		}
		nlen := int(le.Uint16(rest))
		l := loc{
			seq:   le.Uint64(rest[2:]),
			off:   int64(le.Uint64(rest[10:])),
			n:     int64(le.Uint32(rest[18:])),
			mtime: int64(le.Uint64(rest[22:])),
			size:  int64(le.Uint32(rest[30:])),
		}
		if len(rest) < ckptNameRec+nlen {
			return nil, fmt.Errorf("%w: truncated", errStale)
		}
		nb := rest[ckptNameRec : ckptNameRec+nlen]
		rest = rest[ckptNameRec+nlen:]
		name := string(nb)
		p, ok := c.packs[l.seq]
		if !ok || l.off < packHeaderSize || l.n != int64(entryHeader+nlen)+l.size || l.off+l.n > p.covered ||
			hsm.CheckName(name) != nil || (prev != nil && bytes.Compare(prev, nb) >= 0) {
			return nil, fmt.Errorf("%w: bad index record for %q", errStale, name)
		}
		prev = nb
		c.names[name] = wideLoc{seq: l.seq, off: l.off, n: l.n, mtime: l.mtime}
		c.perPack[l.seq]++
		if _, isBlob := parseBlobName(name); isBlob {
			c.wideBlobs++
		}
	}
	if len(rest) >= ckptBlock || slices.ContainsFunc(rest, func(b byte) bool { return b != 0 }) {
		return nil, fmt.Errorf("%w: bad padding before the blob records", errStale)
	}
	// Blob blocks: each checksum, digests strictly ascending, each record
	// inside its pack's covered bytes.
	c.fence = make([]blobKey, nblocks)
	buf := make([]byte, ckptReadBlocks*ckptBlock)
	var last blobKey
	var seen bool
	var r blobRec
	for blk := int64(0); blk < nblocks; {
		n := min(ckptReadBlocks, nblocks-blk)
		b := buf[:n*ckptBlock]
		if err := readAt(f, b, blobsOff+blk*ckptBlock); err != nil {
			return nil, fmt.Errorf("%w: read: %v", errStale, err)
		}
		whole = crc32.Update(whole, castagnoli, b)
		for ; len(b) > 0; b, blk = b[ckptBlock:], blk+1 {
			if crc32.Checksum(b[:ckptBlock-4], castagnoli) != le.Uint32(b[ckptBlock-4:]) {
				return nil, fmt.Errorf("%w: block %d: checksum mismatch", errStale, blk)
			}
			copy(c.fence[blk][:], b[:32])
			recs := b[:c.blockRecs(int(blk))*ckptBlobRec]
			if slices.ContainsFunc(b[len(recs):ckptBlock-4], func(b byte) bool { return b != 0 }) {
				return nil, fmt.Errorf("%w: block %d: bad padding", errStale, blk)
			}
			for ; len(recs) > 0; recs = recs[ckptBlobRec:] {
				decodeBlobRec(recs, &r)
				p, ok := c.packs[uint64(r.l.seq)]
				end := int64(r.l.off) + int64(r.l.n)
				if seen && bytes.Compare(last[:], r.k[:]) >= 0 {
					return nil, fmt.Errorf("%w: block %d: digests out of order", errStale, blk)
				}
				if !ok || r.l.off < packHeaderSize || r.l.n < entryHeader+uint32(blobNameLen) || end > p.covered {
					return nil, fmt.Errorf("%w: block %d: bad blob record %+v", errStale, blk, r.l)
				}
				last, seen = r.k, true
				c.perPack[uint64(r.l.seq)]++
			}
		}
	}
	whole = crc32.Update(whole, castagnoli, foot[:ckptFooter-4])
	if whole != le.Uint32(foot[ckptFooter-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errStale)
	}
	// A name is in at most one section.
	for name := range c.names {
		if k, isBlob := parseBlobName(name); isBlob {
			if _, dup, err := c.getBlob(&k); dup || err != nil {
				return nil, fmt.Errorf("%w: %q recorded twice", errStale, name)
			}
		}
	}
	return c, nil
}

// markNewest flags the highest pack of a checkpoint.
func markNewest(packs map[uint64]ckptPack) {
	var maxSeq uint64
	for seq := range packs {
		maxSeq = max(maxSeq, seq)
	}
	if p, ok := packs[maxSeq]; ok {
		p.newest = true
		packs[maxSeq] = p
	}
}
