package restore

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// Engine is the part of the engine API a restore writes through.
// *engine.Engine satisfies it.
type Engine interface {
	CreateDomain(ctx context.Context, name string) error
	ListDomains(ctx context.Context) ([]engine.Domain, error)
	CreateCOS(ctx context.Context, c event.COS) error
	ListCOS(ctx context.Context) ([]event.COS, error)
	CreateAccount(ctx context.Context, s engine.AccountSpec) (engine.Account, error)
	ModifyAccount(ctx context.Context, id uint64, c engine.AccountChange) (engine.Account, error)
	SetPasswordHash(ctx context.Context, id uint64, hash string) error
	AddAlias(ctx context.Context, id uint64, alias string) error
	GetAccount(ctx context.Context, id uint64) (engine.Account, error)
	LookupAccount(ctx context.Context, address string) (engine.Account, error)
	ListFolders(ctx context.Context, acct uint64) ([]engine.Folder, error)
	FolderByPath(ctx context.Context, acct uint64, path string) (engine.Folder, error)
	CreateFolder(ctx context.Context, acct uint64, path, specialUse string) (engine.Folder, error)
	RenameFolder(ctx context.Context, acct, folder uint64, newPath string) error
	DeleteFolder(ctx context.Context, acct, folder uint64) error
	SetSubscribed(ctx context.Context, acct, folder uint64, on bool) error
	Subscriptions(ctx context.Context, acct uint64) ([]string, error)
	SetSubscriptions(ctx context.Context, acct uint64, names []string, on bool) error
	ListItems(ctx context.Context, acct, folder uint64) ([]engine.Item, error)
	AppendMany(ctx context.Context, acct, folder uint64, msgs []engine.NewMessage, reason event.AddReason) ([]engine.Item, []error)
	StoreFlags(ctx context.Context, acct, folder uint64, items []uint64, op engine.FlagOp, flags []string, unchangedSince uint64) ([]engine.Item, error)
	Copy(ctx context.Context, acct, from uint64, items []uint64, to uint64) ([]engine.Item, error)
	Move(ctx context.Context, acct, from uint64, items []uint64, to uint64) ([]engine.Item, error)
	Expunge(ctx context.Context, acct, folder uint64, items []uint64) ([]engine.Item, error)
	OpenBlob(ctx context.Context, acct, item uint64) (io.ReadCloser, int64, error)
}

var _ Engine = (*engine.Engine)(nil)

// Catalog answers what the backup holds as of a time. *catalog.Catalog
// satisfies it.
type Catalog interface {
	AccountAt(ctx context.Context, acct uint64, t time.Time) (catalog.AccountState, error)
	AccountVersions(ctx context.Context, acct uint64) ([]catalog.AccountVersion, error)
	Accounts(ctx context.Context) ([]catalog.AccountVersion, error)
	DeletedAccounts(ctx context.Context) ([]catalog.AccountVersion, error)
	DeletedBetween(ctx context.Context, acct uint64, t1, t2 time.Time) ([]catalog.ItemVersion, error)
	ItemVersions(ctx context.Context, acct, item uint64) ([]catalog.ItemVersion, error)
	FindAccount(ctx context.Context, address string, t time.Time) (uint64, error)
	Position() (lsn uint64, unixNano int64, err error)
}

var _ Catalog = (*catalog.Catalog)(nil)

// Blobs reads message bytes from the repository, checked against their
// digest. *repository.Repository satisfies it.
type Blobs interface {
	ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error)
}

var _ Blobs = (*repository.Repository)(nil)

// Options configures a Restorer. Zero fields take the defaults.
type Options struct {
	// Now is the clock for folder names such as "Restored <date>" and for
	// resolving "last". Default time.Now.
	Now func() time.Time
	// Logger receives per-item failures as they happen. Default
	// slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called after every ProgressEvery items and once
	// at the end of each account.
	Progress func(Progress)
	// ProgressEvery is the item interval of Progress calls. Default 500.
	ProgressEvery int
	// Concurrency is how many folders are restored at once and how many
	// blobs each reads from the repository at once, ahead of its appends.
	// Items keep their UID order: they are appended in chunks, straight
	// into their folder (see pipeline.go). Default 4.
	Concurrency int
	// Location formats the date in "Restored <date>" folder names.
	// Default time.Local.
	Location *time.Location
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 500
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	return c
}

// Restorer runs restores from one catalog and repository into one engine.
type Restorer struct {
	eng   Engine
	cat   Catalog
	blobs Blobs
	opts  Options
}

// New makes a Restorer. The engine must be open for writing: restores from
// the CLI open the data directory directly, so the server must be stopped.
func New(eng Engine, cat Catalog, blobs Blobs, opts *Options) *Restorer {
	return &Restorer{eng: eng, cat: cat, blobs: blobs, opts: opts.withDefaults()}
}
