package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/engine/event"
)

// replayChunk is how many records one replay batch applies.
const replayChunk = 1024

// recover brings the projection up to the end of the redo log: it reads
// the applied LSN from Pebble and applies every later record, in batches
// that each carry their applied LSN, rewriting inline blobs whose volume
// copy is missing. It ends with a checkpoint.
func (e *Engine) recover() error {
	applied, _, err := getU64(e.db, keyApplied)
	if err != nil {
		return fmt.Errorf("engine: read applied lsn: %w", err)
	}
	last := e.log.LastLSN()
	if applied > last {
		return fmt.Errorf("%w: projection applied lsn %d is past the redo log's last lsn %d (redo log lost or replaced)",
			ErrCorrupt, applied, last)
	}
	e.applied.Store(applied)
	e.checkpoint.Store(applied)
	if applied == last {
		return nil
	}
	r, err := e.log.NewReader(applied + 1)
	if err != nil {
		return fmt.Errorf("engine: replay from lsn %d: %w", applied+1, err)
	}
	defer r.Close()
	ctx := context.Background()
	n := 0
	tx := e.newTxn(true)
	commit := func() error {
		defer tx.b.Close()
		if tx.lsn == 0 {
			return nil
		}
		if err := e.writeInline(tx); err != nil {
			return fmt.Errorf("engine: replay: %w", err)
		}
		tx.setU64(keyApplied, tx.lsn)
		if err := tx.b.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("engine: replay commit: %w", err)
		}
		e.applied.Store(tx.lsn)
		return nil
	}
	for {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
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
	if err := e.db.Flush(); err != nil {
		return fmt.Errorf("engine: flush after replay: %w", err)
	}
	e.checkpoint.Store(e.applied.Load())
	e.opts.Logger.Info("engine: replayed redo log", "from", applied+1, "to", e.applied.Load(), "records", n)
	return nil
}
