package engine

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// Inline blobs and their volume copies (ARCHITECTURE invariant 3).
//
// A blob of up to Options.InlineBlobMax bytes rides inside its redo record,
// so the round's one log fsync makes blob and record durable together. Its
// volume copy is written in the background after the command is answered
// (copywriter.go; reads are served from memory until it is); on a primary
// volume that implements hsm.DeferredSyncer it is written without fsync and
// made durable by the next checkpoint:
//
//	round:       AppendBatch(records, fsync) → enqueue copies → commit → answer
//	worker:      PutDeferred(copy)
//	checkpoint:  lsn := applied → wait for copies → SyncDeferred
//	             → "blobsynced" = lsn → Pebble flush
//	recovery:    records in (blobsynced, applied]: verify copies only
//	             records after applied: apply, and verify copies
//
// Pebble may flush on its own (a full memtable) and so make the applied LSN
// durable past blobs not yet written or synced; "blobsynced" is written
// only after a sync, so recovery re-reads every record whose copy might be
// missing or torn and rewrites a copy that is missing, empty or does not
// hash to its digest. CheckpointLSN reports the synced LSN, so the redo log
// is never trimmed past a record recovery may need for that.

// inlineWorkers bounds the volume writes one replay chunk runs at once.
const inlineWorkers = 16

// checkpointEvery is how many deferred copies may be pending before the
// writer asks the checkpoint loop for an early checkpoint, which bounds both
// the checkpoint's fsync burst and what recovery must verify.
const checkpointEvery = 20000

// inlineBlob is one volume copy to write or verify.
type inlineBlob struct {
	d   dedup.Digest
	raw []byte
	// p is the primary its record was applied with, where the copy goes
	// (nil: the volume the blob record names; verifyApplied).
	p *primaryState
}

// enqueueInline hands the volume copies of the blobs first stored by this
// round to the copy writer. It runs after the redo append succeeded and
// before the batch commits, so a blob is in the pending map before any
// reader can find its item; it waits while the copy backlog is over its
// bound (backpressure).
func (e *Engine) enqueueInline(tx *txn) {
	if len(tx.inlineOrder) == 0 {
		return
	}
	blobs := make([]inlineBlob, len(tx.inlineOrder))
	deferred := false
	for i, d := range tx.inlineOrder {
		blobs[i] = tx.inline[d]
		if blobs[i].p == nil {
			blobs[i].p = tx.primary() // a live record always names it
		}
		deferred = deferred || blobs[i].p.deferred != nil
	}
	e.copies.enqueue(blobs)
	if deferred {
		if n := e.deferredN.Add(int64(len(blobs))); n >= checkpointEvery {
			select {
			case e.ckKick <- struct{}{}:
			default:
			}
		}
	}
}

// putInline writes one volume copy to the primary its record was applied
// with: deferred when that volume supports it and durable is false, else
// with a durable Put.
func (e *Engine) putInline(ctx context.Context, b inlineBlob, durable bool) error {
	name := dedup.BlobName(b.d)
	p := b.p
	if p == nil {
		p = e.prim()
	}
	framed := dedup.Encode(b.raw, p.threshold)
	var err error
	if p.deferred != nil && !durable {
		err = p.deferred.PutDeferred(ctx, name, bytes.NewReader(framed), int64(len(framed)))
	} else {
		err = p.vol.Put(ctx, name, bytes.NewReader(framed), int64(len(framed)))
	}
	if err != nil {
		return fmt.Errorf("write inline blob %s: %w", name, err)
	}
	return nil
}

// repairInline makes sure the volume copies of blobs carried in replayed
// records are whole, in parallel: a copy whose blob record (in r) is on
// the primary its record was applied with (unknown: on a primary volume)
// is read back and hashed, and rewritten durably if it is missing, torn or
// wrong. Blobs since collected or moved to another volume are left alone.
func (e *Engine) repairInline(ctx context.Context, r reader, blobs []inlineBlob) error {
	var todo []inlineBlob
	states := map[string]*primaryState{}
	for _, b := range blobs {
		var br blobRec
		ok, err := getVal(r, blobKey(b.d), &br)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if b.p != nil {
			if br.Volume == b.p.name {
				todo = append(todo, b)
			}
			continue
		}
		if yes, err := e.wasPrimaryKind(r, br.Volume); err != nil {
			return err
		} else if !yes {
			continue
		}
		p := states[br.Volume]
		if p == nil {
			if p, err = e.stateOf(ctx, r, br.Volume); err != nil {
				return err
			}
			states[br.Volume] = p
		}
		b.p = p
		todo = append(todo, b)
	}
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	w := min(inlineWorkers, len(todo))
	wg.Add(w)
	for k := range w {
		go func() {
			defer wg.Done()
			for i := k; i < len(todo); i += w {
				if !e.copyIntact(ctx, todo[i].p.vol, todo[i].d) {
					errs[i] = e.putInline(ctx, todo[i], true)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// copyIntact reports whether v holds a copy of d whose bytes hash to d.
func (e *Engine) copyIntact(ctx context.Context, v hsm.Volume, d dedup.Digest) bool {
	framed, err := hsm.ReadAll(ctx, v, dedup.BlobName(d))
	if err != nil {
		return false
	}
	raw, err := dedup.Decode(framed)
	return err == nil && dedup.Sum(raw) == d
}

// syncInline waits for the copy writer to write every copy enqueued so
// far, makes every deferred volume copy durable and returns an LSN every copy of a record up to which is now durable.
func (e *Engine) syncInline(ctx context.Context) (uint64, error) {
	lsn := e.applied.Load() // copies of records up to lsn were enqueued before it was stored
	if e.copies != nil {
		if err := e.copies.barrier(); err != nil {
			return 0, fmt.Errorf("sync inline blobs: %w", err)
		}
	}
	syncers := e.deferredSyncers()
	if len(syncers) == 0 {
		return lsn, nil
	}
	n := e.deferredN.Load()
	for _, s := range syncers {
		if err := s.SyncDeferred(ctx); err != nil {
			return 0, fmt.Errorf("sync inline blobs: %w", err)
		}
	}
	e.deferredN.Add(-n)
	return lsn, nil
}
