package packvol

import (
	"encoding/binary"
	"fmt"
)

// Sync marks (doc.go "Sync mark") record, inside the newest pack, how much
// of it an fsync has made durable, so that New can tell bytes a crash left
// half-written (never synced: cut off) from bytes that rotted after they
// were synced (corruption: reported).

const (
	// markData is a sync mark's data length: seq u64, synced u64.
	markData = 16
	// markSize is a sync mark's encoded length.
	markSize = entryHeader + markData
)

// appendMark appends a sync mark claiming that the first synced bytes of
// pack seq are durable.
func appendMark(dst []byte, seq uint64, synced, mtime int64) []byte {
	var d [markData]byte
	binary.LittleEndian.PutUint64(d[0:], seq)
	binary.LittleEndian.PutUint64(d[8:], uint64(synced))
	return appendEntry(dst, kindSyncMark, "", d[:], mtime)
}

// markClaim returns the synced length a decoded sync mark found at offset
// off of pack seq claims. A mark is valid only in its own pack and only
// claiming bytes before itself (it is written after the fsync it records).
func markClaim(e entry, off int64, seq uint64) (int64, error) {
	s := binary.LittleEndian.Uint64(e.data[0:])
	synced := binary.LittleEndian.Uint64(e.data[8:])
	switch {
	case s != seq:
		return 0, fmt.Errorf("%w: sync mark of pack %d in pack %d", ErrCorrupt, s, seq)
	case synced < packHeaderSize || synced > uint64(off):
		return 0, fmt.Errorf("%w: sync mark at offset %d claims %d bytes synced", ErrCorrupt, off, synced)
	}
	return int64(synced), nil
}

// after is what a byte-by-byte scan found past a bad entry.
type after struct {
	valid  bool  // a whole valid entry starts at some offset past the bad one
	synced int64 // largest synced length a valid sync mark there claims (0: none)
	markAt int64 // offset of that mark
}

// scanAfter looks for whole valid entries at every byte offset after from
// (entries inside other entries' data included, so a mark is never missed
// by stepping over a false match) and for the largest synced length their
// sync marks claim.
func scanAfter(data []byte, from int64, seq uint64) after {
	return scanAfterTail(data, 0, from, seq)
}

// scanAfterTail is scanAfter on a pack whose bytes from offset base on are
// data.
func scanAfterTail(data []byte, base, from int64, seq uint64) after {
	var a after
	for i := from + 1; i+entryHeader <= base+int64(len(data)); i++ {
		e, _, err := decodeEntry(data[i-base:])
		if err != nil {
			continue
		}
		a.valid = true
		if e.kind != kindSyncMark {
			continue
		}
		if s, err := markClaim(e, i, seq); err == nil && s > a.synced {
			a.synced, a.markAt = s, i
		}
	}
	return a
}

// tornOrCorrupt decides what the bad entry (or header) r.err at r.end of a
// pack is: nil when it is the torn tail of writes a crash interrupted and
// the pack may be cut at r.end, else the error to fail New with.
//
//   - Any pack but the newest was fsynced whole: corruption.
//   - A version 2 pack with a valid sync mark after the bad entry claiming
//     bytes past it: the bad entry lies in synced data, corruption. With
//     no such mark the bytes from r.end on were never synced: torn,
//     whatever valid-looking entries follow (a disk may persist unsynced
//     blocks out of order).
//   - A version 1 pack (written before sync marks) keeps the rule it was
//     written under, and so does a pack whose header is bad (the header
//     is fsynced before any entry is written): torn only if no valid
//     entry follows.
func tornOrCorrupt(data []byte, seq uint64, newest bool, r scanResult) error {
	return tornOrCorruptTail(data, 0, seq, newest, r)
}

// tornOrCorruptTail is tornOrCorrupt on a pack whose bytes from offset base
// on are data (base at most r.end): marks before base claim at most their
// own offset, so they cannot change the verdict.
func tornOrCorruptTail(data []byte, base int64, seq uint64, newest bool, r scanResult) error {
	if !newest {
		return r.err
	}
	a := scanAfterTail(data, base, r.end, seq)
	switch {
	case r.version == packVersion && a.synced > r.end:
		return fmt.Errorf("%w (inside synced data: sync mark at offset %d claims %d bytes synced)", r.err, a.markAt, a.synced)
	case r.version == packVersion:
		return nil
	case a.valid:
		return r.err
	}
	return nil
}
