package web

import (
	"context"
	"errors"
	"time"

	"github.com/tidemark/tidemark/operations"
)

// Source is what the server reports about itself: health, the backup and
// the volumes. cmd/tidemark implements it over the running server. Every
// method honours ctx and answers during a backup repository outage.
type Source interface {
	// Health returns one check per part of the server.
	Health(ctx context.Context) []Check
	// Backup returns the real-time backup's state and figures.
	Backup(ctx context.Context) BackupStatus
	// Volumes returns the volumes with their usage; with an error, those
	// it could read.
	Volumes(ctx context.Context) ([]Volume, error)
}

// Backend is what the dashboard reads and does beyond Source.
type Backend interface {
	Source
	// Authenticate checks an administrator's address and password. It
	// returns nil only for an account allowed on the dashboard,
	// ErrNotAdmin for a right password of another account, and another
	// error (a wrong password, an unknown address) otherwise.
	Authenticate(ctx context.Context, address, password string) error
	// Accounts lists the accounts the backup knows, deleted ones too.
	Accounts(ctx context.Context) ([]AccountRef, error)
	// Timeline returns an account's backup history and, when at is not
	// zero, what restoring it as of at would bring back.
	Timeline(ctx context.Context, address string, at time.Time) (Timeline, error)
	// SubmitRestore queues a restore operation.
	SubmitRestore(ctx context.Context, r RestoreRequest) (operations.Operation, error)
}

// Ops is the operation queue as the dashboard uses it;
// *operations.Manager implements it.
type Ops interface {
	List() []operations.Operation
	Get(id uint64) (operations.Operation, error)
	Stop(id uint64) (operations.Operation, error)
}

var _ Ops = (*operations.Manager)(nil)

// ErrNotAdmin is Authenticate's answer for an account that may not use the
// dashboard.
var ErrNotAdmin = errors.New("web: not an administrator")

// Check is one part of the server's health.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // CheckOK, CheckDegraded or CheckDown
	Detail string `json:"detail,omitempty"`
}

// Check states. A degraded part leaves the server ready (mail flows); a
// part that is down makes it not ready.
const (
	CheckOK       = "ok"
	CheckDegraded = "degraded"
	CheckDown     = "down"
)

// BackupStatus is the real-time backup as the overview and /metrics show
// it.
type BackupStatus struct {
	Enabled     bool
	State       string // running, failing, refused, starting, stopped
	LastError   string
	ShippedLSN  uint64
	ShippedTime time.Time
	LagRecords  uint64
	LagSeconds  float64
	// The figures below are valid when FiguresTime is not zero.
	RepositoryBytes  int64
	DedupRatio       float64
	CompressionRatio float64
	FiguresTime      time.Time
	Repository       string // where it is
}

// Volume is one volume and its usage: an HSM volume (tier primary or
// secondary) or the backup repository.
type Volume struct {
	Name    string
	Tier    string // primary, secondary, or "backup repository"
	Type    string // local or s3
	Current bool   // new blobs of its tier go here
	Where   string // directory or s3://bucket/prefix
	// Blobs and RawBytes are the referenced blobs the mailbox places
	// there and their size before compression; -1 when unknown (the
	// backup repository).
	Blobs, RawBytes int64
	// StoredBytes and Objects are what is on the volume (old copies and
	// orphans included); Objects -1 when unknown.
	StoredBytes, Objects int64
	// FreeBytes is the free space where it stores, -1 when unknown.
	FreeBytes int64
	// Error says why the figures could not be read (an unreachable S3
	// endpoint); the figures are then not valid.
	Error string
}

// AccountRef names an account of the backup.
type AccountRef struct {
	Address string
	Deleted bool
}

// Timeline is an account's backup history.
type Timeline struct {
	Account string
	Deleted bool      // the account is deleted now
	Created time.Time // its first version in the backup
	// Earliest and Latest bound the times a restore can ask for: the
	// account's first version and the last shipped record.
	Earliest, Latest time.Time
	// Steps are the live messages and bytes after each change, oldest
	// first (each a restore point the chart marks).
	Steps     []Step
	Deletions []Deletion
	// Truncated is set when the history was longer than the dashboard
	// reads; the oldest changes are then left out.
	Truncated bool
	// At is the time asked about; AtState what a restore as of At brings
	// back, nil with AtNote saying why when nothing.
	At      time.Time
	AtState *Snapshot
	AtNote  string
}

// Step is the account's size after a change.
type Step struct {
	Time     time.Time
	Messages int
	Bytes    int64
}

// Deletion is one message deletion.
type Deletion struct {
	Time   time.Time
	Folder string
	Size   int64
	UID    uint32
}

// Snapshot is an account's content as of a time.
type Snapshot struct {
	Folders  []FolderCount
	Messages int
	Bytes    int64
}

// FolderCount is one folder of a Snapshot.
type FolderCount struct {
	Path     string
	Messages int
	Bytes    int64
}

// RestoreRequest is a restore started from the dashboard.
type RestoreRequest struct {
	Account string
	// Mode is "into" (the account as of At into the new account Into)
	// or "undelete" (messages deleted between From and To back into a
	// Restored folder).
	Mode     string
	At       time.Time
	Into     string
	From, To time.Time
}
