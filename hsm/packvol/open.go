package packvol

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

// open builds the index from the checkpoint and the pack bytes after it
// (or from every pack whole when there is no usable checkpoint) and starts
// a new pack.
func (v *Volume) open() error {
	if err := vfsutil.MkdirAll(v.fs, v.packDir); err != nil {
		return err
	}
	if err := vfsutil.RemoveTemps(v.fs, v.packDir); err != nil {
		return err
	}
	if err := vfsutil.RemoveTemps(v.fs, v.dir); err != nil {
		return err
	}
	seqs, err := v.listPacks()
	if err != nil {
		return err
	}
	c := v.readCheckpoint()
	empties, err := v.loadPacks(seqs, c)
	if c != nil && errors.Is(err, errStale) {
		v.opts.Logger.Warn("packvol: index checkpoint does not fit the packs, scanning every pack",
			"dir", v.dir, "reason", err)
		_ = v.closeFilesLocked()
		v.index = newIndex(v.packExists)
		c = nil
		empties, err = v.loadPacks(seqs, nil)
	}
	if err != nil {
		return err
	}
	// Packs without entries (a handle that wrote nothing, or a pack whose
	// every entry was torn) hold nothing: remove them.
	for _, seq := range empties {
		p := v.packs[seq]
		delete(v.packs, seq)
		_ = p.f.Close()
		if err := v.fs.Remove(v.packPath(seq)); err != nil {
			return fmt.Errorf("remove empty pack: %w", err)
		}
	}
	if len(empties) > 0 {
		if err := vfsutil.SyncDir(v.fs, v.packDir); err != nil {
			return err
		}
	}
	if err := v.openLarge(); err != nil {
		return err
	}
	// Never reuse a number the checkpoint names: its records of a pack
	// Compact removed are hidden only while no pack has that number.
	next := uint64(1)
	if len(seqs) > 0 {
		next = seqs[len(seqs)-1] + 1
	}
	if c != nil {
		for seq := range c.packs {
			next = max(next, seq+1)
		}
	}
	if err := v.startPack(next); err != nil {
		return err
	}
	v.mu.Lock()
	v.maybeMerge()
	v.mu.Unlock()
	return nil
}

// listPacks returns the pack numbers in packs/, ascending.
func (v *Volume) listPacks() ([]uint64, error) {
	names, err := v.fs.List(v.packDir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", v.packDir, err)
	}
	var seqs []uint64
	for _, n := range names {
		base, ok := strings.CutSuffix(n, ".pack")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(base, 10, 64)
		if err != nil || seq == 0 || packName(seq) != n {
			return nil, fmt.Errorf("%w: unexpected file %s in %s", ErrCorrupt, n, v.packDir)
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// readCheckpoint returns the volume's index checkpoint, or nil (with a
// warning unless there is none) when New must scan every pack. A version
// 2 file stays open for lookups; a version 1 file is read whole into
// memory (the first checkpoint written replaces it with version 2).
func (v *Volume) readCheckpoint() *checkpoint {
	path := v.ckptPath()
	f, err := v.fs.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var c *checkpoint
	if err == nil {
		c, err = readCheckpointFile(f)
		if c == nil || c.file == nil {
			_ = f.Close()
		}
	}
	if err != nil {
		v.opts.Logger.Warn("packvol: index checkpoint unusable, scanning every pack", "path", path, "reason", err)
		return nil
	}
	return c
}

// readCheckpointFile reads a checkpoint of either version; errors wrap
// errStale or are read errors.
func readCheckpointFile(f vfs.File) (*checkpoint, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var h [ckptHeader2]byte
	if st.Size() >= ckptHeader2+ckptFooter {
		if err := readAt(f, h[:], 0); err != nil {
			return nil, err
		}
	}
	if string(h[:4]) == ckptMagic && binary.LittleEndian.Uint16(h[8:]) == ckptVersion2 {
		cf, err := loadCkptFile(f, st.Size())
		if err != nil {
			return nil, err
		}
		return &checkpoint{packs: cf.packs, file: cf}, nil
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return nil, err
	}
	return decodeCheckpoint(b)
}

// loadPacks builds the index from c (nil: from nothing) and the pack bytes
// c does not cover, and returns the packs without entries. An error
// wrapping errStale, returned before any pack is changed, means c does not
// fit the packs on disk.
func (v *Volume) loadPacks(seqs []uint64, c *checkpoint) ([]uint64, error) {
	if c != nil {
		if c.file != nil {
			v.index.file = c.file // closed with the packs, on error too
		}
		var maxSeq uint64
		for seq := range c.packs {
			maxSeq = max(maxSeq, seq)
		}
		onDisk := make(map[uint64]bool, len(seqs))
		for _, seq := range seqs {
			onDisk[seq] = true
			if _, ok := c.packs[seq]; !ok && seq < maxSeq {
				return nil, fmt.Errorf("%w: pack %d is not in it but older than pack %d", errStale, seq, maxSeq)
			}
		}
		// A pack gone since the checkpoint was compacted away: its live
		// entries were copied to a newer pack, whose bytes after the
		// checkpoint are scanned. A version 2 file's records of it are
		// hidden by the index (no pack has its number); a version 1
		// file's are dropped. The checkpoint's index becomes the
		// volume's: copying it would hold two for a moment.
		if c.file != nil {
			for seq, n := range c.file.perPack {
				if onDisk[seq] {
					v.index.n += n
				}
			}
			c.file.perPack = nil
		} else {
			c.index.dropPacks(func(seq uint64) bool { return !onDisk[seq] })
			v.index.delta, v.index.n = c.index, c.index.len()
		}
	}
	var empties []uint64
	for i, seq := range seqs {
		var cp *ckptPack
		if p, ok := c.ckptPack(seq); ok {
			cp = &p
		}
		n, err := v.loadPack(seq, i == len(seqs)-1, cp)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			empties = append(empties, seq)
		}
	}
	return empties, nil
}

// loadPack applies one pack's entries to the index: all of them, or with
// cp only those after the bytes cp covers. For the newest pack a torn tail
// (tornOrCorrupt) is cut off first. It returns the number of entries
// (sync marks not counted; the covered bytes count as one).
func (v *Volume) loadPack(seq uint64, newest bool, cp *ckptPack) (int, error) {
	path := v.packPath(seq)
	f, err := v.fs.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open pack %s: %w", path, err)
	}
	p := &pack{seq: seq, f: f}
	v.packs[seq] = p // closed by closeFiles on error
	var data []byte
	var r scanResult
	base, covered := int64(0), 0
	if cp == nil {
		if data, err = io.ReadAll(io.NewSectionReader(f, 0, 1<<62)); err != nil {
			return 0, fmt.Errorf("read pack %s: %w", path, err)
		}
		r = scanPack(data, seq)
	} else {
		if r, data, err = v.readTail(f, seq, cp); err != nil {
			return 0, fmt.Errorf("pack %s: %w", path, err)
		}
		base, p.live = cp.covered, cp.live
		if cp.covered > packHeaderSize {
			covered = 1
		}
	}
	if r.err != nil {
		if err := tornOrCorruptTail(data, base, seq, newest, r); err != nil {
			return 0, fmt.Errorf("pack %s: %w", path, err)
		}
		v.opts.Logger.Warn("packvol: truncated torn tail",
			"pack", path, "offset", r.end, "dropped_bytes", base+int64(len(data))-r.end, "reason", r.err)
		if len(r.entries)+covered == 0 {
			return 0, nil // removed by open as empty
		}
		prefix := data[:r.end-base]
		if base > 0 {
			prefix = make([]byte, r.end)
			if _, err := f.ReadAt(prefix, 0); err != nil {
				return 0, fmt.Errorf("read pack %s: %w", path, err)
			}
		}
		if err := vfsutil.WriteFile(v.fs, path, prefix); err != nil {
			return 0, fmt.Errorf("truncate torn pack %s: %w", path, err)
		}
		_ = f.Close()
		if p.f, err = v.fs.Open(path); err != nil {
			return 0, fmt.Errorf("open pack %s: %w", path, err)
		}
	}
	p.size = r.end
	for _, e := range r.entries {
		if err := v.apply(e.kind, e.name, loc{seq: seq, off: e.off, n: e.n, size: int64(len(e.data)), mtime: e.mtime}); err != nil {
			return 0, fmt.Errorf("pack %s: %w", path, err)
		}
	}
	return len(r.entries) + covered, nil
}

// readTail checks pack seq against its checkpoint record and scans the
// bytes after those it covers. Only the pack that was the newest when the
// checkpoint was taken may have grown since.
func (v *Volume) readTail(f vfs.File, seq uint64, cp *ckptPack) (scanResult, []byte, error) {
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, nil, fmt.Errorf("stat: %w", err)
	}
	if st.Size() < cp.covered || (!cp.newest && st.Size() != cp.covered) {
		return scanResult{}, nil, fmt.Errorf("%w: %d bytes, checkpoint covers %d", errStale, st.Size(), cp.covered)
	}
	hdr := make([]byte, packHeaderSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return scanResult{}, nil, fmt.Errorf("read: %w", err)
	}
	ver, err := checkHeader(hdr, seq)
	if err != nil {
		return scanResult{}, nil, fmt.Errorf("%w: %w", errStale, err)
	}
	data, err := io.ReadAll(io.NewSectionReader(f, cp.covered, 1<<62))
	if err != nil {
		return scanResult{}, nil, fmt.Errorf("read: %w", err)
	}
	return scanTail(data, cp.covered, seq, ver), data, nil
}

// apply records one entry in the index and the packs' live bytes. The
// caller holds mu (or is New). The entry is recorded even on an error
// (reading the place it replaces from the checkpoint file failed), but
// the live bytes may then be off: the caller fails the handle.
func (v *Volume) apply(kind byte, name string, l loc) error {
	var old loc
	var had bool
	var err error
	if kind == kindTombstone {
		old, had, err = v.index.remove(name)
	} else {
		old, had, err = v.index.put(name, l)
		v.packs[l.seq].live += l.n
	}
	if had {
		if p := v.packs[old.seq]; p != nil {
			p.live -= old.n
		}
	}
	if err != nil {
		return fmt.Errorf("index of %s: %w", name, err)
	}
	return nil
}

// openLarge opens the large objects' volume and drops the files a pack
// entry shadows: leftovers of a replacement a crash interrupted.
func (v *Volume) openLarge() error {
	lv, err := localvol.New(v.fs, v.fs.PathJoin(v.dir, LargeDir), nil)
	if err != nil {
		return err
	}
	v.large = lv
	ctx := context.Background()
	var shadowed []string
	err = lv.List(ctx, "", func(oi hsm.ObjectInfo) error {
		_, ok, err := v.index.get(oi.Name)
		if err != nil {
			return err
		}
		if ok {
			shadowed = append(shadowed, oi.Name)
		} else {
			v.largeNames[oi.Name] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range shadowed {
		if err := lv.Delete(ctx, name); err != nil && !errors.Is(err, hsm.ErrNotFound) {
			return err
		}
	}
	return nil
}
