package packvol

import (
	"encoding/hex"
	"maps"
	"math"
	"strings"
)

// The index maps each packed object's name to its place. Its bulk lives in
// the checkpoint file (ckptfile.go), read with ReadAt; memIndex here holds
// what changed since the checkpoint was written (layered.go), and the
// whole index while there is no checkpoint of the current format. Almost
// every name is a message blob's,
// "blobs/<2 hex>/<64 hex>" (dedup.BlobName of a SHA-256 digest), so
// those are keyed by the 32 digest bytes instead of the 73-byte string
// (which costs a string header in the map and an 80-byte allocation
// beside it), their place is packed into 20 bytes, and the 52-byte
// records are kept in a blobTable (blobtable.go) rather than a map. Every
// other name, and a blob whose place does not fit 32-bit fields (a pack
// numbered past 2^32 or an offset past 4 GiB, possible with a large
// Options.PackSize), keeps its string and a 64-bit place in a map. The
// object size is not stored: an entry is its header, its name and the
// object, so size = n - 20 - len(name). BenchmarkIndexMemory measures the
// cost per object (docs/BENCHMARKS.md, "Pack index memory").

// blobPrefix and blobNameLen describe the message blob names the index
// keys by digest: "blobs/" + the digest's first two hex digits + "/" +
// its 64 lowercase hex digits.
const (
	blobPrefix  = "blobs/"
	blobNameLen = len(blobPrefix) + 3 + 2*len(blobKey{})
)

// blobKey is a message blob's SHA-256 digest, decoded from its name.
type blobKey [32]byte

// unhex maps a lowercase hex digit to its value and anything else to
// 0xff. Upper case is refused so that decoding and re-encoding a key gives
// back the exact name stored.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

// parseBlobName returns the digest of a name of the message blob shape;
// ok is false for any other name (upper-case digits, a fan-out that does
// not match the digest, another length or prefix). Every name it accepts
// passes hsm.CheckName. It takes the name as bytes too, so that reading a
// checkpoint needs no string per blob.
func parseBlobName[T string | []byte](name T) (k blobKey, ok bool) {
	const h = len(blobPrefix) + 3 // where the 64 digits start
	if len(name) != blobNameLen || string(name[:len(blobPrefix)]) != blobPrefix || name[h-1] != '/' ||
		string(name[len(blobPrefix):h-1]) != string(name[h:h+2]) {
		return blobKey{}, false
	}
	for i := range k {
		hi, lo := unhex[name[h+2*i]], unhex[name[h+2*i+1]]
		if hi|lo > 0xf {
			return blobKey{}, false
		}
		k[i] = hi<<4 | lo
	}
	return k, true
}

// appendName appends the name k was parsed from.
func (k *blobKey) appendName(b []byte) []byte {
	b = append(b, blobPrefix...)
	b = hex.AppendEncode(b, k[:1])
	b = append(b, '/')
	return hex.AppendEncode(b, k[:])
}

// blobLoc is a message blob's place in 20 bytes (no field needs 8-byte
// alignment, so a record is 52 bytes with its key).
type blobLoc struct {
	seq, off, n      uint32
	mtimeLo, mtimeHi uint32
}

// packLoc returns l as a blobLoc; ok is false when a field does not fit.
func packLoc(l loc) (blobLoc, bool) {
	if l.seq > math.MaxUint32 || l.off < 0 || l.off > math.MaxUint32 || l.n < 0 || l.n > math.MaxUint32 {
		return blobLoc{}, false
	}
	return blobLoc{
		seq: uint32(l.seq), off: uint32(l.off), n: uint32(l.n),
		mtimeLo: uint32(uint64(l.mtime)), mtimeHi: uint32(uint64(l.mtime) >> 32),
	}, true
}

func (p blobLoc) loc() loc {
	n := int64(p.n)
	return loc{
		seq: uint64(p.seq), off: int64(p.off), n: n, size: n - int64(entryHeader+blobNameLen),
		mtime: int64(uint64(p.mtimeHi)<<32 | uint64(p.mtimeLo)),
	}
}

// wideLoc is the place of any other name, in full.
type wideLoc struct {
	seq           uint64
	off, n, mtime int64
}

func (w wideLoc) loc(name string) loc {
	return loc{seq: w.seq, off: w.off, n: w.n, size: w.n - entrySize(name, 0), mtime: w.mtime}
}

// memIndex maps names to the place of their newest entry. A name is in at
// most one of blobs and names. A record whose entry length n is 0 is a
// removal: in a delta over the checkpoint file (layered.go) it hides the
// file's record of the name; get and withPrefix return such records as
// they are. It is not safe for concurrent use: the Volume guards it with
// mu.
type memIndex struct {
	blobs *blobTable
	names map[string]wideLoc
	// wideBlobs counts the blob-shaped names in names, so that looking a
	// blob name up in names is skipped while there are none.
	wideBlobs int
}

// newMemIndex returns an empty index with room for about blobs message
// blobs and names other names.
func newMemIndex(blobs, names int) *memIndex {
	return &memIndex{blobs: newBlobTable(blobs), names: make(map[string]wideLoc, names)}
}

func (x *memIndex) len() int { return x.blobs.len() + len(x.names) }

// get returns name's record (n == 0: recorded as removed).
func (x *memIndex) get(name string) (loc, bool) {
	if k, ok := parseBlobName(name); ok {
		if p, ok := x.blobs.get(&k); ok {
			return p.loc(), true
		}
		if x.wideBlobs == 0 {
			return loc{}, false
		}
	}
	w, ok := x.names[name]
	if !ok {
		return loc{}, false
	}
	return w.loc(name), true
}

// put records l as name's place and returns the place it replaces, if any.
// l.size must match l.n (l.n == entrySize(name, l.size)): get derives it.
func (x *memIndex) put(name string, l loc) (old loc, had bool) {
	k, isBlob := parseBlobName(name)
	if isBlob {
		if p, ok := packLoc(l); ok {
			if q, ok := x.blobs.put(&k, p); ok {
				return q.loc(), true
			}
			if x.wideBlobs > 0 {
				return x.removeWide(name, true)
			}
			return loc{}, false
		}
		if q, ok := x.blobs.remove(&k); ok {
			old, had = q.loc(), true
		}
	}
	w, ok := x.names[name]
	if ok {
		old, had = w.loc(name), true
	} else if isBlob {
		x.wideBlobs++
	}
	x.names[name] = wideLoc{seq: l.seq, off: l.off, n: l.n, mtime: l.mtime}
	return old, had
}

// remove drops name and returns the place it had, if any.
func (x *memIndex) remove(name string) (old loc, had bool) {
	k, isBlob := parseBlobName(name)
	if isBlob {
		if p, ok := x.blobs.remove(&k); ok {
			return p.loc(), true
		}
		if x.wideBlobs == 0 {
			return loc{}, false
		}
	}
	return x.removeWide(name, isBlob)
}

func (x *memIndex) removeWide(name string, isBlob bool) (loc, bool) {
	w, ok := x.names[name]
	if !ok {
		return loc{}, false
	}
	delete(x.names, name)
	if isBlob {
		x.wideBlobs--
	}
	return w.loc(name), true
}

// dropPacks removes every entry in a pack gone reports true for.
func (x *memIndex) dropPacks(gone func(seq uint64) bool) {
	x.blobs.dropPacks(gone)
	for name, w := range x.names {
		if gone(w.seq) {
			_, isBlob := parseBlobName(name)
			x.removeWide(name, isBlob)
		}
	}
}

// clone returns a copy (maps.Clone copies a map's tables whole, faster
// than inserting entry by entry).
func (x *memIndex) clone() *memIndex {
	return &memIndex{blobs: x.blobs.clone(), names: maps.Clone(x.names), wideBlobs: x.wideBlobs}
}

// withPrefix calls fn with every name under prefix and its place, in no
// particular order (message blobs first, in digest order). A blob's name is rebuilt (and allocated) only when it
// matches.
func (x *memIndex) withPrefix(prefix string, fn func(name string, l loc)) {
	var b [blobNameLen]byte
	blobs := len(prefix) <= blobNameLen
	if n := min(len(prefix), len(blobPrefix)); prefix[:n] != blobPrefix[:n] {
		blobs = false
	}
	for k, p := range x.blobs.all() {
		if !blobs {
			break
		}
		if name := k.appendName(b[:0]); string(name[:len(prefix)]) == prefix {
			fn(string(name), p.loc())
		}
	}
	for name, w := range x.names {
		if strings.HasPrefix(name, prefix) {
			fn(name, w.loc(name))
		}
	}
}
