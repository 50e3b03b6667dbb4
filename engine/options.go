package engine

import (
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/internal/vfsutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/redolog"
)

// Default option values.
const (
	DefaultInlineBlobMax      = 64 << 10
	DefaultMaxMessageSize     = 50 << 20
	DefaultPrimaryName        = "primary"
	DefaultCheckpointInterval = time.Minute
	DefaultMaxRound           = 512
	DefaultInlineWriters      = 4
	DefaultInlineBacklog      = 64 << 20
	// DefaultMaxFolderDepth and DefaultMaxFolders bound an account's
	// folder tree (LIST's cost grows with both): 32 levels is far beyond
	// any real hierarchy, 10,000 folders beyond any real mailbox.
	DefaultMaxFolderDepth = 32
	DefaultMaxFolders     = 10000
)

// Options configures Open. The zero value, or nil, gives the defaults.
type Options struct {
	// FS is the file system shared by the redo log, Pebble and local
	// volumes. Default vfs.Default.
	FS vfs.FS
	// Now is the clock (account creation times, UIDVALIDITY). Default
	// time.Now; only cmd/ passes the wall clock.
	Now func() time.Time
	// Logger receives recovery and collection reports. Default
	// slog.Default().
	Logger *slog.Logger
	// Primary is the volume new blobs are written to. Default: the
	// registry's current primary (volumes.go), or for a data directory
	// without one a local volume at <data>/volumes/<PrimaryName>, which
	// Open registers.
	Primary hsm.Volume
	// OpenVolume opens registered volumes. Default: local volumes only
	// (hsm/volopen); the server gives one that opens S3 volumes too.
	OpenVolume hsm.Opener
	// PrimaryLayout chooses the layout of a new default primary volume
	// (Primary nil): LayoutPack (the default) or LayoutLocal. An existing
	// <data>/volumes/<PrimaryName> keeps the layout it has (see
	// hsm/volopen.Layout), whatever this says.
	PrimaryLayout string
	// CompactDeadFraction: after each timed checkpoint, packs of a pack
	// primary volume whose dead bytes (expunged and replaced blobs) reach
	// this fraction are rewritten, so deleted mail gives its disk space
	// back. Default 0.5; negative disables.
	CompactDeadFraction float64
	// PackIndexEvery: at an engine checkpoint, once this many bytes have
	// been appended to a pack primary volume's packs since its last index
	// checkpoint, write a new one (see hsm/packvol), so an open after a
	// crash does not scan every pack. Default 256 MiB; negative: only at
	// Close.
	PackIndexEvery int64
	// PrimaryName names the primary volume in events. Default "primary".
	PrimaryName string
	// Volumes are further volumes by name (blobs moved by HSM). The
	// primary is added under PrimaryName.
	Volumes map[string]hsm.Volume
	// InlineBlobMax: blobs up to this size ride inside the redo record;
	// larger ones are written to the primary volume first. Default 64 KiB;
	// -1 = never inline.
	InlineBlobMax int
	// InlineWriters is how many volume copies of inline blobs are written
	// at once in the background. Default 4: on ext4 more concurrent file
	// creations slow the redo log's fsyncs more than they add copies/s
	// (docs/BENCHMARKS.md).
	InlineWriters int
	// InlineBacklog bounds the raw bytes of inline blobs answered but not
	// yet written to the primary volume (held in memory meanwhile): a
	// write round waits while more are pending, so memory stays within it
	// plus one round's blobs. Default 64 MiB.
	InlineBacklog int64
	// CompressThreshold is the primary volume's zstd threshold in bytes.
	// Default -1 (off, docs/ARCHITECTURE.md "Decisions"). Once the primary
	// is registered, its registered compression wins (tidemark volume
	// modify changes it); this is what a new registration records.
	CompressThreshold int
	// MaxMessageSize bounds one message. Default 50 MiB.
	MaxMessageSize int64
	// MaxFolderDepth bounds the levels of a folder path and MaxFolders
	// the folders of one account; CreateFolder and RenameFolder beyond
	// them fail with ErrLimit, whoever calls them (IMAP, import, restore).
	// Folders already there (replayed, restored) are kept. Defaults
	// DefaultMaxFolderDepth and DefaultMaxFolders; negative = unlimited.
	MaxFolderDepth int
	MaxFolders     int
	// AuthCacheTTL is how long a successful password verification is
	// remembered in memory (authcache.go), so repeated logins do not pay
	// for the password hash each time. Default 5 minutes; negative turns
	// the cache off.
	AuthCacheTTL time.Duration
	// RedoLog configures the redo log; FS, Now and Logger are filled from
	// above when unset.
	RedoLog redolog.Options
	// SafeLSN returns the LSN every consumer (the backup scanner) has
	// shipped. A blob whose count dropped to zero at LSN n is deleted only
	// once SafeLSN() >= n. nil: no consumer, blobs go after the checkpoint.
	SafeLSN func() uint64
	// LogRetention is how often the engine removes the archived redo
	// segments nobody needs any more (TrimLog): those at or below both
	// the checkpoint and SafeLSN(). 0 never trims by itself (a one-off
	// command); the server uses a minute.
	LogRetention time.Duration
	// CheckpointInterval is how often Pebble is flushed, which bounds
	// replay after a crash and lets unreferenced blobs be collected.
	// Default 1 minute; negative disables the timer (Checkpoint still works).
	CheckpointInterval time.Duration
	// MaxRound caps the commands written in one group commit. Default 512.
	MaxRound int
	// BcryptCost is the cost of new password hashes. Default
	// bcrypt.DefaultCost.
	BcryptCost int
	// PebbleCacheSize is Pebble's block cache in bytes: the projection's
	// blocks read from disk (folder, item and account records). Default
	// DefaultPebbleCacheSize.
	PebbleCacheSize int64
	// PebbleMemTableSize is the size Pebble's memtables grow to before
	// they are flushed (two at most, one being flushed). Default
	// DefaultPebbleMemTableSize.
	PebbleMemTableSize int64
	// HeaderCacheSize bounds the memory of the header cache
	// (headercache.go): parsed header blocks of recently read messages
	// that SEARCH, SORT, THREAD and IMAP FETCH of headers share. Default
	// DefaultHeaderCacheSize; negative turns it off.
	HeaderCacheSize int
}

// Defaults of the caches. The block cache and memtables are most of an
// idle server's memory; 8 MiB and 2 MiB hold a few hundred thousand
// item records' hot blocks and flush often enough for the redo log's
// group commits (docs/BENCHMARKS.md, IMAP memory). The header cache holds
// about 5,000 headers of ordinary mail.
const (
	DefaultPebbleCacheSize    = 8 << 20
	DefaultPebbleMemTableSize = 2 << 20
	DefaultHeaderCacheSize    = 16 << 20
)

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	c.FS = vfsutil.Private(c.FS)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PrimaryName == "" {
		c.PrimaryName = DefaultPrimaryName
	}
	if c.PrimaryLayout == "" {
		c.PrimaryLayout = LayoutPack
	}
	if c.CompactDeadFraction == 0 {
		c.CompactDeadFraction = 0.5
	}
	if c.PackIndexEvery == 0 {
		c.PackIndexEvery = 256 << 20
	}
	if c.InlineBlobMax == 0 {
		c.InlineBlobMax = DefaultInlineBlobMax
	}
	if c.CompressThreshold == 0 {
		c.CompressThreshold = -1
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxFolderDepth == 0 {
		c.MaxFolderDepth = DefaultMaxFolderDepth
	}
	if c.MaxFolders == 0 {
		c.MaxFolders = DefaultMaxFolders
	}
	if c.AuthCacheTTL == 0 {
		c.AuthCacheTTL = DefaultAuthCacheTTL
	}
	if c.RedoLog.FS == nil {
		c.RedoLog.FS = c.FS
	}
	if c.RedoLog.Now == nil {
		c.RedoLog.Now = c.Now
	}
	if c.RedoLog.Logger == nil {
		c.RedoLog.Logger = c.Logger
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.InlineWriters <= 0 {
		c.InlineWriters = DefaultInlineWriters
	}
	if c.InlineBacklog <= 0 {
		c.InlineBacklog = DefaultInlineBacklog
	}
	if c.MaxRound <= 0 {
		c.MaxRound = DefaultMaxRound
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = bcrypt.DefaultCost
	}
	if c.PebbleCacheSize <= 0 {
		c.PebbleCacheSize = DefaultPebbleCacheSize
	}
	if c.PebbleMemTableSize <= 0 {
		c.PebbleMemTableSize = DefaultPebbleMemTableSize
	}
	if c.HeaderCacheSize == 0 {
		c.HeaderCacheSize = DefaultHeaderCacheSize
	}
	return c
}
