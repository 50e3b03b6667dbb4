package scanner

import (
	"log/slog"
	"time"

	"github.com/tidemark/tidemark/backup/repository"
)

// Options configures a Scanner. Zero fields take the defaults given.
type Options struct {
	// Now is the clock for scan times, lag and retention. Default time.Now.
	Now func() time.Time
	// Logger receives retries, lag warnings and SmartScan reports.
	Logger *slog.Logger
	// ShipInterval is the longest a record waits in the open segment before
	// the segment is sealed and shipped. Default 50ms, which keeps the lag
	// of a local repository well under 250ms; the server uses 250ms for S3.
	ShipInterval time.Duration
	// Pacer is the clock ShipInterval is measured on. Default the wall
	// clock. Tests that simulate hours of traffic pass a clock they move
	// by hand, so a segment ships when the simulated interval has passed
	// and never waits for real time. Now stays the clock of scan times,
	// lag and retention.
	Pacer Pacer
	// ShipBytes seals the open segment early at this size. Default 8 MiB.
	ShipBytes int
	// CompactLevels are the windows of background compaction: segments
	// whose records fall in one window of level i are merged into one once
	// the window has passed. Default 30s, 5m, 1h. Empty after defaults only
	// when NoCompaction.
	CompactLevels []time.Duration
	NoCompaction  bool
	// SupersededGrace is how long a segment that compaction replaced is
	// kept before it is deleted, so that a copy of the repository taken
	// while compaction runs (cp -r, rsync: they list first and copy later)
	// still finds every range. Default 10m; negative deletes at the next
	// compaction pass.
	SupersededGrace time.Duration
	// SnapshotInterval is how often a catalog snapshot is written. Default
	// 1h; negative disables periodic snapshots.
	SnapshotInterval time.Duration
	// MinBackoff and MaxBackoff bound the waits between retries of a
	// failing repository. Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// Uploads is how many blobs are copied to the repository at once.
	// Default 32 (a local disk and S3 alike gain from many writes in flight).
	Uploads int
	// Config supplies the configuration stored with snapshots; nil stores
	// none.
	Config func() (repository.ConfigSnapshot, error)
	// Owner, when set, is the server identity that must own the
	// repository (backup/repository, owner.go): New refuses to start otherwise, and
	// every segment and scan object is preceded by a check of the owner
	// record, so the scanner stops with a Refusal once another server took
	// the repository over. Callers claim the repository first
	// (Repository.CheckOwner, Repository.Claim). Nil checks nothing.
	Owner *repository.Identity
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
	if c.Pacer == nil {
		c.Pacer = wallPacer{}
	}
	if c.ShipInterval <= 0 {
		c.ShipInterval = 50 * time.Millisecond
	}
	if c.ShipBytes <= 0 {
		c.ShipBytes = 8 << 20
	}
	if len(c.CompactLevels) == 0 && !c.NoCompaction {
		c.CompactLevels = []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour}
	}
	if c.NoCompaction {
		c.CompactLevels = nil
	}
	if c.SupersededGrace == 0 {
		c.SupersededGrace = 10 * time.Minute
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = time.Hour
	}
	if c.Uploads <= 0 {
		c.Uploads = 32
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	return c
}

// A Pacer is a clock with timers: what the scanner waits on for the open
// segment to come due.
type Pacer interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed on this
	// clock; stop cancels the call if it has not started.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// wallPacer is the wall clock.
type wallPacer struct{}

func (wallPacer) Now() time.Time { return time.Now() }

func (wallPacer) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
