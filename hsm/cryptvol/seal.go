package cryptvol

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tidemark/tidemark/hsm"
)

// assocData is the associated data of every chunk of the object name.
func assocData(name string) []byte {
	ad := make([]byte, 0, headerSize+len(name))
	ad = append(ad, magic[:]...)
	return append(ad, name...)
}

// sealer is the reader Put hands to the underlying volume: it yields the
// header and the sealed chunks of what it reads from src. It is an
// io.Seeker when src is, rewinding only to its start (for hsm.WithRetry):
// the same object id then gives the same ciphertext.
type sealer struct {
	aead     cipher.AEAD
	ad       []byte
	src      io.Reader
	size     int64 // plaintext size, or -1
	id       [idSize]byte
	srcStart int64
	seekErr  error

	idx      uint64
	read     int64 // plaintext bytes taken from src
	pos      int64 // bytes handed out
	out      []byte
	outBuf   []byte
	plainBuf []byte
	peek     []byte // a byte read ahead from src (size unknown)
	started  bool
	done     bool
}

func newSealer(aead cipher.AEAD, name string, src io.Reader, size int64) (*sealer, error) {
	s := &sealer{aead: aead, ad: assocData(name), src: src, size: size,
		outBuf: make([]byte, 0, sealedSize), plainBuf: make([]byte, chunkSize)}
	if _, err := rand.Read(s.id[:]); err != nil {
		return nil, fmt.Errorf("object id: %w", err)
	}
	if sk, ok := src.(io.Seeker); ok {
		s.srcStart, s.seekErr = sk.Seek(0, io.SeekCurrent)
	} else {
		s.seekErr = errors.New("cryptvol: source cannot be rewound")
	}
	return s, nil
}

func (s *sealer) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.done {
			return 0, io.EOF
		}
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	s.pos += int64(n)
	return n, nil
}

// Seek reports the position (0, io.SeekCurrent) or rewinds to the start
// (0, io.SeekStart); nothing else.
func (s *sealer) Seek(off int64, whence int) (int64, error) {
	if s.seekErr != nil {
		return 0, s.seekErr
	}
	switch {
	case off == 0 && whence == io.SeekCurrent:
		return s.pos, nil
	case off == 0 && whence == io.SeekStart:
		if _, err := s.src.(io.Seeker).Seek(s.srcStart, io.SeekStart); err != nil {
			return 0, err
		}
		s.idx, s.read, s.pos, s.out, s.peek, s.started, s.done = 0, 0, 0, nil, nil, false, false
		return 0, nil
	}
	return 0, fmt.Errorf("cryptvol: seek %d/%d unsupported", off, whence)
}

// next fills out with the header or the next sealed chunk.
func (s *sealer) next() error {
	if !s.started {
		s.started = true
		s.out = magic[:]
		return nil
	}
	plain, last, err := s.fill()
	if err != nil {
		return err
	}
	var nonce [nonceSize]byte
	copy(nonce[:], s.id[:])
	if last {
		nonce[idSize] = flagLast
	}
	binary.BigEndian.PutUint64(nonce[idSize+1:], s.idx)
	out := append(s.outBuf[:0], nonce[:]...)
	s.out = s.aead.Seal(out, nonce[:], plain, s.ad)
	s.idx++
	s.done = last
	return nil
}

// fill reads the next chunk's plaintext and says whether it is the last.
func (s *sealer) fill() ([]byte, bool, error) {
	buf := s.plainBuf
	if s.size >= 0 {
		n := min(int64(chunkSize), s.size-s.read)
		got, err := io.ReadFull(s.src, buf[:n])
		s.read += int64(got)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, false, fmt.Errorf("%w: expected %d bytes, read %d", hsm.ErrSizeMismatch, s.size, s.read)
			}
			return nil, false, err
		}
		last := s.read == s.size
		if last {
			var one [1]byte
			if m, _ := io.ReadFull(s.src, one[:]); m > 0 {
				return nil, false, fmt.Errorf("%w: expected %d bytes, read more", hsm.ErrSizeMismatch, s.size)
			}
		}
		return buf[:n], last, nil
	}
	n := copy(buf, s.peek)
	s.peek = nil
	got, err := io.ReadFull(s.src, buf[n:])
	n += got
	s.read += int64(got)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n], true, nil
	case err != nil:
		return nil, false, err
	}
	var one [1]byte
	m, err := io.ReadFull(s.src, one[:])
	if m == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		return buf[:n], true, nil
	}
	s.read++
	s.peek = one[:]
	return buf[:n], false, nil
}

// opener decrypts the sealed chunks read from r, which starts at chunk
// idx (after the header) and runs to the end of the object or at least
// one byte past the last chunk needed. The last-chunk flag ends the
// object. skip plaintext bytes of the first chunk are dropped and at most
// left bytes returned (-1: all).
type opener struct {
	aead  cipher.AEAD
	name  string
	r     io.Reader
	c     io.Closer
	idx   uint64
	skip  int
	left  int64
	first bool // no chunk read yet

	ad     []byte
	id     [idSize]byte
	haveID bool
	buf    *[]byte
	plain  []byte
	done   bool
	err    error
}

// chunkBufs holds the buffers of finished readers: one sealed chunk and a
// byte each, so a pack read does not allocate 64 KiB per range.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, sealedSize+1); return &b }}

func newOpener(aead cipher.AEAD, name string, rc io.ReadCloser, idx uint64, skip int, left int64) *opener {
	return &opener{aead: aead, name: name, r: rc, c: rc, idx: idx, skip: skip, left: left, first: true,
		ad: assocData(name)}
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.done || o.left == 0 {
			return 0, io.EOF
		}
		if err := o.next(); err != nil {
			o.err = err
			return 0, err
		}
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

// prime reads the first chunk, so that Get and GetRange report a range
// past the end, a missing or damaged first chunk themselves.
func (o *opener) prime() error {
	if o.left == 0 {
		return nil
	}
	if err := o.next(); err != nil {
		o.Close()
		return err
	}
	return nil
}

func (o *opener) Close() error {
	if o.buf != nil {
		o.plain = nil
		chunkBufs.Put(o.buf)
		o.buf = nil
	}
	if o.err == nil {
		o.err = errors.New("cryptvol: read after close")
	}
	return o.c.Close()
}

func (o *opener) corrupt(format string, args ...any) error {
	return corruptf(o.name, format, args...)
}

// next reads, checks and opens one chunk.
func (o *opener) next() error {
	if o.buf == nil {
		o.buf = chunkBufs.Get().(*[]byte)
	}
	buf := *o.buf
	nonce := buf[:nonceSize]
	if n, err := io.ReadFull(o.r, nonce); err != nil {
		if n == 0 && errors.Is(err, io.EOF) && o.first && o.idx > 0 {
			// The range starts at the end of the stored object.
			if o.skip > 0 {
				return fmt.Errorf("get range %s: %w: past the end", o.name, hsm.ErrInvalidRange)
			}
			o.done = true
			return nil
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return o.corrupt("ends after %d bytes of chunk %d (truncated)", n, o.idx)
		}
		return fmt.Errorf("read %s: %w", o.name, err)
	}
	o.first = false
	flag := nonce[idSize]
	last := flag == flagLast
	if flag&^flagLast != 0 {
		return o.corrupt("chunk %d: unknown flags %#x", o.idx, flag)
	}
	if got := binary.BigEndian.Uint64(nonce[idSize+1:]); got != o.idx {
		return o.corrupt("chunk %d is stored at position %d", got, o.idx)
	}
	if o.haveID && [idSize]byte(nonce[:idSize]) != o.id {
		return o.corrupt("chunk %d belongs to another version of the object", o.idx)
	}
	o.id, o.haveID = [idSize]byte(nonce[:idSize]), true
	body := buf[nonceSize:]
	var n int
	var err error
	if last {
		// The last chunk runs to the end of the object: up to a full
		// chunk, and one byte more would be trailing garbage.
		n, err = io.ReadFull(o.r, body)
		if err == nil {
			return o.corrupt("bytes after the last chunk")
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("read %s: %w", o.name, err)
		}
	} else {
		n, err = io.ReadFull(o.r, body[:chunkSize+tagSize])
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return o.corrupt("chunk %d cut after %d bytes (truncated)", o.idx, n)
			}
			return fmt.Errorf("read %s: %w", o.name, err)
		}
	}
	if n < tagSize {
		return o.corrupt("chunk %d cut after %d bytes (truncated)", o.idx, n)
	}
	plain, err := o.aead.Open(body[:0], nonce, body[:n], o.ad)
	if err != nil {
		return o.corrupt("chunk %d does not authenticate", o.idx)
	}
	o.idx++
	o.done = last
	if o.skip > 0 {
		if o.skip > len(plain) {
			if last {
				return fmt.Errorf("get range %s: %w: past the end", o.name, hsm.ErrInvalidRange)
			}
			return o.corrupt("range starts past chunk %d", o.idx-1)
		}
		plain = plain[o.skip:]
		o.skip = 0
	}
	if o.left >= 0 {
		if int64(len(plain)) > o.left {
			plain = plain[:o.left]
		}
		o.left -= int64(len(plain))
		if o.left == 0 && !last {
			// The range ends here; the object must go on after this
			// chunk, since it does not say it is the last.
			var one [1]byte
			if m, err := io.ReadFull(o.r, one[:]); m == 0 {
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read %s: %w", o.name, err)
				}
				return o.corrupt("ends after chunk %d, which is not the last (truncated)", o.idx-1)
			}
		}
	}
	o.plain = plain
	return nil
}
