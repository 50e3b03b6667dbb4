package packvol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

// open builds the index from the packs and starts a new pack.
func (v *Volume) open() error {
	if err := vfsutil.MkdirAll(v.fs, v.packDir); err != nil {
		return err
	}
	if err := vfsutil.RemoveTemps(v.fs, v.packDir); err != nil {
		return err
	}
	seqs, err := v.listPacks()
	if err != nil {
		return err
	}
	var empties []uint64
	for i, seq := range seqs {
		n, err := v.loadPack(seq, i == len(seqs)-1)
		if err != nil {
			return err
		}
		if n == 0 {
			empties = append(empties, seq)
		}
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
	next := uint64(1)
	if len(seqs) > 0 {
		next = seqs[len(seqs)-1] + 1
	}
	return v.startPack(next)
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

// loadPack reads one pack whole and applies its entries to the index; for
// the newest pack a torn tail (tornOrCorrupt) is cut off first. It returns
// the number of entries (sync marks not counted).
func (v *Volume) loadPack(seq uint64, newest bool) (int, error) {
	path := v.packPath(seq)
	f, err := v.fs.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open pack %s: %w", path, err)
	}
	p := &pack{seq: seq, f: f}
	v.packs[seq] = p // closed by closeFiles on error
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return 0, fmt.Errorf("read pack %s: %w", path, err)
	}
	r := scanPack(data, seq)
	if r.err != nil {
		if err := tornOrCorrupt(data, seq, newest, r); err != nil {
			return 0, fmt.Errorf("pack %s: %w", path, err)
		}
		v.opts.Logger.Warn("packvol: truncated torn tail",
			"pack", path, "offset", r.end, "dropped_bytes", int64(len(data))-r.end, "reason", r.err)
		if len(r.entries) == 0 {
			return 0, nil // removed by open as empty
		}
		if err := vfsutil.WriteFile(v.fs, path, data[:r.end]); err != nil {
			return 0, fmt.Errorf("truncate torn pack %s: %w", path, err)
		}
		_ = f.Close()
		if p.f, err = v.fs.Open(path); err != nil {
			return 0, fmt.Errorf("open pack %s: %w", path, err)
		}
	}
	p.size = r.end
	for _, e := range r.entries {
		v.apply(e.kind, e.name, loc{seq: seq, off: e.off, n: e.n, size: int64(len(e.data)), mtime: e.mtime})
	}
	return len(r.entries), nil
}

// apply records one entry in the index and the packs' live bytes. The
// caller holds mu (or is New).
func (v *Volume) apply(kind byte, name string, l loc) {
	if old, ok := v.index[name]; ok {
		if p := v.packs[old.seq]; p != nil {
			p.live -= old.n
		}
	}
	if kind == kindTombstone {
		delete(v.index, name)
		return
	}
	v.index[name] = l
	v.packs[l.seq].live += l.n
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
		if _, ok := v.index[oi.Name]; ok {
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
