package packvol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/corrupt"
)

// Sentinel errors.
var (
	// ErrCorrupt marks bytes a pack cannot hold: a bad header, a bad entry
	// before the tail, a checksum that fails on read. The text names the
	// pack and byte offset.
	ErrCorrupt = corrupt.New("packvol: corrupt")
	// ErrFailed is returned by every write after a write or fsync error
	// failed the handle. Reopen the volume to recover.
	ErrFailed = errors.New("packvol: volume failed, reopen to recover")
	// ErrClosed is returned by calls on a closed Volume.
	ErrClosed = errors.New("packvol: closed")
)

const (
	packMagic      = "TMPV" // written since packs have a magic of their own
	legacyMagic    = "TMPK" // read only: versions 1 and 2, shared with backup packs
	packVersion    = 2      // written; may hold sync marks
	packVersionV1  = 1      // read only: no sync marks, strict torn-tail rule
	packHeaderSize = 16
	entryHeader    = 20
	kindPut        = 1
	kindTombstone  = 2
	kindSyncMark   = 3
	maxNameLen     = 1<<16 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errShort reports an entry that runs past the end of the input: at the
// very end of the newest pack it is a torn write.
var errShort = fmt.Errorf("%w: entry extends past end of pack", ErrCorrupt)

func packHeader(seq uint64) []byte {
	b := make([]byte, packHeaderSize)
	copy(b, packMagic)
	binary.LittleEndian.PutUint16(b[4:], packVersion)
	binary.LittleEndian.PutUint64(b[8:], seq)
	return b
}

// checkHeader validates a pack's header against the seq in its name and
// returns the pack's format version.
func checkHeader(data []byte, seq uint64) (uint16, error) {
	if len(data) < packHeaderSize {
		return 0, fmt.Errorf("%w: header: %d bytes", errShort, len(data))
	}
	v := binary.LittleEndian.Uint16(data[4:])
	switch string(data[:4]) {
	case packMagic:
		if v != packVersion {
			return 0, fmt.Errorf("%w: header: unknown version %d", ErrCorrupt, v)
		}
	case legacyMagic:
		if v != packVersion && v != packVersionV1 {
			return 0, fmt.Errorf("%w: header: unknown version %d", ErrCorrupt, v)
		}
	default:
		return 0, fmt.Errorf("%w: header: bad magic %q", ErrCorrupt, data[:4])
	}
	if s := binary.LittleEndian.Uint64(data[8:]); s != seq {
		return 0, fmt.Errorf("%w: header: seq %d in pack %d", ErrCorrupt, s, seq)
	}
	return v, nil
}

// entry is one decoded pack entry.
type entry struct {
	kind  byte
	name  string
	data  []byte // aliases the input
	mtime int64  // unix ns
}

// entrySize is the encoded length of an entry.
func entrySize(name string, dataLen int) int64 {
	return int64(entryHeader + len(name) + dataLen)
}

// appendEntry appends the encoding of one entry to dst.
func appendEntry(dst []byte, kind byte, name string, data []byte, mtime int64) []byte {
	start := len(dst)
	var h [entryHeader]byte
	h[4] = kind
	binary.LittleEndian.PutUint16(h[6:], uint16(len(name)))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[12:], uint64(mtime))
	dst = append(dst, h[:]...)
	dst = append(dst, name...)
	dst = append(dst, data...)
	crc := crc32.Checksum(dst[start+4:], castagnoli)
	binary.LittleEndian.PutUint32(dst[start:], crc)
	return dst
}

// decodeEntry decodes the entry at the start of b and returns it with its
// encoded length. Any error wraps ErrCorrupt; errShort when b ends inside
// the entry.
func decodeEntry(b []byte) (entry, int, error) {
	if len(b) < entryHeader {
		return entry{}, 0, errShort
	}
	kind, rsvd := b[4], b[5]
	nlen := int(binary.LittleEndian.Uint16(b[6:]))
	dlen := int64(binary.LittleEndian.Uint32(b[8:]))
	switch {
	case kind != kindPut && kind != kindTombstone && kind != kindSyncMark:
		return entry{}, 0, fmt.Errorf("%w: unknown entry kind %d", ErrCorrupt, kind)
	case rsvd != 0:
		return entry{}, 0, fmt.Errorf("%w: reserved byte %d", ErrCorrupt, rsvd)
	case kind == kindSyncMark && (nlen != 0 || dlen != markData):
		return entry{}, 0, fmt.Errorf("%w: sync mark with %d name and %d data bytes", ErrCorrupt, nlen, dlen)
	case kind != kindSyncMark && nlen == 0:
		return entry{}, 0, fmt.Errorf("%w: empty name", ErrCorrupt)
	case kind == kindTombstone && dlen != 0:
		return entry{}, 0, fmt.Errorf("%w: tombstone with %d data bytes", ErrCorrupt, dlen)
	}
	n := int64(entryHeader+nlen) + dlen
	if n > int64(len(b)) {
		return entry{}, 0, errShort
	}
	if crc := crc32.Checksum(b[4:n], castagnoli); crc != binary.LittleEndian.Uint32(b) {
		return entry{}, 0, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	name := string(b[entryHeader : entryHeader+nlen])
	if kind != kindSyncMark {
		if err := hsm.CheckName(name); err != nil {
			return entry{}, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	return entry{
		kind:  kind,
		name:  name,
		data:  b[entryHeader+nlen : n],
		mtime: int64(binary.LittleEndian.Uint64(b[12:])),
	}, int(n), nil
}

// scanned is one entry found by scanPack with its place in the pack.
type scanned struct {
	entry
	off int64
	n   int64
}

// scanResult is what scanPack found in one pack's bytes.
type scanResult struct {
	version uint16    // header's format version (0 if the header is bad)
	entries []scanned // puts and tombstones; sync marks are not listed
	marks   int       // valid sync marks before end
	end     int64     // offset after the last valid entry (0 if the header is bad)
	err     error     // the first bad entry (or header), nil if the pack is whole
}

// scanPack decodes a pack's header and entries up to the first bad one.
func scanPack(data []byte, seq uint64) scanResult {
	v, err := checkHeader(data, seq)
	if err != nil {
		return scanResult{err: err}
	}
	return scanTail(data[packHeaderSize:], packHeaderSize, seq, v)
}

// scanTail decodes the entries of a version v pack whose bytes from offset
// base on are data, up to the first bad one. Offsets in the result are
// the pack's.
func scanTail(data []byte, base int64, seq uint64, v uint16) scanResult {
	r := scanResult{version: v, end: base}
	for r.end < base+int64(len(data)) {
		e, n, err := decodeEntry(data[r.end-base:])
		if err == nil && e.kind == kindSyncMark {
			if v == packVersionV1 {
				err = fmt.Errorf("%w: sync mark in a version %d pack", ErrCorrupt, v)
			} else {
				_, err = markClaim(e, r.end, seq)
			}
		}
		if err != nil {
			r.err = fmt.Errorf("offset %d: %w", r.end, err)
			return r
		}
		if e.kind == kindSyncMark {
			r.marks++
		} else {
			r.entries = append(r.entries, scanned{e, r.end, int64(n)})
		}
		r.end += int64(n)
	}
	return r
}
