package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// Moves in batches (hsm move, move-volume).
//
// A run takes the blobs to move in batches of moveBatch. For each batch,
// with moveMu held shared (so neither the deletion of moved blobs' old
// copies nor of orphans runs in between):
//
//  1. its blobs are copied by a bounded number of goroutines: read and
//     hashed at the source, written to the destination and read back and
//     hashed there. A destination that can defer fsyncs
//     (hsm.DeferredSyncer: local volumes) is written without them; one
//     that checks what it stores on its side (hsm.VerifyingPutter: S3 with
//     Content-MD5) is not read back;
//  2. the destination's deferred writes are made durable at once
//     (SyncDeferred: parallel fsyncs, each directory once), before any
//     record names them;
//  3. the BlobMoved records are appended, side by side, so they share
//     group commits.
//
// The old copies are deleted as before (hsmmove.go): by collection, once
// the records are checkpointed and shipped. A crash before 3 leaves spare
// copies on the destination (overwritten by the next run, or orphans for
// hsm check); nothing is recorded before its copy is durable. Two batches
// run at once, so one copies while the other syncs and records.

// moveBatch is how many blobs one batch copies before its sync.
const moveBatch = 64

// moveLanes is how many batches run at once.
const moveLanes = 2

// moveDest is the destination of a move.
type moveDest struct {
	name      string
	vol       hsm.Volume // the volume itself (not the pending-copy view)
	threshold int
	deferred  hsm.DeferredSyncer
	verifying hsm.VerifyingPutter
}

func (e *Engine) moveDest(ctx context.Context, to string) (*moveDest, error) {
	spec, err := e.Volume(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("move to %s: %w", to, err)
	}
	v, err := e.rawVolume(ctx, to)
	if err != nil {
		return nil, err
	}
	d := &moveDest{name: to, vol: v, threshold: spec.CompressThreshold()}
	d.deferred, _ = v.(hsm.DeferredSyncer)
	d.verifying, _ = v.(hsm.VerifyingPutter)
	return d, nil
}

// copyBlob writes a referenced blob's copy to dst (steps 1 above) and
// returns where it was and the bytes written (0: it is on dst already).
// deferred: write without fsync where dst allows it; the caller makes it
// durable before recording. The caller holds moveMu shared.
func (e *Engine) copyBlob(ctx context.Context, d dedup.Digest, dst *moveDest, deferred bool) (BlobLocation, int64, error) {
	loc, err := e.BlobAt(ctx, d)
	if err != nil {
		return loc, 0, err
	}
	if loc.Volume == dst.name {
		return loc, 0, nil
	}
	if _, pending := e.copies.lookup(d); pending {
		return loc, 0, ErrBlobPending
	}
	src, err := e.volume(ctx, loc.Volume)
	if err != nil {
		return loc, 0, err
	}
	name := dedup.BlobName(d)
	framed, err := hsm.ReadAll(ctx, src, name)
	if err != nil {
		if hsm.IsNotFound(err) {
			if now, err2 := e.BlobAt(ctx, d); err2 != nil || now.Volume != loc.Volume {
				return loc, 0, ErrBlobGone // collected or moved meanwhile
			}
		}
		return loc, 0, fmt.Errorf("move blob %s: read from %s: %w", d, loc.Volume, err)
	}
	raw, err := dedup.Decode(framed)
	if err != nil || dedup.Sum(raw) != d {
		return loc, 0, fmt.Errorf("%w: move blob %s: the copy on %s does not hash to its digest", ErrCorrupt, d, loc.Volume)
	}
	out := framed // stored raw and stays raw on dst: the same bytes
	if framed[0] != dedup.CodecRaw || dst.threshold >= 0 && len(raw) >= dst.threshold {
		out = dedup.Encode(raw, dst.threshold)
	}
	switch {
	case deferred && dst.deferred != nil:
		err = dst.deferred.PutDeferred(ctx, name, bytes.NewReader(out), int64(len(out)))
	case dst.verifying != nil:
		// The store checks the bytes it receives against their digest.
		if err = dst.verifying.PutVerified(ctx, name, out); err != nil {
			return loc, 0, fmt.Errorf("move blob %s: write to %s: %w", d, dst.name, err)
		}
		return loc, int64(len(out)), nil
	default:
		err = dst.vol.Put(ctx, name, bytes.NewReader(out), int64(len(out)))
	}
	if err != nil {
		return loc, 0, fmt.Errorf("move blob %s: write to %s: %w", d, dst.name, err)
	}
	back, err := hsm.ReadAll(ctx, dst.vol, name)
	if err != nil {
		return loc, 0, fmt.Errorf("move blob %s: read back from %s: %w", d, dst.name, err)
	}
	if !bytes.Equal(back, out) {
		if raw2, err := dedup.Decode(back); err != nil || dedup.Sum(raw2) != d {
			return loc, 0, fmt.Errorf("%w: move blob %s: the copy written to %s does not read back whole", ErrCorrupt, d, dst.name)
		}
	}
	return loc, int64(len(out)), nil
}

// recordMove appends the BlobMoved record of a blob copied to dst (step
// 3), unless it moved or was collected meanwhile (then the copy is
// referenced by nothing and deleted).
func (e *Engine) recordMove(ctx context.Context, loc BlobLocation, dst *moveDest) error {
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		var br blobRec
		ok, err := getVal(tx.b, blobKey(loc.Digest), &br)
		if err != nil {
			return nil, nil, err
		}
		if !ok || br.Refs == 0 {
			return nil, nil, ErrBlobGone
		}
		if br.Volume != loc.Volume {
			return nil, nil, fmt.Errorf("move blob %s: it moved to %s meanwhile", loc.Digest, br.Volume)
		}
		return event.BlobMoved{Digest: loc.Digest, From: loc.Volume, To: dst.name}, nil, nil
	})
	if errors.Is(err, ErrBlobGone) {
		_ = dst.vol.Delete(ctx, dedup.BlobName(loc.Digest))
	}
	return err
}

// moveResult is what became of one blob of a batch.
type moveResult struct {
	loc     BlobLocation
	written int64
	err     error
}

// moveBatchRun moves one batch (steps 1-3) with par copies at once and
// adds to part what it did. It returns the first volume error (the run
// stops); blobs gone, pending or corrupt are counted, not errors.
func (e *Engine) moveBatchRun(ctx context.Context, batch []BlobLocation, dst *moveDest, o *MoveOptions, par int, part *MoveReport) error {
	var work []BlobLocation
	for _, loc := range batch {
		switch {
		case loc.Volume == dst.name:
			part.Already++
		case o.DryRun:
			part.count(loc.Volume, loc.Size, 0)
		default:
			work = append(work, loc)
		}
	}
	if len(work) == 0 {
		return nil
	}
	if e.poisoned.Load() != nil {
		return ErrReadOnly
	}
	e.moveMu.RLock()
	defer e.moveMu.RUnlock()
	res := make([]moveResult, len(work))
	forEach(len(work), par, func(i int) {
		loc, n, err := e.copyBlob(ctx, work[i].Digest, dst, true)
		if loc.Digest == (dedup.Digest{}) {
			loc = work[i]
		}
		res[i] = moveResult{loc, n, err}
	})
	if dst.deferred != nil {
		// Before any record names a copy, every copy is durable.
		if err := dst.deferred.SyncDeferred(ctx); err != nil {
			return fmt.Errorf("move to %s: sync: %w", dst.name, err)
		}
	}
	forEach(len(res), par, func(i int) {
		if res[i].err == nil && res[i].written > 0 {
			res[i].err = e.recordMove(ctx, res[i].loc, dst)
		}
	})
	var first error
	for _, r := range res {
		switch {
		case r.err == nil && r.written == 0:
			part.Already++
		case r.err == nil:
			part.count(r.loc.Volume, r.loc.Size, r.written)
		case errors.Is(r.err, ErrBlobGone), errors.Is(r.err, ErrBlobPending):
			part.Skipped++
		case errors.Is(r.err, ErrCorrupt):
			if len(part.Failed) < maxReportedFailures {
				part.Failed = append(part.Failed, r.err.Error())
			}
		default:
			if first == nil {
				first = r.err
			}
		}
	}
	return first
}

// forEach runs f(0..n-1) on at most par goroutines.
func forEach(n, par int, f func(i int)) {
	par = max(1, min(par, n))
	var wg sync.WaitGroup
	next := make(chan int)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
