package hsm

import (
	"context"
	"errors"
	"io/fs"

	"github.com/tidemark/tidemark/internal/corrupt"
)

var (
	// ErrNotFound reports a missing object.
	ErrNotFound = errors.New("hsm: object not found")
	// ErrInvalidName reports a name that breaks the naming rules of Volume.
	ErrInvalidName = errors.New("hsm: invalid object name")
	// ErrInvalidRange reports a GetRange outside the object.
	ErrInvalidRange = errors.New("hsm: invalid range")
	// ErrReadOnly is returned by writes to a ReadOnly volume.
	ErrReadOnly = errors.New("hsm: volume is read-only")
	// ErrPermission reports that the storage refused access (file mode,
	// credentials, bucket policy).
	ErrPermission = errors.New("hsm: permission denied")
	// ErrSizeMismatch reports a Put whose reader yielded another byte count
	// than the size given.
	ErrSizeMismatch = errors.New("hsm: size mismatch")
	// ErrDigestMismatch reports a store whose digest of what it stored is
	// not that of the bytes sent (PutVerified).
	ErrDigestMismatch = errors.New("hsm: stored bytes do not match the bytes sent")
)

// IsNotFound reports whether err says the object does not exist.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// permanentError and temporaryError mark an error's class explicitly, for
// errors the sentinels do not cover (an S3 4xx, a 503).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

type temporaryError struct{ err error }

func (e *temporaryError) Error() string { return e.err.Error() }
func (e *temporaryError) Unwrap() error { return e.err }

// Permanent marks err as permanent: retrying the same call will not help.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Temporary marks err as temporary: the same call may succeed later.
// Temporary(nil) is nil.
func Temporary(err error) error {
	if err == nil {
		return nil
	}
	return &temporaryError{err}
}

// IsPermanent classifies a volume error. Permanent: not found, invalid name
// or range, read-only, permission, size mismatch, context cancellation,
// corruption (any error matching corrupt.ErrCorrupt: the same bytes come
// back on the next read) and anything marked with Permanent. Temporary: everything else — network
// failures, timeouts, S3 5xx, a full disk, anything marked with Temporary —
// because a backup or blob write that gives up too early costs more than one
// that waits. An explicit mark wins over the sentinels it wraps.
// IsPermanent(nil) is false.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	var t *temporaryError
	pi, ti := errors.As(err, &p), errors.As(err, &t)
	switch {
	case pi && !ti:
		return true
	case ti && !pi:
		return false
	case pi && ti:
		// The outermost mark is the latest decision.
		return markDepth(err, p) < markDepth(err, t)
	}
	return IsNotFound(err) ||
		errors.Is(err, ErrInvalidName) ||
		errors.Is(err, ErrInvalidRange) ||
		errors.Is(err, ErrReadOnly) ||
		errors.Is(err, ErrPermission) ||
		errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, ErrSizeMismatch) ||
		corrupt.Is(err) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// markDepth returns how many single Unwrap steps lead from err to target, or
// a large number when target is only reachable through a multi-error.
func markDepth(err, target error) int {
	for d := 0; err != nil; d++ {
		if err == target {
			return d
		}
		err = errors.Unwrap(err)
	}
	return 1 << 30
}
