package engine

import (
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/internal/corrupt"
)

// Sentinel errors. Every error the engine returns for these conditions wraps
// one of them, so callers (the protocol adapters, the CLI) test with
// errors.Is and map them to their own codes.
var (
	// ErrNotFound: no such domain, class of service, account, folder or item.
	ErrNotFound = errors.New("engine: not found")
	// ErrExists: a domain, class of service, address or folder of that name
	// already exists.
	ErrExists = errors.New("engine: already exists")
	// ErrQuotaExceeded: storing the message would take the account over its
	// quota. Nothing was stored.
	ErrQuotaExceeded = errors.New("engine: quota exceeded")
	// ErrTooLarge: the message is larger than Options.MaxMessageSize.
	ErrTooLarge = errors.New("engine: message too large")
	// ErrAuthFailed: unknown address or wrong password (deliberately not
	// distinguished).
	ErrAuthFailed = errors.New("engine: authentication failed")
	// ErrAccountInactive: the account's status refuses the operation. It is
	// always wrapped in a *StatusError that names the status.
	ErrAccountInactive = errors.New("engine: account inactive")
	// ErrFolderNotEmpty: the folder has child folders (delete), or the
	// domain or class of service is still in use.
	ErrFolderNotEmpty = errors.New("engine: not empty")
	// ErrLimit: a folder beyond Options.MaxFolderDepth levels or beyond
	// Options.MaxFolders in the account. Nothing was changed.
	ErrLimit = errors.New("engine: limit reached")
	// ErrInvalid: a malformed argument (bad address, folder name, flag,
	// status) or a refused operation (renaming INBOX).
	ErrInvalid = errors.New("engine: invalid argument")
	// ErrClosed: the engine has been closed.
	ErrClosed = errors.New("engine: closed")
	// ErrReadOnly: a storage failure poisoned the write path; the engine
	// answers queries but refuses writes until it is reopened, which
	// replays the redo log and repairs the projection.
	ErrReadOnly = errors.New("engine: read-only after a storage failure, reopen to recover")
	// ErrLocked: another process holds the data directory.
	ErrLocked = errors.New("engine: data directory is locked by another process")
	// ErrCorrupt: the projection disagrees with itself or with the volumes
	// (reported by Check).
	ErrCorrupt = corrupt.New("engine: inconsistent state")
)

// StatusError reports an account whose status refuses the operation. It
// wraps ErrAccountInactive. LMTP maps maintenance to a temporary failure
// (4xx) and closed to a permanent one (5xx).
type StatusError struct {
	Status event.AccountStatus
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("engine: account %s", e.Status)
}

// Unwrap makes errors.Is(err, ErrAccountInactive) true.
func (e *StatusError) Unwrap() error { return ErrAccountInactive }

// Temporary reports whether retrying later may succeed (maintenance).
func (e *StatusError) Temporary() bool { return e.Status == event.StatusMaintenance }

// errBlobGone tells a blob-first caller that the blob it relied on was
// collected between its check and the write round; it rewrites and retries.
var errBlobGone = errors.New("engine: blob collected, rewrite")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func limitf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrLimit}, args...)...)
}

func notFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrNotFound}, args...)...)
}

func existsf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrExists}, args...)...)
}

func wrapNotEmpty(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFolderNotEmpty}, args...)...)
}
