package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/packvol"
)

// Layouts of the default primary volume (Options.PrimaryLayout).
const (
	// LayoutPack packs small blobs into append-only files (hsm/packvol):
	// one append per blob instead of one new file, which is what bounds
	// delivery with LayoutLocal on ext4 (docs/BENCHMARKS.md).
	LayoutPack = "packvol"
	// LayoutLocal stores one file per blob (hsm/localvol), the layout of
	// data directories created before LayoutPack existed.
	LayoutLocal = "localvol"
)

// primaryLayout decides the layout of <data>/volumes/<PrimaryName>: a
// directory holding packs/ is a pack volume; one holding anything else
// (blobs/...) is a local volume, as every data directory made before pack
// volumes; a missing or empty one gets the configured layout.
func (e *Engine) primaryLayout(dir string) (string, error) {
	names, err := e.fs.List(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(names) == 0) {
		return e.opts.PrimaryLayout, nil
	}
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if n == packvol.PacksDir {
			return LayoutPack, nil
		}
	}
	return LayoutLocal, nil
}

// openPrimary opens the default primary volume in the layout it has or,
// for a new one, the configured layout.
func (e *Engine) openPrimary() (hsm.Volume, error) {
	dir := e.fs.PathJoin(e.dir, VolumesDir, e.opts.PrimaryName)
	layout, err := e.primaryLayout(dir)
	if err != nil {
		return nil, err
	}
	switch layout {
	case LayoutLocal:
		return localvol.New(e.fs, dir, nil)
	case LayoutPack:
	default:
		return nil, fmt.Errorf("unknown primary layout %q (want %q or %q)", layout, LayoutPack, LayoutLocal)
	}
	v, err := packvol.New(e.fs, dir, &packvol.Options{Now: e.opts.Now, Logger: e.opts.Logger})
	if err != nil {
		return nil, err
	}
	e.ownPrimary = v
	return v, nil
}

// compactPrimary rewrites the packs of the engine's own pack primary volume
// that blob collection has left mostly dead (Options.CompactDeadFraction).
// It runs beside the writer: the volume serialises it with puts.
func (e *Engine) compactPrimary() {
	pv, ok := e.ownPrimary.(*packvol.Volume)
	if !ok || e.opts.CompactDeadFraction < 0 || e.poisoned.Load() != nil {
		return
	}
	st, err := pv.Compact(context.Background(), e.opts.CompactDeadFraction)
	if err != nil {
		e.opts.Logger.Error("engine: compact primary volume", "err", err)
		return
	}
	if st.Packs > 0 {
		e.opts.Logger.Info("engine: compacted primary volume", "packs", st.Packs, "copied", st.Copied, "freed_bytes", st.Freed)
	}
}

// indexPrimary writes the pack primary volume's index checkpoint once
// Options.PackIndexEvery bytes have been appended to its packs since the
// last one, so that opening after a crash scans only what came after it.
// (Close writes one anyway.) Each checkpoint rewrites the whole index,
// which is why it is not written at every engine checkpoint. A failure only
// costs a longer scan at the next open.
func (e *Engine) indexPrimary(ctx context.Context) {
	pv, ok := e.ownPrimary.(*packvol.Volume)
	if !ok || e.opts.PackIndexEvery < 0 {
		return
	}
	size := pv.Stats().PackBytes
	if size-e.packIndexedAt < e.opts.PackIndexEvery {
		return
	}
	if err := pv.Checkpoint(ctx); err != nil {
		e.opts.Logger.Warn("engine: pack volume index checkpoint", "err", err)
		return
	}
	e.packIndexedAt = size
}
