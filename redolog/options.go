package redolog

import (
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/internal/vfsutil"
)

// SyncPolicy says when a batch of appends is made durable.
type SyncPolicy int

const (
	// SyncAlways writes and fsyncs as soon as the writer is free: appends that
	// arrive while a sync runs share the next write and fsync (group commit).
	SyncAlways SyncPolicy = iota
	// SyncDelayed waits up to Options.BatchDelay after the first pending
	// append before writing, to gather a larger batch. Append still returns
	// only after the fsync.
	SyncDelayed
)

// Default option values.
const (
	DefaultSegmentSize = 64 << 20
	DefaultBatchDelay  = 10 * time.Millisecond
	// maxBatchBytes bounds one write so a burst of large appends does not
	// build an unbounded buffer; the rest go in the next batch.
	maxBatchBytes = 8 << 20
)

// Options configures a Log. The zero value, or nil, gives the defaults.
type Options struct {
	// FS is the file system every file goes through. Default vfs.Default.
	FS vfs.FS
	// Now is the clock for record times. Default time.Now.
	Now func() time.Time
	// SegmentSize is the size at which the active segment is sealed and a new
	// one started. A single append larger than this still fits in one
	// segment. Default 64 MiB.
	SegmentSize int64
	// Sync is the sync policy. Default SyncAlways.
	Sync SyncPolicy
	// BatchDelay is how long SyncDelayed gathers appends. Default 10ms.
	BatchDelay time.Duration
	// Logger receives recovery reports such as a truncated torn tail.
	// Default slog.Default().
	Logger *slog.Logger
	// OnAppend, when set, hears each Append or AppendBatch that returned
	// its records durable: how many records and how long the caller
	// waited (queueing, the write and the fsync). OnSync hears each group
	// write: its bytes and how long the write and the fsync took. Both are
	// for metrics: they run on the caller's and the writer's goroutine and
	// must return at once.
	OnAppend func(records int, d time.Duration)
	OnSync   func(bytes int, d time.Duration)
}

// withDefaults returns a copy of o with every unset field filled in.
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
	if c.SegmentSize <= 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.BatchDelay <= 0 {
		c.BatchDelay = DefaultBatchDelay
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
