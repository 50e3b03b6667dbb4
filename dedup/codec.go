package dedup

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/tidemark/tidemark/internal/corrupt"
)

// Codec header bytes. New codecs take new values; old values keep their
// meaning forever, since stored blobs are never rewritten.
const (
	CodecRaw  byte = 0
	CodecZstd byte = 1
)

// DefaultThreshold is the compression threshold of the backup repository
// and of primary volumes that turn compression on (docs/ARCHITECTURE.md "Decisions": 4096 bytes).
const DefaultThreshold = 4096

// MaxDecodedSize bounds the memory one decode may use, so a corrupt or
// hostile frame claiming a huge size fails instead of exhausting memory. It
// is far above any message an MTA accepts.
const MaxDecodedSize = 1 << 30

var (
	// ErrCorrupt reports a framed blob that cannot be decoded.
	ErrCorrupt = corrupt.New("dedup: corrupt blob")
	// ErrUnknownCodec reports a codec header byte this version does not know
	// (a blob written by a newer tidemark, or damage).
	ErrUnknownCodec = errors.New("dedup: unknown codec")
)

// EncoderWindow is the zstd window of every encoder tidemark makes.
// zstd's default of 8 MiB gives each encoder a 16 MiB history buffer,
// allocated at its first use and kept for good: with one encoder per core,
// and the backup repository's own, that was 48 MiB of a running server's
// heap, more than the rest of it together. Nearly every message is smaller
// than 2 MiB and compresses exactly as before; 18 MB of mail compressed as
// one input came out 4 % larger. With the lower-memory option an encoder
// holds the window and one block, about 2.1 MiB.
const EncoderWindow = 2 << 20

// EncoderOptions are the options of every zstd encoder tidemark makes, at
// level; callers add concurrency, checksums or a dictionary.
func EncoderOptions(level zstd.EncoderLevel, more ...zstd.EOption) []zstd.EOption {
	return append([]zstd.EOption{zstd.WithEncoderLevel(level), zstd.WithWindowSize(EncoderWindow), zstd.WithLowerEncoderMem(true)}, more...)
}

// Encoders are pooled, one encode each at a time (concurrency 1: no
// goroutines left running in the pool), rather than one shared encoder:
// once used, an encoder holds about 3 MiB (its window history and match
// tables) for good, and a pool lets the collector drop the ones an idle
// server no longer uses. Encode and EncodeTo (after a Reset(nil))
// share them. The shared decoder is safe for concurrent DecodeAll and
// keeps its own internal pool of state.
var (
	encPool = sync.Pool{New: func() any {
		e, err := zstd.NewWriter(nil, EncoderOptions(zstd.SpeedDefault, zstd.WithEncoderConcurrency(1))...)
		if err != nil {
			panic(fmt.Sprintf("dedup: zstd encoder: %v", err)) // only on invalid options
		}
		return e
	}}
	decOnce sync.Once
	dec     *zstd.Decoder
)

func decoder() *zstd.Decoder {
	decOnce.Do(func() {
		var err error
		dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxDecodedSize))
		if err != nil {
			panic(fmt.Sprintf("dedup: zstd decoder: %v", err)) // only on invalid options
		}
	})
	return dec
}

// Encode frames raw: zstd when len(raw) >= threshold and the result is
// smaller than raw, otherwise raw. threshold < 0 never compresses. The
// result never aliases raw.
func Encode(raw []byte, threshold int) []byte {
	if threshold >= 0 && len(raw) >= threshold {
		out := make([]byte, 1, 1+len(raw)/2)
		out[0] = CodecZstd
		e := encPool.Get().(*zstd.Encoder)
		out = e.EncodeAll(raw, out)
		encPool.Put(e)
		if len(out) < 1+len(raw) {
			return out
		}
	}
	out := make([]byte, 1+len(raw))
	out[0] = CodecRaw
	copy(out[1:], raw)
	return out
}

// Decode returns the raw bytes of a framed blob. For CodecRaw the result
// aliases framed.
func Decode(framed []byte) ([]byte, error) {
	if len(framed) == 0 {
		return nil, fmt.Errorf("%w: empty, no codec header", ErrCorrupt)
	}
	switch framed[0] {
	case CodecRaw:
		return framed[1:], nil
	case CodecZstd:
		if len(framed) == 1 {
			return nil, fmt.Errorf("%w: zstd: empty body", ErrCorrupt)
		}
		raw, err := decoder().DecodeAll(framed[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		if raw == nil {
			raw = []byte{}
		}
		return raw, nil
	case CodecZstdDict:
		return nil, fmt.Errorf("%w: codec 0x02 needs DecodeWith and its dictionary", ErrNoDict)
	}
	return nil, fmt.Errorf("%w 0x%02x", ErrUnknownCodec, framed[0])
}

// Codec returns the codec header of a framed blob.
func Codec(framed []byte) (byte, error) {
	if len(framed) == 0 {
		return 0, fmt.Errorf("%w: empty, no codec header", ErrCorrupt)
	}
	return framed[0], nil
}
