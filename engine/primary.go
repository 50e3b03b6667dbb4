package engine

import (
	"context"

	"github.com/tidemark/tidemark/hsm"
)

// Layouts of a new default primary volume (Options.PrimaryLayout).
const (
	// LayoutPack packs small blobs into append-only files: one append per
	// blob instead of one new file, which is what bounds delivery with
	// LayoutLocal on ext4 (docs/BENCHMARKS.md).
	LayoutPack = hsm.LayoutPack
	// LayoutLocal stores one file per blob, the layout of data
	// directories created before LayoutPack existed.
	LayoutLocal = hsm.LayoutFile
)

// compactPrimary reclaims the space of collected blobs on the primary
// volume when it can (hsm.Compactor, e.g. a pack volume whose packs are
// mostly dead: Options.CompactDeadFraction). It runs beside the writer: the
// volume serialises it with puts.
func (e *Engine) compactPrimary() {
	c, ok := e.prim().vol.(hsm.Compactor)
	if !ok || e.opts.CompactDeadFraction < 0 || e.poisoned.Load() != nil {
		return
	}
	freed, err := c.CompactDead(context.Background(), e.opts.CompactDeadFraction)
	if err != nil {
		e.opts.Logger.Error("engine: compact primary volume", "err", err)
		return
	}
	if freed > 0 {
		e.opts.Logger.Info("engine: compacted primary volume", "freed_bytes", freed)
	}
}

// indexPrimary checkpoints the primary volume's index (hsm.Checkpointer)
// once Options.PackIndexEvery bytes have been appended since the last one,
// so that opening after a crash scans only what came after it. (Closing
// the volume writes one anyway.) Each checkpoint rewrites the whole index,
// which is why it is not written at every engine checkpoint. A failure only
// costs a longer scan at the next open.
func (e *Engine) indexPrimary(ctx context.Context) {
	p := e.prim()
	c, ok := p.vol.(hsm.Checkpointer)
	if !ok || e.opts.PackIndexEvery < 0 {
		return
	}
	if e.packIndexedFor != p.name {
		// A new primary (primaryswitch.go): count from what it holds.
		e.packIndexedFor, e.packIndexedAt = p.name, c.AppendedBytes()
	}
	size := c.AppendedBytes()
	if size-e.packIndexedAt < e.opts.PackIndexEvery {
		return
	}
	if err := c.Checkpoint(ctx); err != nil {
		e.opts.Logger.Warn("engine: primary volume index checkpoint", "err", err)
		return
	}
	e.packIndexedAt = size
}
