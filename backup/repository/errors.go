package repository

import (
	"errors"

	"github.com/tidemark/tidemark/internal/corrupt"
)

var (
	// ErrCorrupt marks a repository object that fails a checksum or cannot
	// be decoded. Verify reports it; restore must not trust the object.
	ErrCorrupt = corrupt.New("backup: corrupt object")
	// ErrNotRepository is returned by Open when the volume holds
	// no tidemark-backup.json.
	ErrNotRepository = errors.New("backup: not a backup repository")
	// ErrFormat is returned for a repository written by a newer format.
	ErrFormat = errors.New("backup: unsupported repository format")
	// ErrNoDictionary reports a blob compressed with a dictionary the
	// repository does not hold (dict/<id>.zdict is missing).
	ErrNoDictionary = errors.New("backup: compression dictionary missing")
	// ErrNotFound reports an account, item or snapshot the catalog does not
	// know.
	ErrNotFound = errors.New("backup: not found")
	// ErrClosed is returned by calls on a closed scanner, catalog or
	// export writer.
	ErrClosed = errors.New("backup: closed")
)
