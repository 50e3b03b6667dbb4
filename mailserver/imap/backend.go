package imap

import (
	"context"
	"io"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// Backend is the part of the engine the IMAP server uses. *engine.Engine
// satisfies it; the method contracts (errors, durability, concurrency) are
// the engine's. Every method is called concurrently from many sessions.
type Backend interface {
	Authenticate(ctx context.Context, address, password string) (engine.Account, error)
	GetAccount(ctx context.Context, id uint64) (engine.Account, error)

	ListFolders(ctx context.Context, acct uint64) ([]engine.Folder, error)
	GetFolder(ctx context.Context, acct, folder uint64) (engine.Folder, error)
	FolderByPath(ctx context.Context, acct uint64, path string) (engine.Folder, error)
	CreateFolder(ctx context.Context, acct uint64, path, specialUse string) (engine.Folder, error)
	RenameFolder(ctx context.Context, acct, folder uint64, newPath string) error
	DeleteFolder(ctx context.Context, acct, folder uint64) error
	Subscriptions(ctx context.Context, acct uint64) ([]string, error)
	SetSubscriptions(ctx context.Context, acct uint64, names []string, on bool) error

	Append(ctx context.Context, acct, folder uint64, body []byte, flags []string, internalDate time.Time) (engine.Item, error)
	// The changes name items with the UID the session saw them at, so a
	// message moved under a new UID is not reached by its old one.
	StoreFlagsAt(ctx context.Context, acct, folder uint64, items []engine.ItemAt, op engine.FlagOp, flags []string, o engine.StoreOptions) (engine.StoreResult, error)
	CopyAt(ctx context.Context, acct, from uint64, items []engine.ItemAt, to uint64) ([]engine.Item, error)
	MoveAt(ctx context.Context, acct, from uint64, items []engine.ItemAt, to uint64) ([]engine.Item, error)
	ExpungeAt(ctx context.Context, acct, folder uint64, items []engine.ItemAt) ([]engine.Item, error)
	ExpungeDeletedAt(ctx context.Context, acct, folder uint64, items []engine.ItemAt) ([]engine.Item, error)
	ListItems(ctx context.Context, acct, folder uint64) ([]engine.Item, error)
	ChangedSince(ctx context.Context, acct, folder uint64, modseq uint64) ([]engine.Item, error)
	ChangesSince(ctx context.Context, acct, folder, modseq uint64) (engine.Changes, error)
	VanishedSince(ctx context.Context, acct, folder uint64, modseq uint64, uids []engine.UIDRange) ([]uint32, error)
	Quota(ctx context.Context, acct uint64) (used, limit int64, err error)
	OpenBlob(ctx context.Context, acct, item uint64) (io.ReadCloser, int64, error)
	BlobHeader(ctx context.Context, d engine.Digest, size int64) ([]byte, error)
	ReadBlobOf(ctx context.Context, d engine.Digest, buf []byte) (raw, next []byte, err error)
	Search(ctx context.Context, acct, folder uint64, c *engine.SearchCriteria) ([]uint64, error)
	Sort(ctx context.Context, acct, folder uint64, keys []engine.SortKey, c *engine.SearchCriteria) ([]uint64, error)
	Thread(ctx context.Context, acct, folder uint64, alg engine.ThreadAlgorithm, c *engine.SearchCriteria) ([]*engine.Thread, error)

	// Watch streams the account's changes until cancel is called. The
	// server only uses a change as a hint to resynchronise a session's
	// view, so lost or coalesced changes are harmless.
	Watch(acct uint64) (ch <-chan engine.Change, cancel func())
}

var _ Backend = (*engine.Engine)(nil)
