package packvol

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/internal/vfsutil"
)

// startPack creates pack seq durably (header fsynced, directory fsynced)
// and makes it the one appended to. The caller holds wmu (or is New).
func (v *Volume) startPack(seq uint64) error {
	path := v.packPath(seq)
	f, err := v.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("create pack %s: %w", path, err)
	}
	fail := func(err error) error {
		_ = f.Close()
		_ = v.fs.Remove(path)
		return err
	}
	if _, err := f.WriteAt(packHeader(seq), 0); err != nil {
		return fail(fmt.Errorf("write pack %s: %w", path, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync pack %s: %w", path, err))
	}
	if err := vfsutil.SyncDir(v.fs, v.packDir); err != nil {
		return fail(err)
	}
	p := &pack{seq: seq, f: f, size: packHeaderSize}
	v.mu.Lock()
	v.packs[seq] = p
	v.mu.Unlock()
	v.cur = p
	v.durSeq, v.durEnd = seq, packHeaderSize
	v.marked = packHeaderSize
	return nil
}

// roll makes the newest pack durable and starts the next. The caller holds
// wmu.
func (v *Volume) roll() error {
	old := v.cur
	if err := old.f.Sync(); err != nil {
		return fmt.Errorf("sync pack %s: %w", v.packPath(old.seq), err)
	}
	v.durSeq, v.durEnd = old.seq, old.size
	return v.startPack(old.seq + 1)
}

// write is one entry to append.
type write struct {
	kind  byte
	name  string
	data  []byte
	mtime int64
	// check, if set, runs under the index lock just before the entry is
	// applied, and skips the entry when it returns false (Compact copies
	// an entry only while the index still points at the original). An
	// error fails the append, nothing written.
	check func() (bool, error)
}

// appendEntry writes one entry at the end of the newest pack, rolling
// first if it would outgrow PackSize, and applies it to the index. It
// returns the pack and the offset just after the entry, for syncTo, and
// false when check skipped it. A failed write fails the handle.
func (v *Volume) appendEntry(w write) (seq uint64, end int64, ok bool, err error) {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	if v.failed != nil {
		return 0, 0, false, v.failedErr()
	}
	if w.check != nil {
		v.mu.RLock()
		keep, err := w.check()
		v.mu.RUnlock()
		if err != nil {
			return 0, 0, false, err
		}
		if !keep {
			return 0, 0, false, nil
		}
	}
	n := entrySize(w.name, len(w.data))
	need := n
	if v.markPending() {
		need += markSize
	}
	if v.cur.size > packHeaderSize && v.cur.size+need > v.opts.PackSize {
		if err := v.roll(); err != nil {
			v.failed = err
			return 0, 0, false, v.failedErr()
		}
	}
	// A sync since the last mark: record it before the entry, so that New
	// knows the bytes before it are durable (doc.go "Sync mark").
	v.scratch = v.scratch[:0]
	marked := v.marked
	if v.markPending() {
		marked = v.durEnd
		v.scratch = appendMark(v.scratch, v.cur.seq, marked, v.opts.Now().UnixNano())
	}
	off := v.cur.size + int64(len(v.scratch))
	v.scratch = appendEntry(v.scratch, w.kind, w.name, w.data, w.mtime)
	p := v.cur
	if _, err := p.f.WriteAt(v.scratch, p.size); err != nil {
		v.failed = fmt.Errorf("write pack %s: %w", v.packPath(p.seq), err)
		return 0, 0, false, v.failedErr()
	}
	written := int64(len(v.scratch))
	if cap(v.scratch) > 1<<20 {
		v.scratch = nil // do not pin a large buffer
	}
	v.marked = marked
	l := loc{seq: p.seq, off: off, n: n, size: int64(len(w.data)), mtime: w.mtime}
	v.mu.Lock()
	p.size += written
	err = v.apply(w.kind, w.name, l)
	v.maybeMerge()
	v.mu.Unlock()
	if err != nil {
		// The index may have the replaced place's live bytes wrong:
		// reopen, which rebuilds it.
		v.failed = fmt.Errorf("pack %s: %w", v.packPath(p.seq), err)
		return 0, 0, false, v.failedErr()
	}
	return p.seq, p.size, true, nil
}

// markPending reports whether an fsync of the newest pack covered more
// than its last sync mark claims. The caller holds wmu.
func (v *Volume) markPending() bool {
	return v.durSeq == v.cur.seq && v.durEnd > v.marked
}

// closeMark writes the sync mark an fsync since the last one left pending,
// without fsync, so that a pack closed with no append after its last sync
// still records it. The caller holds wmu and mu.
func (v *Volume) closeMark() error {
	if v.failed != nil || v.cur == nil || !v.markPending() {
		return nil
	}
	p := v.cur
	b := appendMark(nil, p.seq, v.durEnd, v.opts.Now().UnixNano())
	if _, err := p.f.WriteAt(b, p.size); err != nil {
		return fmt.Errorf("write pack %s: %w", v.packPath(p.seq), err)
	}
	p.size += int64(len(b))
	v.marked = v.durEnd
	return nil
}

func (v *Volume) failedErr() error {
	if v.failed == ErrClosed {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrFailed, v.failed)
}

// syncTo returns once every byte up to end of pack seq is durable.
// Concurrent callers share fsyncs: each fsync covers everything written
// before it started, so callers queued behind it usually find their entry
// already covered.
func (v *Volume) syncTo(seq uint64, end int64) error {
	v.smu.Lock()
	defer v.smu.Unlock()
	v.wmu.Lock()
	if v.failed != nil {
		defer v.wmu.Unlock()
		return v.failedErr()
	}
	if seq < v.durSeq || (seq == v.durSeq && end <= v.durEnd) {
		v.wmu.Unlock()
		return nil
	}
	p, upTo := v.cur, v.cur.size
	v.wmu.Unlock()

	err := p.f.Sync()

	v.wmu.Lock()
	defer v.wmu.Unlock()
	if err != nil {
		if v.failed == nil {
			v.failed = fmt.Errorf("sync pack %s: %w", v.packPath(p.seq), err)
		}
		return v.failedErr()
	}
	if p.seq > v.durSeq || (p.seq == v.durSeq && upTo > v.durEnd) {
		v.durSeq, v.durEnd = p.seq, upTo
	}
	return nil
}

// syncAll makes every entry written so far durable.
func (v *Volume) syncAll() error {
	v.wmu.Lock()
	if v.failed != nil {
		defer v.wmu.Unlock()
		return v.failedErr()
	}
	seq, end := v.cur.seq, v.cur.size
	v.wmu.Unlock()
	return v.syncTo(seq, end)
}
