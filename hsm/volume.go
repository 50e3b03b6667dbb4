package hsm

import (
	"context"
	"io"
	"time"
)

// Volume stores whole named objects.
//
// Names are slash-separated relative paths ("blobs/ab/ab12..."): no leading
// or trailing slash, no empty, "." or ".." component, no backslash or NUL,
// and no component ending in ".tmp" (reserved for files being written). An
// invalid name fails every method with an error wrapping ErrInvalidName.
// One name must not be both an object and a directory-like prefix of another
// object ("a" and "a/b"): object stores allow it, a directory does not.
//
// Errors: a missing object is reported as an error wrapping ErrNotFound; every
// error can be classified with IsPermanent. Implementations are safe for
// concurrent use by multiple goroutines.
type Volume interface {
	// Put stores the object whole and durably before returning: a reader
	// never sees a partial object, and an existing object of the same name is
	// replaced atomically. size is the number of bytes r yields, or -1 if
	// unknown; when size >= 0 and r yields a different count, Put fails and
	// stores nothing.
	Put(ctx context.Context, name string, r io.Reader, size int64) error

	// Get opens the whole object. A missing object is reported by Get itself
	// (wrapping ErrNotFound), never first at Read. The caller closes the
	// reader.
	Get(ctx context.Context, name string) (io.ReadCloser, error)

	// GetRange opens length bytes of the object starting at off; length -1
	// reads to the end. A range running past the end is clipped; off equal
	// to the size gives an empty reader; off beyond the size, a negative off
	// or a length below -1 fails with ErrInvalidRange.
	GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)

	// Stat reports the object's size and modification time.
	Stat(ctx context.Context, name string) (ObjectInfo, error)

	// Delete removes the object. Deleting a missing object returns nil.
	Delete(ctx context.Context, name string) error

	// List calls fn for every object whose name starts with prefix, in
	// lexical (byte-wise) order of names. prefix need not end at a slash
	// ("blobs/a" matches "blobs/ab/..."); "" lists everything. An error
	// returned by fn stops the listing and is returned as is. Objects put or
	// deleted during a listing may or may not be reported.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Name    string    // the object's name as given to Put
	Size    int64     // bytes stored
	ModTime time.Time // when the object was last written, as the volume records it
}

// VerifyingPutter is a volume that checks on its side that the bytes it
// stores are the bytes sent (S3's Content-MD5: the store refuses an upload
// whose body does not match the digest sent with it). A copy written with
// PutVerified need not be read back to be known whole.
type VerifyingPutter interface {
	PutVerified(ctx context.Context, name string, data []byte) error
}
