package scanner

import (
	"context"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine/event"
)

// LogSource is the redo log as the scanner reads it. *redolog.Log fits
// through LogOf.
type LogSource interface {
	// Tail returns a reader whose Next blocks at the end for new durable
	// records. A from older than the oldest record held fails with an error
	// wrapping redolog.ErrTruncated.
	Tail(from uint64) (repository.LogReader, error)
	// NewReader is Tail whose Next returns io.EOF at the end.
	NewReader(from uint64) (repository.LogReader, error)
	FirstLSN() uint64
	LastLSN() uint64
}

// Source is the engine's current state as SmartScan compares it with the
// catalog. Listing calls may run while the engine changes; AppliedLSN read
// before and after tells SmartScan whether a view is consistent.
type Source interface {
	AppliedLSN() uint64
	ListCOS(ctx context.Context) ([]event.COS, error)
	// ListAccounts returns every account; PasswordHash may be empty.
	ListAccounts(ctx context.Context) ([]event.Account, error)
	// ListFolders and ListItems describe one account with the scan types
	// (Account and Deleted fields are ignored).
	ListFolders(ctx context.Context, acct uint64) ([]repository.ScanFolder, error)
	ListItems(ctx context.Context, acct uint64) ([]repository.ScanItem, error)
	// SubscribedNames returns the account's list of subscribed names,
	// sorted, without the folders' own flags (ListFolders has those).
	SubscribedNames(ctx context.Context, acct uint64) ([]string, error)
}
