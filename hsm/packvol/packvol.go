package packvol

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/internal/vfsutil"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// Default option values.
const (
	DefaultSmallMax = 256 << 10
	DefaultPackSize = 64 << 20
	// maxSmallMax keeps an entry's data length within its u32 field.
	maxSmallMax = 1 << 30
)

// Directory entries of a volume.
const (
	PacksDir = "packs"
	LargeDir = "large"
)

// Options configures New. The zero value (or nil) is the default.
type Options struct {
	// SmallMax: objects up to this many bytes go into packs, larger ones
	// into files of their own. Default 256 KiB, at most 1 GiB.
	SmallMax int64
	// PackSize: a pack is rolled when the next entry would take it past
	// this size. Default 64 MiB.
	PackSize int64
	// Now stamps the modification time of stored objects. Default
	// time.Now; only cmd/ passes the wall clock.
	Now func() time.Time
	// Logger receives recovery reports such as a truncated torn tail.
	// Default slog.Default().
	Logger *slog.Logger
	// IndexDelta: once this many names changed since the index checkpoint
	// was written (or an eighth of the checkpoint's records, if more), a
	// new checkpoint is merged in the background, so that the changes,
	// held in memory at about 58 bytes each, stay bounded. Default
	// DefaultIndexDelta (65,536); negative: only Checkpoint and Close
	// write one.
	IndexDelta int
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.SmallMax <= 0 {
		c.SmallMax = DefaultSmallMax
	}
	c.SmallMax = min(c.SmallMax, maxSmallMax)
	if c.PackSize <= 0 {
		c.PackSize = DefaultPackSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IndexDelta == 0 {
		c.IndexDelta = DefaultIndexDelta
	}
	return c
}

// loc is where the newest entry of a name lives, as index.get returns it
// (the index stores it more compactly: index.go).
type loc struct {
	seq   uint64
	off   int64 // of the entry
	n     int64 // entry length
	size  int64 // object bytes
	mtime int64
}

// pack is one pack file, open for reading (and, for the newest, writing).
type pack struct {
	seq  uint64
	f    vfs.File
	size int64 // bytes written (the newest pack's write offset)
	live int64 // bytes of entries the index points at
}

const stripes = 256

// Volume is an hsm.Volume that packs small objects into append-only files.
// Lock order: stripe → ckmu → smu → wmu → mu.
type Volume struct {
	fs      vfs.FS
	dir     string
	packDir string
	opts    Options
	large   *localvol.Volume
	seed    maphash.Seed
	stripe  [stripes]sync.Mutex // serialise writes of one name across the two tiers

	mu         sync.RWMutex
	index      *index
	packs      map[uint64]*pack
	largeNames map[string]struct{}
	closed     bool
	closing    bool // Close has begun: no background checkpoint starts
	merging    bool // a background checkpoint is running
	// mergeRetryAt raises the background threshold after a failure.
	mergeRetryAt int
	bg           sync.WaitGroup

	wmu     sync.Mutex // the newest pack's writer
	cur     *pack
	durSeq  uint64 // entries up to (durSeq, durEnd) are durable
	durEnd  int64
	marked  int64 // synced length the newest pack's last sync mark claims
	failed  error
	scratch []byte

	smu  sync.Mutex // one fsync at a time (group commit)
	cmu  sync.Mutex // one Compact at a time
	ckmu sync.Mutex // one checkpoint written at a time
}

var (
	_ hsm.Volume         = (*Volume)(nil)
	_ hsm.DeferredSyncer = (*Volume)(nil)
	_ hsm.Compactor      = (*Volume)(nil)
	_ hsm.Checkpointer   = (*Volume)(nil)
)

// New opens the volume in dir, creating it durably if missing: it builds
// the index from the index checkpoint and the pack bytes after it, or from
// every pack when there is no usable checkpoint (rewriting a torn tail of
// the newest), opens the large objects' localvol, and starts a new pack.
// opts may be nil. Close writes the checkpoint and releases the files.
func New(fs vfs.FS, dir string, opts *Options) (*Volume, error) {
	o := opts.withDefaults()
	fs = vfsutil.Private(fs)
	dir = filepath.Clean(dir)
	v := &Volume{
		fs:         fs,
		dir:        dir,
		packDir:    fs.PathJoin(dir, PacksDir),
		opts:       o,
		seed:       maphash.MakeSeed(),
		packs:      map[uint64]*pack{},
		largeNames: map[string]struct{}{},
	}
	v.index = newIndex(v.packExists)
	if err := v.open(); err != nil {
		v.closeFiles()
		return nil, fmt.Errorf("packvol: open %s: %w", dir, err)
	}
	return v, nil
}

// Dir returns the volume's root directory.
func (v *Volume) Dir() string { return v.dir }

// Close makes the newest pack durable (a sync mark recording the last
// fsync first, if no append followed it), writes the index checkpoint and
// closes the pack files. Later calls fail with ErrClosed. A failed handle
// writes no checkpoint.
func (v *Volume) Close() error {
	v.mu.Lock()
	if v.closing {
		v.mu.Unlock()
		return ErrClosed
	}
	v.closing = true
	v.mu.Unlock()
	v.bg.Wait()
	v.ckmu.Lock()
	defer v.ckmu.Unlock()
	v.smu.Lock()
	defer v.smu.Unlock()
	v.wmu.Lock()
	defer v.wmu.Unlock()
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return ErrClosed
	}
	v.closed = true
	err := v.closeMark()
	v.mu.Unlock()
	if err == nil && v.failed == nil && v.cur != nil {
		var s *ckptSnap
		if s, err = v.freezeLocked(); err == nil && s != nil {
			err = v.merge(s)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failed == nil {
		v.failed = ErrClosed
	}
	return errors.Join(err, v.closeFilesLocked())
}

func (v *Volume) closeFiles() {
	v.mu.Lock()
	defer v.mu.Unlock()
	_ = v.closeFilesLocked()
}

func (v *Volume) closeFilesLocked() error {
	var errs []error
	for _, p := range v.packs {
		errs = append(errs, p.f.Close())
	}
	v.packs = map[uint64]*pack{}
	if f := v.index.file; f != nil {
		errs = append(errs, f.close())
		v.index.file = nil
	}
	return errors.Join(errs...)
}

// packExists reports whether pack seq is there. The caller holds mu.
func (v *Volume) packExists(seq uint64) bool { return v.packs[seq] != nil }

func (v *Volume) lockName(name string) func() {
	m := &v.stripe[maphash.String(v.seed, name)%stripes]
	m.Lock()
	return m.Unlock
}

func packName(seq uint64) string { return fmt.Sprintf("%012d.pack", seq) }

func (v *Volume) packPath(seq uint64) string { return v.fs.PathJoin(v.packDir, packName(seq)) }

// classify turns a file-system error into the hsm classes.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %v", hsm.ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %v", hsm.ErrPermission, err)
	}
	return err
}

// Stats describes the packs, for monitoring and for deciding when to
// Compact.
type Stats struct {
	Packs     int   // pack files
	Objects   int   // objects in packs
	Large     int   // objects in files of their own
	PackBytes int64 // bytes of all packs
	LiveBytes int64 // bytes of entries the index points at
}

// Stats reports the current totals.
func (v *Volume) Stats() Stats {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := Stats{Packs: len(v.packs), Objects: v.index.len(), Large: len(v.largeNames)}
	for _, p := range v.packs {
		s.PackBytes += p.size
		s.LiveBytes += p.live
	}
	return s
}
