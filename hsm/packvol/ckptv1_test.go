package packvol

import (
	"encoding/binary"
	"hash/crc32"
)

// The version 1 writer, kept for tests: New reads version 1 files (the
// fixtures hold one), Checkpoint writes only version 2.

// encode returns the version 1 file of c.
func (c *checkpoint) encode() []byte {
	x := c.index
	size := ckptHeader + len(c.packs)*ckptPackRec + x.blobs.len()*(ckptNameRec+blobNameLen)
	for name := range x.names {
		size += ckptNameRec + len(name)
	}
	b := make([]byte, ckptHeader, size)
	copy(b, ckptMagic)
	binary.LittleEndian.PutUint16(b[8:], ckptVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(c.packs)))
	binary.LittleEndian.PutUint64(b[16:], uint64(x.len()))
	for _, p := range c.packs {
		b = binary.LittleEndian.AppendUint64(b, p.seq)
		b = binary.LittleEndian.AppendUint64(b, uint64(p.covered))
		b = binary.LittleEndian.AppendUint64(b, uint64(p.live))
	}
	for k, p := range x.blobs.all() {
		b = appendNameRec(b, blobNameLen, p.loc())
		b = k.appendName(b)
	}
	for name, w := range x.names {
		b = appendNameRec(b, len(name), w.loc(name))
		b = append(b, name...)
	}
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	return b
}
