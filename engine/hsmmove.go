package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// Moving a blob between volumes (HSM):
//
//  1. the blob is read from the volume its record names and hashed;
//  2. it is written durably to the destination (framed with the
//     destination's compression) and read back and hashed there;
//  3. a BlobMoved record is appended (durable before MoveBlob returns);
//     applying it points the blob record at the destination and queues
//     the old copy under the record's LSN (table 0x0D);
//  4. the old copy is deleted by collection once the checkpoint and every
//     consumer (Options.SafeLSN) have passed that LSN, and only while the
//     blob is still elsewhere (it may have been moved back).
//
// A crash before 3 leaves a spare copy on the destination that the next
// move overwrites or hsm check reports as an orphan; after 3 replay
// restores both the record and the queued deletion. A reader that looked
// the blob up before the move and finds the old copy gone looks it up
// again (readVolume). The blob is always whole in one place at least.

// ErrBlobGone is returned by MoveBlob for a blob that has no references
// any more (collected or waiting for collection): there is nothing to move.
var ErrBlobGone = errors.New("engine: blob no longer referenced")

// ErrBlobPending is returned by MoveBlob for a blob whose inline copy is
// not written to its volume yet: move it later.
var ErrBlobPending = errors.New("engine: blob copy not written yet")

// BlobLocation is where a referenced blob is.
type BlobLocation struct {
	Digest dedup.Digest
	Volume string
	Size   int64 // raw bytes
	Refs   int64
}

// BlobAt returns the location of a referenced blob (ErrBlobGone if none).
func (e *Engine) BlobAt(ctx context.Context, d dedup.Digest) (BlobLocation, error) {
	var br blobRec
	ok, err := getVal(e.db, blobKey(d), &br)
	if err != nil {
		return BlobLocation{}, err
	}
	if !ok || br.Refs == 0 {
		return BlobLocation{}, ErrBlobGone
	}
	return BlobLocation{Digest: d, Volume: br.Volume, Size: br.Size, Refs: br.Refs}, nil
}

// Blobs calls fn for every referenced blob, in digest order.
func (e *Engine) Blobs(ctx context.Context, fn func(BlobLocation) error) error {
	snap := e.db.NewSnapshot()
	defer snap.Close()
	return scan(snap, []byte{tBlob}, func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var br blobRec
		if err := decVal(v, &br); err != nil {
			return err
		}
		if br.Refs == 0 || len(k) != 33 {
			return nil
		}
		var d dedup.Digest
		copy(d[:], k[1:])
		return fn(BlobLocation{Digest: d, Volume: br.Volume, Size: br.Size, Refs: br.Refs})
	})
}

// OpenVolume returns a registered (or configured) volume by name, opening
// it on first use.
func (e *Engine) OpenVolume(ctx context.Context, name string) (hsm.Volume, error) {
	return e.volume(ctx, name)
}

// MoveBlob moves a referenced blob to the volume to and returns the bytes
// written there. A blob already on to is left alone (0, nil), so a move
// run again after a stop or crash goes on where it was. Errors: ErrBlobGone,
// ErrBlobPending, a blob whose bytes do not hash to its digest (ErrCorrupt,
// nothing moved), or a volume error (nothing recorded). The copy is written
// durably before its record (hsmbatch.go moves many at once).
func (e *Engine) MoveBlob(ctx context.Context, d dedup.Digest, to string) (int64, error) {
	if e.poisoned.Load() != nil {
		return 0, ErrReadOnly
	}
	if _, err := e.BlobAt(ctx, d); err != nil {
		return 0, err
	}
	dst, err := e.moveDest(ctx, to)
	if err != nil {
		return 0, fmt.Errorf("move blob %s: %w", d, err)
	}
	e.moveMu.RLock()
	defer e.moveMu.RUnlock()
	loc, n, err := e.copyBlob(ctx, d, dst, false)
	if err != nil || n == 0 {
		return 0, err
	}
	if err := e.recordMove(ctx, loc, dst); err != nil {
		return 0, err
	}
	return n, nil
}

func (tx *txn) applyBlobMoved(e event.BlobMoved) error {
	var br blobRec
	ok, err := getVal(tx.b, blobKey(e.Digest), &br)
	if err != nil || !ok {
		return err // moving a collected blob changes nothing
	}
	if br.Volume == e.To {
		return nil
	}
	br.Volume = e.To
	tx.set(blobKey(e.Digest), encVal(br))
	if e.From != "" && e.From != e.To {
		tx.set(moveDropKey(tx.lsn, e.Digest), []byte(e.From))
	}
	return nil
}

// collectMoved deletes the old copies of moved blobs whose BlobMoved record
// is at or below the checkpoint and (with a consumer) the shipped LSN,
// unless the blob is back on that volume. It runs after each checkpoint on
// the checkpointing goroutine, not the writer's, so a slow or unreachable
// volume never holds up commands; moveMu keeps it apart from MoveBlob (a
// blob being moved back onto the volume of a queued old copy).
func (e *Engine) collectMoved(ctx context.Context) error {
	if e.poisoned.Load() != nil {
		return nil
	}
	limit := e.checkpoint.Load()
	if e.opts.SafeLSN != nil {
		if s := e.opts.SafeLSN(); s < limit {
			limit = s
		}
	}
	e.moveMu.Lock()
	defer e.moveMu.Unlock()
	type drop struct {
		key  []byte
		d    dedup.Digest
		from string
	}
	var drops []drop
	err := scan(e.db, []byte{tMoveDrop}, func(k, v []byte) error {
		if len(k) != 1+8+32 {
			return fmt.Errorf("%w: moved-copy key %x", ErrCorrupt, k)
		}
		if binary.BigEndian.Uint64(k[1:9]) > limit || len(drops) >= collectBatch {
			return errStopScan
		}
		var d dedup.Digest
		copy(d[:], k[9:])
		drops = append(drops, drop{append([]byte(nil), k...), d, string(v)})
		return nil
	})
	if err != nil && err != errStopScan {
		return err
	}
	if len(drops) == 0 {
		return nil
	}
	// The deletes run side by side (a local volume fsyncs its directory
	// after each: concurrent fsyncs share journal commits).
	done := make([]bool, len(drops))
	var firstErr error
	var mu sync.Mutex
	forEach(len(drops), collectMovedWorkers, func(i int) {
		dr := drops[i]
		var br blobRec
		ok, err := getVal(e.db, blobKey(dr.d), &br)
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		if !ok || br.Volume != dr.from {
			v, err := e.volume(ctx, dr.from)
			if err != nil {
				// A volume that cannot be opened (deleted from the
				// registry, S3 unreachable): keep the entry for later.
				e.opts.Logger.Warn("engine: delete moved blob's old copy", "blob", dr.d.String(), "volume", dr.from, "err", err)
				return
			}
			e.gcGen.Add(1)
			if err := v.Delete(ctx, dedup.BlobName(dr.d)); err != nil {
				e.opts.Logger.Warn("engine: delete moved blob's old copy", "blob", dr.d.String(), "volume", dr.from, "err", err)
				return
			}
		}
		done[i] = true
	})
	b := e.db.NewBatch()
	defer b.Close()
	for i, dr := range drops {
		if done[i] {
			_ = b.Delete(dr.key, nil)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	return firstErr
}

// collectMovedWorkers bounds the old-copy deletes collectMoved runs at
// once.
const collectMovedWorkers = 8

// PendingOldCopies counts moved blobs whose old copy is not deleted yet.
func (e *Engine) PendingOldCopies() (int, error) {
	n := 0
	err := scan(e.db, []byte{tMoveDrop}, func(_, _ []byte) error { n++; return nil })
	return n, err
}
