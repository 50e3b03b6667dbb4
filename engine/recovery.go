package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// replayChunk is how many records one replay batch applies.
const replayChunk = 1024

// recover brings the projection up to the end of the redo log. It reads
// the applied LSN and the blob-synced LSN from Pebble; records after the
// blob-synced LSN up to the applied one are only read, to verify (and if
// need be rewrite) the volume copies of their inline blobs, which a crash
// may have left missing or torn (see inline.go); every later record is
// applied, in batches that each carry their applied LSN, and its inline
// blobs' copies verified the same way. It ends with a checkpoint.
func (e *Engine) recover() error {
	applied, _, err := getU64(e.db, keyApplied)
	if err != nil {
		return fmt.Errorf("engine: read applied lsn: %w", err)
	}
	if _, ok, err := getU64(e.db, keyVanishedFrom); err != nil {
		return fmt.Errorf("engine: read vanished-from lsn: %w", err)
	} else if !ok {
		// A projection made before tombstones were kept (vanished.go)
		// knows of no expunge up to what it applied.
		if err := e.db.Set(keyVanishedFrom, binary.BigEndian.AppendUint64(nil, applied), pebble.NoSync); err != nil {
			return fmt.Errorf("engine: write vanished-from lsn: %w", err)
		}
	}
	// Before any replay: apply keeps the index from here on.
	if err := e.buildChangeIndex(); err != nil {
		return err
	}
	synced, ok, err := getU64(e.db, keyBlobSynced)
	if err != nil {
		return fmt.Errorf("engine: read blob-synced lsn: %w", err)
	}
	if !ok || synced > applied {
		// Written before deferred copies existed: every copy is durable.
		synced = applied
	}
	last := e.log.LastLSN()
	if applied > last {
		return &LogBehindError{Applied: applied, LogLast: last}
	}
	e.applied.Store(applied)
	e.checkpoint.Store(synced)
	if synced == last {
		return nil
	}
	from := synced + 1
	r, err := e.log.NewReader(from)
	var ge *redolog.GapError
	if errors.As(err, &ge) {
		// The records of a gap are lost; the projection applied them
		// (RepairLog records a gap only up to the applied LSN).
		if ge.Gap.To > applied {
			return fmt.Errorf("%w: redo log gap lsn %d..%d reaches past the projection's applied lsn %d",
				ErrCorrupt, ge.Gap.From, ge.Gap.To, applied)
		}
		from = ge.Gap.To + 1
		r, err = e.log.NewReader(from)
	}
	if err != nil {
		return fmt.Errorf("engine: replay from lsn %d: %w", from, err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := e.verifyApplied(ctx, r, from, applied); err != nil {
		return err
	}
	n := 0
	tx := e.newTxn(true)
	commit := func() error {
		defer tx.b.Close()
		if tx.lsn == 0 {
			return nil
		}
		blobs := make([]inlineBlob, len(tx.inlineOrder))
		for i, d := range tx.inlineOrder {
			blobs[i] = tx.inline[d]
		}
		if err := e.repairInline(ctx, tx.b, blobs); err != nil {
			return fmt.Errorf("engine: replay: %w", err)
		}
		tx.setU64(keyApplied, tx.lsn)
		if err := tx.b.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("engine: replay commit: %w", err)
		}
		e.applied.Store(tx.lsn)
		e.setPrimary(tx.prim)
		return nil
	}
	for {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, &ge) {
			tx.b.Close()
			return fmt.Errorf("%w: redo log gap lsn %d..%d is after the projection's applied lsn %d: records never applied are lost",
				ErrCorrupt, ge.Gap.From, ge.Gap.To, applied)
		}
		if err != nil {
			tx.b.Close()
			return fmt.Errorf("engine: replay: %w", err)
		}
		ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
		if err != nil {
			tx.b.Close()
			return fmt.Errorf("engine: replay lsn %d: %w", rec.LSN, err)
		}
		tx.lsn = rec.LSN
		if err := tx.apply(ev); err != nil {
			tx.b.Close()
			return fmt.Errorf("engine: replay lsn %d (%v): %w", rec.LSN, ev.Type(), err)
		}
		n++
		if n%replayChunk == 0 {
			if err := commit(); err != nil {
				return err
			}
			tx = e.newTxn(true)
		}
	}
	if err := commit(); err != nil {
		return err
	}
	// Every copy up to here was verified or rewritten durably.
	if err := e.db.Set(keyBlobSynced, binary.BigEndian.AppendUint64(nil, e.applied.Load()), pebble.NoSync); err != nil {
		return fmt.Errorf("engine: replay: %w", err)
	}
	if err := e.db.Flush(); err != nil {
		return fmt.Errorf("engine: flush after replay: %w", err)
	}
	e.checkpoint.Store(e.applied.Load())
	e.opts.Logger.Info("engine: replayed redo log", "verified_from", synced+1, "applied_from", applied+1,
		"to", e.applied.Load(), "records", n)
	return nil
}

// verifyApplied reads the records from..applied (already in the
// projection; a recorded gap among them is stepped over) and repairs the
// volume copies of
// their inline blobs against the projection's blob records, a chunk at a
// time.
func (e *Engine) verifyApplied(ctx context.Context, r *redolog.Reader, from, applied uint64) error {
	var blobs []inlineBlob
	seen := map[dedup.Digest]bool{}
	flush := func() error {
		err := e.repairInline(ctx, e.db, blobs)
		blobs = blobs[:0]
		clear(seen)
		return err
	}
	for lsn := from; lsn <= applied; {
		rec, err := r.Next(ctx)
		var ge *redolog.GapError
		if errors.As(err, &ge) {
			// Lost records: their copies cannot be checked from the log.
			if ge.Gap.To > applied {
				return fmt.Errorf("%w: redo log gap lsn %d..%d reaches past the projection's applied lsn %d",
					ErrCorrupt, ge.Gap.From, ge.Gap.To, applied)
			}
			lsn = ge.Gap.To + 1
			continue
		}
		if err != nil {
			return fmt.Errorf("engine: verify inline blobs at lsn %d: %w", lsn, err)
		}
		lsn = rec.LSN + 1
		if event.Type(rec.Type) != event.TypeMessageAdded {
			continue
		}
		ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
		if err != nil {
			return fmt.Errorf("engine: verify inline blobs at lsn %d: %w", rec.LSN, err)
		}
		if m, ok := ev.(event.MessageAdded); ok && len(m.Blob) > 0 && !seen[m.Digest] {
			seen[m.Digest] = true
			blobs = append(blobs, inlineBlob{d: m.Digest, raw: m.Blob})
		}
		if len(blobs) == replayChunk {
			if err := flush(); err != nil {
				return fmt.Errorf("engine: verify inline blobs: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("engine: verify inline blobs: %w", err)
	}
	return nil
}
