package packvol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
)

// ckptWriter streams a version 2 checkpoint: header, pack records and name
// records (head), then blob records in digest order, block by block, then
// the footer. It holds one block and the fence it builds.
type ckptWriter struct {
	w        *bufio.Writer
	crc      uint32
	n        int64
	np       int
	nn       int
	headCRC  uint32
	blobsOff int64
	blk      []byte
	fence    []blobKey
	nblobs   int64
	last     blobKey
}

func (cw *ckptWriter) write(b []byte) error {
	cw.crc = crc32.Update(cw.crc, castagnoli, b)
	cw.n += int64(len(b))
	_, err := cw.w.Write(b)
	return err
}

// head writes everything before the blob records: packs sorted by seq,
// names (of any shape) sorted by name, zeros to the next block boundary.
func (cw *ckptWriter) head(packs []ckptPack, names map[string]wideLoc) error {
	le := binary.LittleEndian
	b := make([]byte, ckptHeader2, ckptHeader2+len(packs)*ckptPackRec)
	copy(b, ckptMagic)
	le.PutUint16(b[8:], ckptVersion2)
	le.PutUint32(b[12:], ckptBlock)
	for _, p := range packs {
		b = le.AppendUint64(b, p.seq)
		b = le.AppendUint64(b, uint64(p.covered))
		b = le.AppendUint64(b, uint64(p.live))
	}
	if err := cw.write(b); err != nil {
		return err
	}
	cw.np, cw.nn = len(packs), len(names)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		b = appendNameRec(b[:0], len(name), names[name].loc(name))
		if err := cw.write(append(b, name...)); err != nil {
			return err
		}
	}
	if pad := -cw.n & (ckptBlock - 1); pad > 0 {
		if err := cw.write(make([]byte, pad)); err != nil {
			return err
		}
	}
	cw.headCRC, cw.blobsOff = cw.crc, cw.n
	cw.blk = make([]byte, 0, ckptBlock)
	return nil
}

// blob appends one record; keys must ascend strictly.
func (cw *ckptWriter) blob(k *blobKey, l blobLoc) error {
	if cw.nblobs > 0 && bytes.Compare(cw.last[:], k[:]) >= 0 {
		return fmt.Errorf("index checkpoint: digest %x after %x", k[:], cw.last[:])
	}
	cw.last = *k
	if len(cw.blk) == 0 {
		cw.fence = append(cw.fence, *k)
	}
	cw.blk = appendBlobRec(cw.blk, k, l)
	cw.nblobs++
	if len(cw.blk) == ckptBlockRecs*ckptBlobRec {
		return cw.flushBlock()
	}
	return nil
}

func (cw *ckptWriter) flushBlock() error {
	b := cw.blk[:ckptBlock-4]
	clear(b[len(cw.blk):])
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	cw.blk = cw.blk[:0]
	return cw.write(b)
}

// finish writes the last block and the footer and flushes.
func (cw *ckptWriter) finish() error {
	if len(cw.blk) > 0 {
		if err := cw.flushBlock(); err != nil {
			return err
		}
	}
	le := binary.LittleEndian
	b := le.AppendUint32(nil, uint32(cw.np))
	b = le.AppendUint32(b, cw.headCRC)
	b = le.AppendUint64(b, uint64(cw.nn))
	b = le.AppendUint64(b, uint64(cw.nblobs))
	b = le.AppendUint64(b, uint64(cw.blobsOff))
	b = append(b, ckptMagic...)
	b = le.AppendUint32(b, crc32.Update(cw.crc, castagnoli, b))
	if _, err := cw.w.Write(b); err != nil {
		return err
	}
	return cw.w.Flush()
}
