package packvol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/tidemark/tidemark/hsm"
)

// The index checkpoint (doc.go "Index checkpoint") lets New read only the
// pack bytes written after it instead of every pack whole.

const (
	// CheckpointFile is the index checkpoint's name in the volume's
	// directory.
	CheckpointFile = "index.ckpt"
	ckptMagic      = "TMCK"
	ckptVersion    = 1 // read only: New reads it, Checkpoint writes version 2
	ckptHeader     = 24
	ckptPackRec    = 24
	ckptNameRec    = 34
)

// errStale marks a checkpoint that does not fit the packs on disk (or is
// unreadable): New falls back to the full scan.
var errStale = errors.New("packvol: checkpoint unusable")

// ckptPack is one pack's record: the first covered bytes of pack seq are
// durable and reflected in the checkpoint's index, with live of them live.
type ckptPack struct {
	seq     uint64
	covered int64
	live    int64
	// newest (not stored) marks the checkpoint's highest pack: the only
	// one that may have grown after it.
	newest bool
}

// checkpoint is an index checkpoint as New reads it: a version 1 file
// decoded whole into index, or a version 2 file opened for lookups.
type checkpoint struct {
	packs map[uint64]ckptPack
	index *memIndex // version 1
	file  *ckptFile // version 2
}

// ckptPack returns the record of pack seq; c may be nil.
func (c *checkpoint) ckptPack(seq uint64) (ckptPack, bool) {
	if c == nil {
		return ckptPack{}, false
	}
	p, ok := c.packs[seq]
	return p, ok
}

// appendNameRec appends a name record up to the name.
func appendNameRec(b []byte, nlen int, l loc) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(nlen))
	b = binary.LittleEndian.AppendUint64(b, l.seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(l.off))
	b = binary.LittleEndian.AppendUint32(b, uint32(l.n))
	b = binary.LittleEndian.AppendUint64(b, uint64(l.mtime))
	return binary.LittleEndian.AppendUint32(b, uint32(l.size))
}

// countNameRecs counts the name records in rest (stopping at one that
// runs past its end) and those of message blob length, to size the index.
func countNameRecs(rest []byte) (blobs, others int) {
	for len(rest) >= ckptNameRec {
		nlen := int(binary.LittleEndian.Uint16(rest))
		if len(rest) < ckptNameRec+nlen {
			break
		}
		if nlen == blobNameLen {
			blobs++
		} else {
			others++
		}
		rest = rest[ckptNameRec+nlen:]
	}
	return blobs, others
}

// decodeCheckpoint parses and validates a version 1 checkpoint file.
// Every error wraps errStale.
func decodeCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) < ckptHeader || string(b[:4]) != ckptMagic {
		return nil, fmt.Errorf("%w: bad header", errStale)
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errStale)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != ckptVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errStale, v)
	}
	np := uint64(binary.LittleEndian.Uint32(b[12:]))
	nn := binary.LittleEndian.Uint64(b[16:])
	rest := b[ckptHeader:]
	if uint64(len(rest)) < np*ckptPackRec || nn > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: truncated", errStale)
	}
	c := &checkpoint{packs: make(map[uint64]ckptPack, np)}
	for range np {
		p := ckptPack{
			seq:     binary.LittleEndian.Uint64(rest),
			covered: int64(binary.LittleEndian.Uint64(rest[8:])),
			live:    int64(binary.LittleEndian.Uint64(rest[16:])),
		}
		rest = rest[ckptPackRec:]
		if p.seq == 0 || p.covered < packHeaderSize || p.live < 0 || p.live > p.covered {
			return nil, fmt.Errorf("%w: bad pack record %+v", errStale, p)
		}
		c.packs[p.seq] = p
	}
	var maxSeq uint64
	for seq := range c.packs {
		maxSeq = max(maxSeq, seq)
	}
	if p, ok := c.packs[maxSeq]; ok {
		p.newest = true
		c.packs[maxSeq] = p
	}
	c.index = newMemIndex(countNameRecs(rest))
	for range nn {
		if len(rest) < ckptNameRec {
			return nil, fmt.Errorf("%w: truncated", errStale)
		}
		nlen := int(binary.LittleEndian.Uint16(rest))
		l := loc{
			seq:   binary.LittleEndian.Uint64(rest[2:]),
			off:   int64(binary.LittleEndian.Uint64(rest[10:])),
			n:     int64(binary.LittleEndian.Uint32(rest[18:])),
			mtime: int64(binary.LittleEndian.Uint64(rest[22:])),
			size:  int64(binary.LittleEndian.Uint32(rest[30:])),
		}
		if len(rest) < ckptNameRec+nlen {
			return nil, fmt.Errorf("%w: truncated", errStale)
		}
		nb := rest[ckptNameRec : ckptNameRec+nlen]
		rest = rest[ckptNameRec+nlen:]
		p, ok := c.packs[l.seq]
		if ok && l.off >= packHeaderSize && l.n == int64(entryHeader+nlen)+l.size && l.off+l.n <= p.covered {
			// A message blob's name is valid by its shape: keep its
			// digest without making a string of it.
			if k, isBlob := parseBlobName(nb); isBlob && c.index.wideBlobs == 0 {
				if bl, fits := packLoc(l); fits {
					c.index.blobs.put(&k, bl)
					continue
				}
			}
		} else {
			ok = false
		}
		name := string(nb)
		if err := hsm.CheckName(name); err != nil || !ok {
			return nil, fmt.Errorf("%w: bad index record for %q", errStale, name)
		}
		c.index.put(name, l)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errStale, len(rest))
	}
	return c, nil
}

func (v *Volume) ckptPath() string { return v.fs.PathJoin(v.dir, CheckpointFile) }

// AppendedBytes is the bytes of all packs (hsm.Checkpointer): it grows with
// every append, so a caller checkpoints once it has grown enough.
func (v *Volume) AppendedBytes() int64 { return v.Stats().PackBytes }
