package engine

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/tidemark/tidemark/engine/event"
)

// Item records are read far more than anything else in the projection:
// SELECT, SEARCH and every resynchronisation of a session list a folder's
// items. decodeItem reads the CBOR that encVal writes for an itemRec (a
// map of small integer keys to unsigned and negative integers, a byte
// string and an array of text strings, all with definite lengths) without
// reflection, and hands anything else to the general decoder, so the
// result and the errors are always the general decoder's.

// decodeItem decodes an item record into it.
func decodeItem(b []byte, it *itemRec) error {
	if decodeItemFast(b, it) {
		return nil
	}
	*it = itemRec{}
	return decVal(b, it)
}

// cborReader reads definite-length CBOR heads.
type cborReader struct {
	b  []byte
	ok bool
}

// head reads an item head: major type and its argument.
func (r *cborReader) head() (major byte, arg uint64) {
	if !r.ok || len(r.b) == 0 {
		r.ok = false
		return 0, 0
	}
	ib := r.b[0]
	major, info := ib>>5, ib&0x1f
	r.b = r.b[1:]
	switch {
	case info < 24:
		return major, uint64(info)
	case info == 24 && len(r.b) >= 1:
		arg = uint64(r.b[0])
		r.b = r.b[1:]
	case info == 25 && len(r.b) >= 2:
		arg = uint64(binary.BigEndian.Uint16(r.b))
		r.b = r.b[2:]
	case info == 26 && len(r.b) >= 4:
		arg = uint64(binary.BigEndian.Uint32(r.b))
		r.b = r.b[4:]
	case info == 27 && len(r.b) >= 8:
		arg = binary.BigEndian.Uint64(r.b)
		r.b = r.b[8:]
	default: // indefinite lengths, simple values, truncation
		r.ok = false
	}
	return major, arg
}

// take returns the next n bytes.
func (r *cborReader) take(n uint64) []byte {
	if !r.ok || n > uint64(len(r.b)) {
		r.ok = false
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *cborReader) uint() uint64 {
	major, arg := r.head()
	if major != 0 {
		r.ok = false
	}
	return arg
}

func (r *cborReader) int() int64 {
	major, arg := r.head()
	if arg > math.MaxInt64 {
		r.ok = false
		return 0
	}
	switch major {
	case 0:
		return int64(arg)
	case 1:
		return -1 - int64(arg)
	}
	r.ok = false
	return 0
}

// decodeItemFast decodes the encoding encVal writes; false for anything
// else (it may then hold part of the record).
func decodeItemFast(b []byte, it *itemRec) bool {
	r := cborReader{b: b, ok: true}
	major, n := r.head()
	if major != 5 || n > 16 {
		return false
	}
	*it = itemRec{}
	var seen uint8
	for i := uint64(0); i < n && r.ok; i++ {
		key := r.uint()
		if key >= 1 && key <= 7 {
			if seen&(1<<key) != 0 {
				return false // a repeated key: the general decoder's rules
			}
			seen |= 1 << key
		}
		switch key {
		case 1:
			it.ID = r.uint()
		case 2:
			t := r.uint()
			if t > math.MaxUint8 {
				return false
			}
			it.Type = event.ItemType(t)
		case 3:
			major, cnt := r.head()
			if major != 4 || cnt > uint64(len(r.b)) {
				return false
			}
			it.Flags = make([]string, 0, cnt)
			for j := uint64(0); j < cnt && r.ok; j++ {
				major, l := r.head()
				s := r.take(l)
				if major != 3 || !utf8.Valid(s) {
					return false
				}
				it.Flags = append(it.Flags, string(s))
			}
		case 4:
			it.InternalDate = r.int()
		case 5:
			it.Size = r.int()
		case 6:
			major, l := r.head()
			if major != 2 || l != uint64(len(it.Digest)) {
				return false
			}
			copy(it.Digest[:], r.take(l))
		case 7:
			it.ModSeq = r.uint()
		default:
			return false
		}
	}
	return r.ok && len(r.b) == 0
}
