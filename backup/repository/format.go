package repository

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/redolog"
)

// Object kinds stored in the header's kind byte.
const (
	KindSegment  byte = 1
	KindScan     byte = 2
	KindSnapshot byte = 3
)

const (
	objMagic      = "TMBK"
	objVersion    = 1
	codecZstd     = 1
	ObjHeaderSize = 48
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the uncompressed head of a segment, scan or snapshot object.
type Header struct {
	Kind      byte
	First     uint64
	Last      uint64
	FirstTime int64
	LastTime  int64
	Count     uint32
}

// Encoders are pooled (see dedup's): the collector drops the ones an idle
// server no longer uses.
var (
	zEncPool = sync.Pool{New: func() any {
		e, err := zstd.NewWriter(nil, dedup.EncoderOptions(zstd.SpeedDefault, zstd.WithEncoderCRC(true), zstd.WithEncoderConcurrency(1))...)
		if err != nil {
			panic(err) // only on invalid options
		}
		return e
	}}
	zOnce sync.Once
	zDec  *zstd.Decoder
)

func decoderOnce() *zstd.Decoder {
	zOnce.Do(func() {
		var err error
		zDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<32))
		if err != nil {
			panic(err)
		}
	})
	return zDec
}

// EncodeObject frames body (uncompressed) behind h.
func EncodeObject(h Header, body []byte) []byte {
	out := make([]byte, ObjHeaderSize, ObjHeaderSize+len(body)/3+64)
	copy(out, objMagic)
	out[4], out[5], out[6], out[7] = objVersion, codecZstd, h.Kind, 0
	binary.LittleEndian.PutUint64(out[8:], h.First)
	binary.LittleEndian.PutUint64(out[16:], h.Last)
	binary.LittleEndian.PutUint64(out[24:], uint64(h.FirstTime))
	binary.LittleEndian.PutUint64(out[32:], uint64(h.LastTime))
	binary.LittleEndian.PutUint32(out[40:], h.Count)
	binary.LittleEndian.PutUint32(out[44:], crc32.Checksum(out[:44], castagnoli))
	enc := zEncPool.Get().(*zstd.Encoder)
	out = enc.EncodeAll(body, out)
	zEncPool.Put(enc)
	return out
}

// DecodeHeader checks and decodes the first ObjHeaderSize bytes of b.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < ObjHeaderSize {
		return Header{}, fmt.Errorf("%w: object of %d bytes is shorter than its header", ErrCorrupt, len(b))
	}
	if string(b[:4]) != objMagic {
		return Header{}, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[:4])
	}
	if got, want := crc32.Checksum(b[:44], castagnoli), binary.LittleEndian.Uint32(b[44:]); got != want {
		return Header{}, fmt.Errorf("%w: header checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	if b[4] != objVersion {
		return Header{}, fmt.Errorf("%w: object version %d", ErrFormat, b[4])
	}
	if b[5] != codecZstd {
		return Header{}, fmt.Errorf("%w: codec %d", ErrFormat, b[5])
	}
	return Header{
		Kind:      b[6],
		First:     binary.LittleEndian.Uint64(b[8:]),
		Last:      binary.LittleEndian.Uint64(b[16:]),
		FirstTime: int64(binary.LittleEndian.Uint64(b[24:])),
		LastTime:  int64(binary.LittleEndian.Uint64(b[32:])),
		Count:     binary.LittleEndian.Uint32(b[40:]),
	}, nil
}

// decodeObject checks b's header and returns it with the decompressed body.
func decodeObject(b []byte) (Header, []byte, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return h, nil, err
	}
	dec := decoderOnce()
	body, err := dec.DecodeAll(b[ObjHeaderSize:], nil)
	if err != nil {
		return h, nil, fmt.Errorf("%w: body: %v", ErrCorrupt, err)
	}
	return h, body, nil
}

// EncodeRecords builds a segment or scan object from records in LSN order.
func EncodeRecords(kind byte, first, last uint64, recs []redolog.Record) []byte {
	var body []byte
	h := Header{Kind: kind, First: first, Last: last, Count: uint32(len(recs))}
	for i, r := range recs {
		body = redolog.AppendRecord(body, r)
		if i == 0 {
			h.FirstTime = r.Time
		}
		h.LastTime = r.Time
	}
	return EncodeObject(h, body)
}

// decodeRecords decodes a segment or scan object and checks that its
// records are in order, inside the header's range and as many as it says.
func decodeRecords(b []byte) (Header, []redolog.Record, error) {
	h, body, err := decodeObject(b)
	if err != nil {
		return h, nil, err
	}
	if h.Kind != KindSegment && h.Kind != KindScan {
		return h, nil, fmt.Errorf("%w: kind %d is not a record object", ErrCorrupt, h.Kind)
	}
	recs := make([]redolog.Record, 0, h.Count)
	var prev uint64
	for len(body) > 0 {
		r, n, err := redolog.DecodeRecord(body)
		if err != nil {
			return h, nil, fmt.Errorf("%w: record %d: %v", ErrCorrupt, len(recs), err)
		}
		if r.LSN < h.First || r.LSN > h.Last || r.LSN < prev || (h.Kind == KindSegment && r.LSN == prev) {
			return h, nil, fmt.Errorf("%w: record lsn %d out of order or outside %d-%d", ErrCorrupt, r.LSN, h.First, h.Last)
		}
		prev = r.LSN
		recs = append(recs, r)
		body = body[n:]
	}
	if uint32(len(recs)) != h.Count {
		return h, nil, fmt.Errorf("%w: %d records, header says %d", ErrCorrupt, len(recs), h.Count)
	}
	return h, recs, nil
}

// AppendUvarintBytes appends a length-prefixed byte string.
func AppendUvarintBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// readUvarintBytes reads a length-prefixed byte string from b.
func readUvarintBytes(b []byte) (val, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, fmt.Errorf("%w: bad length prefix", ErrCorrupt)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}
