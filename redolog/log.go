package redolog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

// segment is the in-memory index entry of one segment file.
type segment struct {
	first    uint64
	last     uint64 // last durable LSN in it; first-1 while empty
	end      int64  // durable size in bytes; readers never read past it
	hdrSize  int
	archived bool
	gap      bool // a gap segment: it stands for first..last, holding no record
}

// Log is an open redo log directory. All methods are safe for concurrent
// use. Appends are serialized by one writer goroutine that group-commits
// whatever is pending into one write and one fsync.
type Log struct {
	opts    Options
	fs      vfs.FS
	dir     string
	archive string
	lock    io.Closer

	mu      sync.Mutex
	segs    []segment // oldest first; the last one is active
	durable uint64    // last durable LSN (or the end of a gap)
	durTime int64     // time of the record at durable, unix ns; 0 if none
	notify  chan struct{}
	closed  bool
	failed  error
	pending []*request

	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	// Owned by the writer goroutine (and by Open before it starts).
	active      vfs.File
	activeFirst uint64
	activeSize  int64
	activeHdr   int
	nextLSN     uint64
	lastTime    int64
	buf         []byte
	spare       []*request
}

// Open opens the log in dir, creating the directory if it is missing. It
// takes a lock file, so a second Open of the same directory fails with
// ErrLocked until the first is closed. Open recovers the log: a torn record
// at the tail is truncated and reported to Options.Logger; any other bad
// record makes Open fail with an error wrapping ErrCorrupt that names the
// segment and byte offset. Every segment left by the previous run that holds
// records is sealed into archive/, and appends go to a fresh segment.
func Open(dir string, opts *Options) (*Log, error) {
	o := opts.withDefaults()
	fs := o.FS
	l := &Log{
		opts:    o,
		fs:      fs,
		dir:     dir,
		archive: fs.PathJoin(dir, archiveDir),
		notify:  make(chan struct{}),
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := vfsutil.MkdirAll(fs, l.archive); err != nil {
		return nil, fmt.Errorf("redolog: open %s: %w", dir, err)
	}
	lock, err := fs.Lock(fs.PathJoin(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	}
	l.lock = lock
	if err := l.recover(); err != nil {
		if l.active != nil {
			_ = l.active.Close()
		}
		_ = lock.Close()
		return nil, fmt.Errorf("redolog: open %s: %w", dir, err)
	}
	go l.run()
	return l, nil
}

// listSegments returns the first LSNs of the segment files in dir, sorted.
func listSegments(fs vfs.FS, dir string) ([]uint64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var firsts []uint64
	for _, n := range names {
		if first, ok := parseSegmentName(n); ok {
			firsts = append(firsts, first)
		}
	}
	slices.Sort(firsts)
	return firsts, nil
}

// recover rebuilds the index from the directory, seals what the previous run
// left active and starts a new active segment.
func (l *Log) recover() error {
	fs := l.fs
	for _, d := range []string{l.dir, l.archive} {
		if err := vfsutil.RemoveTemps(fs, d); err != nil {
			return err
		}
	}
	arch, err := listSegments(fs, l.archive)
	if err != nil {
		return err
	}
	root, err := listSegments(fs, l.dir)
	if err != nil {
		return err
	}
	// A seal renames root/X to archive/X; a crash between the two directory
	// syncs can leave both names. The archived copy is complete (it is the
	// same file, or a synced copy of its valid prefix), so drop the other.
	for i := 0; i < len(root); {
		if _, found := slices.BinarySearch(arch, root[i]); found {
			if err := fs.Remove(fs.PathJoin(l.dir, segmentName(root[i]))); err != nil {
				return fmt.Errorf("remove sealed leftover: %w", err)
			}
			root = slices.Delete(root, i, i+1)
			continue
		}
		i++
	}
	l.nextLSN = 1
	for i, first := range arch {
		name := segmentName(first)
		path := fs.PathJoin(l.archive, name)
		seg := segment{first: first, archived: true}
		if i < len(arch)-1 {
			// Older archived segments were checked when sealed; read only
			// their header here and let Verify do the full pass.
			hdr, err := readHeader(fs, path)
			if err != nil {
				return fmt.Errorf("segment %s offset 0: %w", path, err)
			}
			st, err := fs.Stat(path)
			if err != nil {
				return err
			}
			seg.hdrSize, seg.end, seg.last, seg.gap = hdr.size, st.Size(), arch[i+1]-1, hdr.gap
		} else {
			data, err := readAll(fs, path)
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			s := scanSegment(data, path, first, 0)
			if s.err == nil && s.torn() {
				s.err = fmt.Errorf("archived segment: %w", s.tornErr)
			}
			if s.err == nil && s.count == 0 && s.gap == nil {
				s.err = fmt.Errorf("%w: archived segment %s holds no record", ErrCorrupt, path)
			}
			if s.err != nil {
				return s.err
			}
			seg.hdrSize, seg.end, seg.last, seg.gap = s.hdr.size, s.end, s.last, s.gap != nil
			l.nextLSN, l.lastTime = s.last+1, s.lastTime
		}
		l.segs = append(l.segs, seg)
	}
	var floor uint64
	var empties []string
	for i, first := range root {
		name := segmentName(first)
		path := fs.PathJoin(l.dir, name)
		data, err := readAll(fs, path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		s := scanSegment(data, path, first, l.lastTime)
		if s.err != nil {
			return s.err
		}
		if s.gap != nil {
			return fmt.Errorf("%w: gap segment %s outside archive/", ErrCorrupt, path)
		}
		if s.torn() {
			if i != len(root)-1 {
				return fmt.Errorf("torn record before the last segment: %w", s.tornErr)
			}
			l.opts.Logger.Warn("redolog: truncated torn tail",
				"segment", path, "offset", s.end, "dropped_bytes", s.size-s.end, "reason", s.tornErr)
		}
		if s.count == 0 {
			floor = max(floor, first)
			empties = append(empties, path)
			continue
		}
		if len(l.segs) > 0 && first != l.nextLSN {
			return fmt.Errorf("%w: segment %s starts at lsn %d, want %d", ErrCorrupt, path, first, l.nextLSN)
		}
		if err := l.sealFile(name, data[:s.end], s.torn()); err != nil {
			return err
		}
		l.segs = append(l.segs, segment{first: first, last: s.last, end: s.end, hdrSize: s.hdr.size, archived: true})
		l.nextLSN, l.lastTime = s.last+1, s.lastTime
	}
	if floor > l.nextLSN {
		if len(l.segs) > 0 {
			return fmt.Errorf("%w: active segment starts at lsn %d but the archive ends at %d", ErrCorrupt, floor, l.nextLSN-1)
		}
		l.nextLSN = floor
	}
	l.durable, l.durTime = l.nextLSN-1, l.lastTime
	if err := l.startSegment(); err != nil {
		return err
	}
	active := fs.PathJoin(l.dir, segmentName(l.activeFirst))
	for _, p := range empties {
		if p != active {
			if err := fs.Remove(p); err != nil {
				return fmt.Errorf("remove empty segment: %w", err)
			}
		}
	}
	return vfsutil.SyncDir(fs, l.dir)
}

// sealFile moves root/name into the archive. A segment with a torn tail is
// archived as a synced copy of its valid prefix, so archive/ only ever holds
// whole records.
func (l *Log) sealFile(name string, valid []byte, torn bool) error {
	src, dst := l.fs.PathJoin(l.dir, name), l.fs.PathJoin(l.archive, name)
	if torn {
		if err := vfsutil.WriteFile(l.fs, dst, valid); err != nil {
			return err
		}
		if err := l.fs.Remove(src); err != nil {
			return fmt.Errorf("remove %s: %w", src, err)
		}
	} else if err := l.fs.Rename(src, dst); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	// Archive first: until the root directory is synced a crash shows the
	// file in both places, which recovery resolves, never in neither.
	if err := vfsutil.SyncDir(l.fs, l.archive); err != nil {
		return err
	}
	return vfsutil.SyncDir(l.fs, l.dir)
}

// startSegment durably creates the active segment for l.nextLSN and opens it
// for appending. It does not touch the previous active segment.
func (l *Log) startSegment() error {
	name := segmentName(l.nextLSN)
	path := l.fs.PathJoin(l.dir, name)
	hdr := appendHeader(nil, l.nextLSN)
	if err := vfsutil.WriteFile(l.fs, path, hdr); err != nil {
		return err
	}
	f, err := l.fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	old := l.active
	l.active, l.activeFirst, l.activeSize, l.activeHdr = f, l.nextLSN, int64(len(hdr)), len(hdr)
	l.mu.Lock()
	l.segs = append(l.segs, segment{first: l.nextLSN, last: l.nextLSN - 1, end: int64(len(hdr)), hdrSize: len(hdr)})
	l.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// LastLSN returns the LSN of the last durable record, 0 if there is none.
func (l *Log) LastLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// LastTime returns the commit time of the last durable record (or of the
// gap record when the log ends in a gap), zero if there is none. A record
// appended next gets a later time.
func (l *Log) LastTime() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.durTime == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.durTime).UTC()
}

// FirstLSN returns the oldest LSN still on disk, 0 if no record is held.
func (l *Log) FirstLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.segs[0]; s.last >= s.first {
		return s.first
	}
	return 0
}

// Subscribe returns a channel that is closed at the next change: a durable
// append, a seal, a truncation or Close. Call it again for the change after.
func (l *Log) Subscribe() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notify
}

// changedLocked wakes subscribers and tail readers. l.mu must be held.
func (l *Log) changedLocked() {
	close(l.notify)
	l.notify = make(chan struct{})
}

// Truncate removes archived segments whose every LSN is below below. The
// active segment is never removed. The caller decides when that is safe;
// readers positioned in a removed segment get ErrTruncated.
func (l *Log) Truncate(below uint64) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].archived && l.segs[n].last < below {
		n++
	}
	gone := slices.Clone(l.segs[:n])
	l.segs = slices.Delete(l.segs, 0, n)
	if n > 0 {
		l.changedLocked()
	}
	l.mu.Unlock()
	if n == 0 {
		return nil
	}
	for _, s := range gone {
		p := l.fs.PathJoin(l.archive, segmentName(s.first))
		if err := l.fs.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("redolog: truncate: remove %s: %w", p, err)
		}
	}
	if err := vfsutil.SyncDir(l.fs, l.archive); err != nil {
		return fmt.Errorf("redolog: truncate: %w", err)
	}
	return nil
}

// Close waits for queued appends to finish, stops the writer, closes the
// active segment and releases the lock. Tail readers return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.quit)
	l.mu.Unlock()
	<-l.done
	err := l.active.Close()
	if lerr := l.lock.Close(); err == nil {
		err = lerr
	}
	l.mu.Lock()
	l.changedLocked()
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("redolog: close: %w", err)
	}
	return nil
}
