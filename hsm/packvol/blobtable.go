package packvol

import (
	"bytes"
	"encoding/binary"
	"iter"
	"math/bits"
)

// blobTable maps message blob digests to their places, in less memory than
// a Go map: a map doubles its slots when it fills, so at a given count it
// may hold twice the slots it needs (52 bytes each here), and the cost per
// object swings between about 70 and 120 bytes with the count. The table
// instead keeps records sorted by digest in buckets picked by the digest's
// leading bits (digests are uniform, so buckets fill evenly), each bucket a
// slice grown by an eighth at a time: about 55-60 bytes per object at any
// count. A lookup is a binary search within one bucket (about 16-32
// records); an insert moves half a bucket (under a kilobyte on average).
// When the buckets average more than bucketFill records their number
// doubles, up to 1<<maxBucketBits; past that (some 30 million objects)
// buckets just grow longer. Not safe for concurrent use.
type blobTable struct {
	bits    uint        // len(buckets) == 1<<bits
	buckets [][]blobRec // each sorted by k
	n       int
}

// blobRec is one record: 52 bytes, 4-byte aligned, so a slice of them has
// no padding.
type blobRec struct {
	k blobKey
	l blobLoc
}

const (
	minBucketBits = 8
	maxBucketBits = 20
	bucketFill    = 32
)

// newBlobTable returns an empty table with buckets for about hint records.
func newBlobTable(hint int) *blobTable {
	b := uint(minBucketBits)
	if hint > bucketFill<<b {
		b = min(uint(bits.Len(uint(hint/bucketFill))), maxBucketBits)
	}
	return &blobTable{bits: b, buckets: make([][]blobRec, 1<<b)}
}

func (t *blobTable) len() int { return t.n }

// bucket returns the bucket index of k at the table's current size.
func (t *blobTable) bucket(k *blobKey) int {
	return int(binary.BigEndian.Uint32(k[:4]) >> (32 - t.bits))
}

// search returns where k is or would be in the sorted bucket b.
func search(b []blobRec, k *blobKey) (int, bool) {
	lo, hi := 0, len(b)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(b[m].k[:], k[:]); {
		case c == 0:
			return m, true
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return lo, false
}

func (t *blobTable) get(k *blobKey) (blobLoc, bool) {
	b := t.buckets[t.bucket(k)]
	if i, ok := search(b, k); ok {
		return b[i].l, true
	}
	return blobLoc{}, false
}

// put records l for k and returns the place it replaces, if any.
func (t *blobTable) put(k *blobKey, l blobLoc) (old blobLoc, had bool) {
	bi := t.bucket(k)
	b := t.buckets[bi]
	i, ok := search(b, k)
	if ok {
		old = b[i].l
		b[i].l = l
		return old, true
	}
	if len(b) == cap(b) {
		b = resize(b, len(b)+len(b)/8+1)
	}
	b = b[:len(b)+1]
	copy(b[i+1:], b[i:])
	b[i] = blobRec{k: *k, l: l}
	t.buckets[bi] = b
	t.n++
	if t.n > bucketFill<<t.bits && t.bits < maxBucketBits {
		t.split()
	}
	return blobLoc{}, false
}

// remove drops k and returns the place it had, if any.
func (t *blobTable) remove(k *blobKey) (old blobLoc, had bool) {
	bi := t.bucket(k)
	b := t.buckets[bi]
	i, ok := search(b, k)
	if !ok {
		return blobLoc{}, false
	}
	old = b[i].l
	t.buckets[bi] = shrink(append(b[:i], b[i+1:]...))
	t.n--
	return old, true
}

// resize returns b's records in a new slice of capacity at least c, using
// the whole size class the allocator rounds it up to.
func resize(b []blobRec, c int) []blobRec {
	nb := append([]blobRec(nil), make([]blobRec, c)...)
	return nb[:copy(nb, b)]
}

// shrink gives back the spare room of a bucket that emptied well below
// its capacity.
func shrink(b []blobRec) []blobRec {
	switch {
	case len(b) == 0:
		return nil
	case cap(b) > 2*len(b)+8:
		return resize(b, len(b))
	}
	return b
}

// split doubles the buckets: bucket i becomes 2i (records whose next bit
// is 0) and 2i+1, each a sorted run of the old one.
func (t *blobTable) split() {
	nb := make([][]blobRec, 2*len(t.buckets))
	t.bits++
	for i, b := range t.buckets {
		j, _ := search(b, blobKeyAt(2*i+1, t.bits))
		if j > 0 {
			nb[2*i] = resize(b[:j], j)
		}
		if j < len(b) {
			nb[2*i+1] = resize(b[j:], len(b)-j)
		}
		t.buckets[i] = nil // free as we go
	}
	t.buckets = nb
}

// blobKeyAt returns the smallest key of bucket i of a table of 1<<bits
// buckets.
func blobKeyAt(i int, nbits uint) *blobKey {
	var k blobKey
	binary.BigEndian.PutUint32(k[:4], uint32(i)<<(32-nbits))
	return &k
}

// dropPacks removes every record in a pack gone reports true for.
func (t *blobTable) dropPacks(gone func(seq uint64) bool) {
	for i, b := range t.buckets {
		kept := b[:0]
		for _, r := range b {
			if !gone(uint64(r.l.seq)) {
				kept = append(kept, r)
			}
		}
		t.n -= len(b) - len(kept)
		t.buckets[i] = shrink(kept)
	}
}

func (t *blobTable) clone() *blobTable {
	c := &blobTable{bits: t.bits, buckets: make([][]blobRec, len(t.buckets)), n: t.n}
	for i, b := range t.buckets {
		if len(b) > 0 {
			c.buckets[i] = resize(b, len(b))
		}
	}
	return c
}

// all yields every record in digest order. The key pointer is valid only
// during the call; the table must not change meanwhile.
func (t *blobTable) all() iter.Seq2[*blobKey, blobLoc] {
	return func(yield func(*blobKey, blobLoc) bool) {
		for _, b := range t.buckets {
			for i := range b {
				if !yield(&b[i].k, b[i].l) {
					return
				}
			}
		}
	}
}
