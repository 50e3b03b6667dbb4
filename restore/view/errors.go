package view

import (
	"errors"

	"github.com/tidemark/tidemark/internal/corrupt"
)

var (
	// ErrBadName is a name or login of the view's forms that cannot be read.
	ErrBadName = errors.New("view: bad name")
	// ErrDisabled reports an account whose class of service turns the view
	// off (event.COS.BackupViewOff).
	ErrDisabled = errors.New("view: the backup view is turned off for this account")
	// ErrBeforeAccount reports a time before the account existed.
	ErrBeforeAccount = errors.New("view: the account did not exist yet")
	// ErrOutsideWindow reports a time older than the retention window.
	ErrOutsideWindow = errors.New("view: before the backup's retention window")
	// ErrFuture reports a time after now.
	ErrFuture = errors.New("view: in the future")
	// ErrNotInBackup reports a time at which the backup holds no state of
	// the account (its class of service had backup off).
	ErrNotInBackup = errors.New("view: the backup holds no state of the account then")
	// ErrNoFolder reports a folder the account did not have at the time.
	ErrNoFolder = errors.New("view: no such folder then")
	// ErrNoMessage reports a UID the view's folder does not hold.
	ErrNoMessage = errors.New("view: no such message")
	// ErrCorrupt marks backup data that cannot be served as it is (a
	// catalog entry with an impossible UID or size, bytes that do not
	// match it). errors.Is(err, corrupt.ErrCorrupt) holds too, as it does
	// for the repository's own corruption errors.
	ErrCorrupt = corrupt.New("view: corrupt backup data")
)
