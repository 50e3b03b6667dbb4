package dedup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/klauspost/compress/zstd"
)

// CodecZstdDict frames a zstd frame compressed with a dictionary: the
// header byte is followed by the dictionary's 4-byte id (little-endian),
// then the frame. Decoding needs the dictionary (DecodeWith).
const CodecZstdDict byte = 2

// dictHeader is the length of the CodecZstdDict framing before the frame.
const dictHeader = 1 + 4

// ErrNoDict reports a dictionary-compressed blob whose dictionary the
// caller cannot supply.
var ErrNoDict = errors.New("dedup: dictionary not available")

// Dict is a zstd dictionary (RFC 8878 §5) ready to encode and decode with.
// It is safe for concurrent use.
type Dict struct {
	id  uint32
	raw []byte
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// DictLevel is the zstd level dictionary encoders use.
type DictLevel = zstd.EncoderLevel

// Dictionary encoder levels.
const (
	DictLevelDefault = zstd.SpeedDefault
	DictLevelBetter  = zstd.SpeedBetterCompression
)

// NewDict parses a serialized zstd dictionary and readies an encoder at
// level and a decoder for it. A damaged dictionary fails with ErrCorrupt.
func NewDict(b []byte, level DictLevel) (*Dict, error) {
	id, ok := DictFileID(b)
	if !ok {
		return nil, fmt.Errorf("%w: not a zstd dictionary", ErrCorrupt)
	}
	raw := bytes.Clone(b)
	enc, err := zstd.NewWriter(nil, EncoderOptions(level, zstd.WithEncoderDict(raw))...)
	if err != nil {
		return nil, fmt.Errorf("%w: dictionary %08x: %v", ErrCorrupt, id, err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxDecodedSize), zstd.WithDecoderDicts(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: dictionary %08x: %v", ErrCorrupt, id, err)
	}
	return &Dict{id: id, raw: raw, enc: enc, dec: dec}, nil
}

// ID returns the dictionary id (the one in its header).
func (d *Dict) ID() uint32 { return d.id }

// Bytes returns the serialized dictionary; the caller must not modify it.
func (d *Dict) Bytes() []byte { return d.raw }

// DictFileID returns the id in a serialized zstd dictionary's header.
func DictFileID(b []byte) (uint32, bool) {
	if len(b) < 8 || binary.LittleEndian.Uint32(b) != 0xEC30A437 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[4:]), true
}

// EncodeDict frames raw like Encode, but compresses with d (CodecZstdDict).
// A nil d is Encode.
func EncodeDict(raw []byte, threshold int, d *Dict) []byte {
	if d == nil {
		return Encode(raw, threshold)
	}
	if threshold >= 0 && len(raw) >= threshold {
		out := make([]byte, dictHeader, dictHeader+len(raw)/2)
		out[0] = CodecZstdDict
		binary.LittleEndian.PutUint32(out[1:], d.id)
		out = d.enc.EncodeAll(raw, out)
		if len(out) < 1+len(raw) {
			return out
		}
	}
	return Encode(raw, -1)
}

// FramedDictID returns the dictionary a framed blob needs, if any.
func FramedDictID(framed []byte) (uint32, bool) {
	if len(framed) < dictHeader || framed[0] != CodecZstdDict {
		return 0, false
	}
	return binary.LittleEndian.Uint32(framed[1:]), true
}

// DecodeWith is Decode for blobs that may be dictionary-compressed: dict
// resolves a dictionary id (nil dict: such blobs fail with ErrNoDict).
// Errors of dict are returned wrapped.
func DecodeWith(framed []byte, dict func(id uint32) (*Dict, error)) ([]byte, error) {
	if len(framed) == 0 || framed[0] != CodecZstdDict {
		return Decode(framed)
	}
	if len(framed) <= dictHeader {
		return nil, fmt.Errorf("%w: zstd+dict: short header", ErrCorrupt)
	}
	id := binary.LittleEndian.Uint32(framed[1:])
	if dict == nil {
		return nil, fmt.Errorf("%w: %08x", ErrNoDict, id)
	}
	d, err := dict(id)
	if err != nil {
		return nil, fmt.Errorf("dictionary %08x: %w", id, err)
	}
	if d.id != id {
		return nil, fmt.Errorf("%w: dictionary %08x given for %08x", ErrNoDict, d.id, id)
	}
	raw, err := d.dec.DecodeAll(framed[dictHeader:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: zstd+dict %08x: %v", ErrCorrupt, id, err)
	}
	if raw == nil {
		raw = []byte{}
	}
	return raw, nil
}

// TrainDict builds a zstd dictionary with the given id from sample
// messages. Its content (the history every frame may refer to) is made of
// whole lines that recur in at least two samples, most valuable (count ×
// length) last, so the commonest ones sit nearest the data: for mail these
// are the header lines, list footers and signatures a corpus shares. At
// most maxContent bytes of content; the entropy tables are fitted on the
// samples. It fails when the samples share too little to be worth it.
func TrainDict(samples [][]byte, id uint32, maxContent int) ([]byte, error) {
	if id == 0 {
		return nil, errors.New("dedup: train dictionary: id 0 is reserved")
	}
	hist := recurringLines(samples, maxContent)
	if len(hist) < 8 {
		return nil, errors.New("dedup: train dictionary: samples share no content")
	}
	// The tables need only representative input; cap each sample (large
	// inputs also trip the builder).
	contents := make([][]byte, 0, len(samples))
	for _, s := range samples {
		if len(s) > 16<<10 {
			s = s[:16<<10]
		}
		if len(s) > 0 {
			contents = append(contents, s)
		}
	}
	d, err := zstd.BuildDict(zstd.BuildDictOptions{ID: id, Contents: contents, History: hist, Offsets: [3]int{1, 4, 8}, Level: zstd.SpeedDefault})
	if err != nil {
		return nil, fmt.Errorf("dedup: train dictionary: %w", err)
	}
	return d, nil
}

// recurringLines returns the dictionary content TrainDict uses.
func recurringLines(samples [][]byte, max int) []byte {
	count := map[string]int{}
	for _, s := range samples {
		seen := map[string]bool{}
		for len(s) > 0 {
			n := bytes.IndexByte(s, '\n') + 1
			if n == 0 {
				n = len(s)
			}
			line := s[:n]
			s = s[n:]
			if len(line) < 8 || seen[string(line)] {
				continue
			}
			seen[string(line)] = true
			count[string(line)]++
		}
	}
	type scored struct {
		line  string
		score int
	}
	var all []scored
	for l, c := range count {
		if c >= 2 {
			all = append(all, scored{l, c * len(l)})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].line < all[j].line
	})
	var keep []string
	n := 0
	for _, s := range all {
		if n+len(s.line) <= max {
			keep = append(keep, s.line)
			n += len(s.line)
		}
	}
	out := make([]byte, 0, n)
	for i := len(keep) - 1; i >= 0; i-- {
		out = append(out, keep[i]...)
	}
	return out
}
