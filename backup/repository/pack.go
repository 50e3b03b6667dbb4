package repository

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/tidemark/tidemark/dedup"
)

// A pack object holds many small blobs compressed together in chunks, each
// chunk decodable alone, and ends with its own index:
//
//	0      4   5   8
//	+------+---+---+---------+---------+-…-+---------+-------+---------+
//	|"TMBP"|ver| 0 | chunk 0 | chunk 1 |   | chunk n | index | trailer |
//	+------+---+---+---------+---------+-…-+---------+-------+---------+
//	ver = 1; a chunk is the concatenated raw blobs framed by package dedup
//	(codec byte, then a zstd frame with its checksum, or raw when it would
//	not shrink)
//
//	index:   uvarint chunks; per chunk: uvarint stored length, uvarint raw
//	         length, crc32c of the stored bytes (4, little-endian);
//	         uvarint blobs; per blob: digest (32), uvarint chunk number,
//	         uvarint offset in the chunk's raw bytes, uvarint length
//	trailer: index offset (8) | index length (4) | crc32c of index (4) | "TMPX"
//
// Chunk 0 starts at byte 8; each chunk follows the previous one. A reader
// learns a pack's blobs with one ranged read of its tail and reads one blob
// with one ranged read of its chunk. Packs written before backup packs had
// a magic of their own start with "TMPK" (the magic hsm/packvol's packs
// carried too) and are read alike; readers find a pack by its trailer, so
// the header is checked only where the whole pack is at hand (a pack of up
// to 64 KiB, whose index read covers it) and by verify --read-data.
// testdata/repo-format2 is a frozen repository whose packs carry "TMPK".
const (
	PackPrefix      = "packs/"
	packSuffix      = ".pack"
	packMagic       = "TMBP"
	packMagicLegacy = "TMPK" // read only: packs written before "TMBP"
	packTrailMagic  = "TMPX"
	packVersion     = 1
	packHeaderSize  = 8
	packTrailerSize = 20
)

// packChunk locates one chunk inside its pack.
type packChunk struct {
	Off    int64 // offset of the stored chunk in the pack
	Stored int64 // stored (framed) length
	Raw    int64 // raw length
	CRC    uint32
}

// PackEntry is one blob of a pack.
type PackEntry struct {
	Digest dedup.Digest
	Chunk  int
	Off    int64 // in the chunk's raw bytes
	Len    int64
}

// PackIndex is the decoded index of one pack.
type PackIndex struct {
	Chunks []packChunk
	Blobs  []PackEntry
}

// newPackName returns a fresh pack name: packs/<2 hex>/<32 hex>.pack.
func newPackName() string {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	h := hex.EncodeToString(id[:])
	return PackPrefix + h[:2] + "/" + h + packSuffix
}

func IsPackName(name string) bool {
	s, ok := strings.CutPrefix(name, PackPrefix)
	if !ok {
		return false
	}
	s, ok = strings.CutSuffix(s, packSuffix)
	if !ok || len(s) != 3+32 || s[2] != '/' || s[:2] != s[3:5] {
		return false
	}
	_, err := hex.DecodeString(s[3:])
	return err == nil
}

// encodePack lays out framed chunks and their blobs as a pack object.
// chunks[i] holds the framed bytes and raw length of chunk i.
func encodePack(chunks [][]byte, rawLens []int64, blobs []PackEntry) []byte {
	size := packHeaderSize + packTrailerSize
	for _, c := range chunks {
		size += len(c)
	}
	out := make([]byte, 0, size+len(blobs)*48+len(chunks)*16)
	out = append(out, packMagic...)
	out = append(out, packVersion, 0, 0, 0)
	for _, c := range chunks {
		out = append(out, c...)
	}
	idxOff := len(out)
	out = binary.AppendUvarint(out, uint64(len(chunks)))
	for i, c := range chunks {
		out = binary.AppendUvarint(out, uint64(len(c)))
		out = binary.AppendUvarint(out, uint64(rawLens[i]))
		out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(c, castagnoli))
	}
	out = binary.AppendUvarint(out, uint64(len(blobs)))
	for _, b := range blobs {
		out = append(out, b.Digest[:]...)
		out = binary.AppendUvarint(out, uint64(b.Chunk))
		out = binary.AppendUvarint(out, uint64(b.Off))
		out = binary.AppendUvarint(out, uint64(b.Len))
	}
	idxLen := len(out) - idxOff
	out = binary.LittleEndian.AppendUint64(out, uint64(idxOff))
	out = binary.LittleEndian.AppendUint32(out, uint32(idxLen))
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out[idxOff:idxOff+idxLen], castagnoli))
	return append(out, packTrailMagic...)
}

// checkPackHeader checks the first packHeaderSize bytes of a pack.
func checkPackHeader(h []byte) error {
	if len(h) < packHeaderSize {
		return fmt.Errorf("%w: pack header: %d bytes", ErrCorrupt, len(h))
	}
	if m := string(h[:4]); m != packMagic && m != packMagicLegacy {
		return fmt.Errorf("%w: pack header: bad magic %q", ErrCorrupt, h[:4])
	}
	if h[4] != packVersion {
		return fmt.Errorf("%w: pack header: unknown version %d", ErrCorrupt, h[4])
	}
	return nil
}

// decodePackTrailer returns where a pack of size bytes keeps its index.
func decodePackTrailer(t []byte, size int64) (off, n int64, crc uint32, err error) {
	if len(t) != packTrailerSize || string(t[16:]) != packTrailMagic {
		return 0, 0, 0, fmt.Errorf("%w: pack trailer", ErrCorrupt)
	}
	off = int64(binary.LittleEndian.Uint64(t))
	n = int64(binary.LittleEndian.Uint32(t[8:]))
	if off < packHeaderSize || off+n != size-packTrailerSize {
		return 0, 0, 0, fmt.Errorf("%w: pack trailer places the index at %d+%d in %d bytes", ErrCorrupt, off, n, size)
	}
	return off, n, binary.LittleEndian.Uint32(t[12:]), nil
}

// decodePackIndex parses an index that starts at idxOff; it checks that
// chunks tile bytes packHeaderSize..idxOff and blobs fall inside chunks.
func decodePackIndex(b []byte, crc uint32, idxOff int64) (PackIndex, error) {
	var pi PackIndex
	bad := func(what string) (PackIndex, error) { return pi, fmt.Errorf("%w: pack index: %s", ErrCorrupt, what) }
	if crc32.Checksum(b, castagnoli) != crc {
		return bad("checksum")
	}
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	nc, ok := next()
	if !ok || nc > uint64(idxOff) {
		return bad("chunk count")
	}
	off := int64(packHeaderSize)
	for i := uint64(0); i < nc; i++ {
		st, ok1 := next()
		raw, ok2 := next()
		if !ok1 || !ok2 || len(b) < 4 || st == 0 || st > uint64(idxOff) || raw > dedup.MaxDecodedSize {
			return bad("chunk table")
		}
		pi.Chunks = append(pi.Chunks, packChunk{Off: off, Stored: int64(st), Raw: int64(raw), CRC: binary.LittleEndian.Uint32(b)})
		b = b[4:]
		off += int64(st)
	}
	if off != idxOff {
		return bad("chunks do not end where the index starts")
	}
	nb, ok := next()
	if !ok || nb > uint64(len(b)) {
		return bad("blob count")
	}
	for i := uint64(0); i < nb; i++ {
		if len(b) < 32 {
			return bad("blob table")
		}
		var e PackEntry
		copy(e.Digest[:], b)
		b = b[32:]
		c, ok1 := next()
		o, ok2 := next()
		l, ok3 := next()
		if !ok1 || !ok2 || !ok3 || c >= nc || o+l > uint64(pi.Chunks[c].Raw) {
			return bad("blob table")
		}
		e.Chunk, e.Off, e.Len = int(c), int64(o), int64(l)
		pi.Blobs = append(pi.Blobs, e)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return pi, nil
}

// DecodeChunk checks a stored chunk against its index entry and returns
// its raw bytes.
func DecodeChunk(stored []byte, c packChunk) ([]byte, error) {
	if int64(len(stored)) != c.Stored || crc32.Checksum(stored, castagnoli) != c.CRC {
		return nil, fmt.Errorf("%w: pack chunk checksum", ErrCorrupt)
	}
	raw, err := dedup.Decode(stored)
	if err != nil {
		return nil, fmt.Errorf("%w: pack chunk: %v", ErrCorrupt, err)
	}
	if int64(len(raw)) != c.Raw {
		return nil, fmt.Errorf("%w: pack chunk is %d bytes, index says %d", ErrCorrupt, len(raw), c.Raw)
	}
	return raw, nil
}

func chunkCRC(stored []byte) uint32 { return crc32.Checksum(stored, castagnoli) }
