package dedup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Digest is the SHA-256 of a blob's raw bytes.
type Digest [sha256.Size]byte

// ErrBadDigest reports a string that is not a digest in canonical form.
var ErrBadDigest = errors.New("dedup: malformed digest")

// Sum returns the digest of raw.
func Sum(raw []byte) Digest { return Digest(sha256.Sum256(raw)) }

// SumReader returns the digest of everything r yields and its length.
func SumReader(r io.Reader) (Digest, int64, error) {
	h := NewHash()
	n, err := io.Copy(h, r)
	if err != nil {
		return Digest{}, n, fmt.Errorf("digest: %w", err)
	}
	var d Digest
	h.Sum(d[:0])
	return d, n, nil
}

// NewHash returns the hash Digest is made with, for digesting while
// streaming (io.MultiWriter, io.TeeReader); copy its Sum into a Digest.
func NewHash() hash.Hash { return sha256.New() }

// String returns the 64 lowercase hex digits.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero value (no digest).
func (d Digest) IsZero() bool { return d == Digest{} }

// ParseDigest parses 64 lowercase hex digits. Upper case is refused so that
// each blob has exactly one name.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("%w: %q has %d characters, want %d", ErrBadDigest, s, len(s), 2*len(d))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return d, fmt.Errorf("%w: %q: character %q at %d", ErrBadDigest, s, c, i)
		}
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("%w: %q: %v", ErrBadDigest, s, err)
	}
	return d, nil
}

// BlobName is where a blob is stored on a volume:
// "blobs/ab/ab12...ef". The two-hex fan-out keeps directories of local
// volumes to 1/256 of the blobs each.
func BlobName(d Digest) string {
	// One allocation: every read of a message by its digest names it.
	var b [len("blobs/xx/") + 2*sha256.Size]byte
	n := copy(b[:], "blobs/")
	hex.Encode(b[n:], d[:1])
	b[n+2] = '/'
	hex.Encode(b[n+3:], d[:])
	return string(b[:])
}

// ParseBlobName returns the digest of a name made by BlobName.
func ParseBlobName(name string) (Digest, error) {
	const pre = "blobs/"
	if len(name) != len(pre)+3+2*sha256.Size || name[:len(pre)] != pre || name[len(pre)+2] != '/' {
		return Digest{}, fmt.Errorf("%w: blob name %q", ErrBadDigest, name)
	}
	d, err := ParseDigest(name[len(pre)+3:])
	if err != nil {
		return Digest{}, err
	}
	if name[len(pre):len(pre)+2] != name[len(pre)+3:len(pre)+5] {
		return Digest{}, fmt.Errorf("%w: blob name %q: fan-out does not match", ErrBadDigest, name)
	}
	return d, nil
}
