package dedup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Streaming decoders hold window buffers of a few MiB, so they are pooled
// rather than made per blob, as encoders are (encPool, which streams
// share with Encode). Concurrency 1 keeps each one synchronous (no
// goroutines left running in the pool).
var (
	streamDecPool = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxDecodedSize))
		if err != nil {
			panic(fmt.Sprintf("dedup: zstd decoder: %v", err))
		}
		return d
	}}
)

// NewDecodeReader reads a framed blob from r and returns its raw bytes as a
// stream, for blobs too large to hold in memory. The codec header is read
// at once, so an empty input or an unknown codec fails here. A corrupt zstd
// stream fails a later Read with ErrCorrupt; errors of r itself are passed
// through unchanged. Close releases the decoder; it does not close r.
func NewDecodeReader(r io.Reader) (io.ReadCloser, error) {
	var h [1]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: empty, no codec header", ErrCorrupt)
		}
		return nil, fmt.Errorf("read codec header: %w", err)
	}
	switch h[0] {
	case CodecRaw:
		return io.NopCloser(r), nil
	case CodecZstd:
		src := &srcReader{r: r}
		d := streamDecPool.Get().(*zstd.Decoder)
		if err := d.Reset(src); err != nil {
			streamDecPool.Put(d)
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return &decodeReader{d: d, src: src}, nil
	case CodecZstdDict:
		return nil, fmt.Errorf("%w: codec 0x02 needs DecodeWith and its dictionary", ErrNoDict)
	}
	return nil, fmt.Errorf("%w 0x%02x", ErrUnknownCodec, h[0])
}

// srcReader remembers the source's own error so that decodeReader can tell
// it from a decoding error.
type srcReader struct {
	r   io.Reader
	n   int64
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type decodeReader struct {
	d   *zstd.Decoder
	src *srcReader
	err error
}

func (r *decodeReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.d == nil {
		return 0, errors.New("dedup: read after close")
	}
	n, err := r.d.Read(p)
	switch {
	case err == nil || err == io.EOF:
		if err == io.EOF && r.src.n == 0 {
			err = fmt.Errorf("%w: zstd: empty body", ErrCorrupt)
			r.err = err
		}
		return n, err
	case r.src.err != nil && errors.Is(err, r.src.err):
		r.err = err
	default:
		r.err = fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	return n, r.err
}

func (r *decodeReader) Close() error {
	if r.d != nil {
		_ = r.d.Reset(nil) // drop the reference to the source
		streamDecPool.Put(r.d)
		r.d = nil
	}
	return nil
}

// EncodeTo reads raw bytes from r and writes them framed to w, returning the
// bytes written to w. It decides the codec after reading threshold bytes:
// a shorter stream is stored raw, a longer one is compressed. Unlike Encode
// it cannot fall back to raw when zstd does not help, since the header is
// written before the end is known; use it for blobs too large for memory.
func EncodeTo(w io.Writer, r io.Reader, threshold int) (int64, error) {
	cw := &countWriter{w: w}
	if threshold < 0 {
		if _, err := cw.Write([]byte{CodecRaw}); err != nil {
			return cw.n, err
		}
		_, err := io.Copy(cw, r)
		return cw.n, err
	}
	br := bufio.NewReaderSize(r, max(threshold, 16))
	head, err := br.Peek(threshold)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return 0, fmt.Errorf("encode: read: %w", err)
	}
	if len(head) < threshold {
		if _, err := cw.Write([]byte{CodecRaw}); err != nil {
			return cw.n, err
		}
		_, err := io.Copy(cw, br)
		return cw.n, err
	}
	if _, err := cw.Write([]byte{CodecZstd}); err != nil {
		return cw.n, err
	}
	e := encPool.Get().(*zstd.Encoder)
	defer encPool.Put(e)
	e.Reset(cw)
	if _, err := io.Copy(e, br); err != nil {
		_ = e.Close()
		e.Reset(nil)
		return cw.n, fmt.Errorf("encode: %w", err)
	}
	err = e.Close()
	e.Reset(nil)
	if err != nil {
		return cw.n, fmt.Errorf("encode: %w", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
