package cryptvol

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/corrupt"
)

// ErrCorrupt reports an object that does not authenticate: tampered,
// truncated, written under another name or with another key, or not
// encrypted at all. It matches corrupt.ErrCorrupt.
var ErrCorrupt = corrupt.New("cryptvol: object does not authenticate")

// MasterKeySize is the length of a repository master key.
const MasterKeySize = 32

const (
	chunkSize  = 64 << 10
	headerSize = 8
	idSize     = 15
	nonceSize  = chacha20poly1305.NonceSizeX // 24
	tagSize    = chacha20poly1305.Overhead   // 16
	chunkOver  = nonceSize + tagSize         // 40
	sealedSize = chunkSize + chunkOver       // a full chunk as stored
	flagLast   = 0x01
)

var magic = [headerSize]byte{'T', 'M', 'C', 'R', 'Y', 'P', 'T', 1}

// Options configure New.
type Options struct {
	// Plain, if set, names the objects stored without encryption (the
	// repository manifest, the key objects).
	Plain func(name string) bool
}

// Volume seals every object of an underlying volume; see the package
// documentation for the layout. It is safe for concurrent use.
type Volume struct {
	v     hsm.Volume
	aead  cipher.AEAD
	plain func(string) bool
}

var _ hsm.Volume = (*Volume)(nil)

// New wraps v so that every object (except those Options.Plain names) is
// sealed under a key derived from master (MasterKeySize bytes). When v
// is an hsm.DeferredSyncer the result is one too.
func New(v hsm.Volume, master []byte, opts *Options) (hsm.Volume, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("cryptvol: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	key, err := hkdf.Key(sha256.New, master, nil, "tidemark cryptvol data v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("cryptvol: derive key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("cryptvol: %w", err)
	}
	cv := &Volume{v: v, aead: aead, plain: func(string) bool { return false }}
	if opts != nil && opts.Plain != nil {
		cv.plain = opts.Plain
	}
	if ds, ok := v.(hsm.DeferredSyncer); ok {
		return &deferredVolume{Volume: cv, ds: ds}, nil
	}
	return cv, nil
}

// Unwrap returns the underlying volume.
func (c *Volume) Unwrap() hsm.Volume { return c.v }

// sealedLen returns the stored size of p plaintext bytes.
func sealedLen(p int64) int64 {
	k := max(1, (p+chunkSize-1)/chunkSize)
	return headerSize + p + chunkOver*k
}

// plainLen returns the plaintext size of an object stored in s bytes and
// its chunk count, or ok false when no plaintext gives that size (an
// object cut inside a chunk, or not sealed by this package).
func plainLen(s int64) (p, k int64, ok bool) {
	n := s - headerSize
	if n < chunkOver {
		return 0, 0, false
	}
	k = (n + sealedSize - 1) / sealedSize
	rest := n - (k-1)*sealedSize
	if rest < chunkOver || (rest == chunkOver && k > 1) {
		return 0, 0, false
	}
	return n - chunkOver*k, k, true
}

func corruptf(name, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", name, ErrCorrupt, fmt.Sprintf(format, args...))
}

func (c *Volume) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return c.put(ctx, name, r, size, c.v.Put)
}

func (c *Volume) put(ctx context.Context, name string, r io.Reader, size int64,
	put func(context.Context, string, io.Reader, int64) error) error {
	if c.plain(name) {
		return put(ctx, name, r, size)
	}
	er, err := newSealer(c.aead, name, r, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	ssize := int64(-1)
	if size >= 0 {
		ssize = sealedLen(size)
	}
	return put(ctx, name, er, ssize)
}

func (c *Volume) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if c.plain(name) {
		return c.v.Get(ctx, name)
	}
	rc, err := c.v.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := readHeader(name, rc); err != nil {
		rc.Close()
		return nil, err
	}
	o := newOpener(c.aead, name, rc, 0, 0, -1)
	if err := o.prime(); err != nil {
		return nil, err
	}
	return o, nil
}

func (c *Volume) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if c.plain(name) {
		return c.v.GetRange(ctx, name, off, length)
	}
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("get range %s %d+%d: %w", name, off, length, hsm.ErrInvalidRange)
	}
	if length == 0 {
		fi, err := c.Stat(ctx, name)
		if err != nil {
			return nil, err
		}
		if off > fi.Size {
			return nil, fmt.Errorf("get range %s %d+%d of %d bytes: %w", name, off, length, fi.Size, hsm.ErrInvalidRange)
		}
		return io.NopCloser(eofReader{}), nil
	}
	// The chunks that cover the range, and one byte more: whether the
	// stored object goes on after the last chunk read is how the reader
	// knows that chunk must not be the last (and must be, when it does
	// not), without asking for the object's size first.
	first := off / chunkSize
	soff, slen := headerSize+first*sealedSize, int64(-1)
	if length > 0 {
		last := (off + length - 1) / chunkSize
		slen = (last-first+1)*sealedSize + 1
	}
	if first == 0 {
		// The header is constant and bound into every chunk's associated
		// data; it is checked when the range reads it anyway.
		soff = 0
		if slen > 0 {
			slen += headerSize
		}
	}
	rc, err := c.v.GetRange(ctx, name, soff, slen)
	if err != nil {
		return nil, err
	}
	if first == 0 {
		if err := readHeader(name, rc); err != nil {
			rc.Close()
			return nil, err
		}
	}
	o := newOpener(c.aead, name, rc, uint64(first), int(off-first*chunkSize), length)
	if err := o.prime(); err != nil {
		return nil, err
	}
	return o, nil
}

// readHeader reads and checks the object header.
func readHeader(name string, r io.Reader) error {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corruptf(name, "shorter than the header")
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	if h != magic {
		return corruptf(name, "not an encrypted object (header %q)", h[:])
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (c *Volume) Stat(ctx context.Context, name string) (hsm.ObjectInfo, error) {
	fi, err := c.v.Stat(ctx, name)
	if err != nil || c.plain(name) {
		return fi, err
	}
	p, _, ok := plainLen(fi.Size)
	if !ok {
		return fi, corruptf(name, "stored size %d fits no encrypted object", fi.Size)
	}
	fi.Size = p
	return fi, nil
}

func (c *Volume) Delete(ctx context.Context, name string) error { return c.v.Delete(ctx, name) }

// List reports plaintext sizes. An object whose stored size fits no
// encrypted object is listed with size 0; reading it fails with ErrCorrupt.
func (c *Volume) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	return c.v.List(ctx, prefix, func(oi hsm.ObjectInfo) error {
		if !c.plain(oi.Name) {
			p, _, _ := plainLen(oi.Size)
			oi.Size = p
		}
		return fn(oi)
	})
}

// deferredVolume is a Volume over an hsm.DeferredSyncer.
type deferredVolume struct {
	*Volume
	ds hsm.DeferredSyncer
}

var _ hsm.DeferredSyncer = (*deferredVolume)(nil)

func (d *deferredVolume) PutDeferred(ctx context.Context, name string, r io.Reader, size int64) error {
	return d.put(ctx, name, r, size, d.ds.PutDeferred)
}

func (d *deferredVolume) SyncDeferred(ctx context.Context) error { return d.ds.SyncDeferred(ctx) }
