package engine

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// command is one queued write. build runs on the writer goroutine against
// the round's batch (which already holds the effects of the earlier
// commands of the round) with tx.lsn set to the LSN the record will get; it
// validates, chooses ids, and returns the event (nil for a no-op) and the
// caller's result.
type command struct {
	ctx   context.Context
	build func(tx *txn) (event.Event, any, error)
	res   any
	err   error
	done  chan struct{}
	// more: the sender queues another command right after this one
	// (doMany), so the round waits for it instead of closing early.
	more bool
}

// do queues a command and waits for its answer. Once queued, the command is
// waited for even if ctx ends, so a caller never reports failure for a
// change that was made durable.
func (e *Engine) do(ctx context.Context, build func(tx *txn) (event.Event, any, error)) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.poisoned.Load() != nil {
		return nil, ErrReadOnly
	}
	c := &command{ctx: ctx, build: build, done: make(chan struct{})}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case e.cmds <- c:
	case <-ctx.Done():
		e.mu.RUnlock()
		return nil, ctx.Err()
	}
	e.mu.RUnlock()
	<-c.done
	return c.res, c.err
}

// run is the writer goroutine: it owns sequencing of every write.
func (e *Engine) run() {
	defer e.wg.Done()
	round := make([]*command, 0, e.opts.MaxRound)
	for {
		select {
		case c, ok := <-e.cmds:
			if !ok {
				return
			}
			round = append(round[:0], c)
		drain:
			for len(round) < e.opts.MaxRound {
				select {
				case c, ok := <-e.cmds:
					if !ok {
						break drain
					}
					round = append(round, c)
				default:
					if !round[len(round)-1].more {
						break drain
					}
					// A doMany sender holds e.mu and is sending the next
					// command now: wait for it.
					c, ok := <-e.cmds
					if !ok {
						break drain
					}
					round = append(round, c)
				}
			}
			e.round(round)
			clear(round)
		case <-e.gcKick:
			if err := e.collect(context.Background()); err != nil {
				e.opts.Logger.Error("engine: blob collection", "err", err)
			}
		}
	}
}

func (c *command) answer(res any, err error) {
	c.res, c.err = res, err
	close(c.done)
}

// round validates and applies a group of commands, writes their records in
// one append (one fsync), hands the volume copies of new inline blobs to
// the copy writer (they are read from memory until written: see
// copywriter.go), commits the Pebble batch with the applied LSN, then
// notifies watchers and answers.
func (e *Engine) round(cmds []*command) {
	if p := e.poisoned.Load(); p != nil {
		for _, c := range cmds {
			c.answer(nil, ErrReadOnly)
		}
		return
	}
	tx := e.newTxn(false)
	defer tx.b.Close()
	base := e.log.LastLSN()
	if base < e.applied.Load() {
		e.poison(fmt.Errorf("redo log last lsn %d behind applied %d", base, e.applied.Load()))
		e.round(cmds)
		return
	}
	entries := make([]redolog.Entry, 0, len(cmds))
	type pending struct {
		c   *command
		res any
		err error
	}
	answers := make([]pending, 0, len(cmds))
	for i, c := range cmds {
		if err := c.ctx.Err(); err != nil {
			answers = append(answers, pending{c, nil, err})
			continue
		}
		tx.lsn = base + uint64(len(entries)) + 1
		ev, res, err := c.build(tx)
		if err != nil || ev == nil {
			answers = append(answers, pending{c, res, err})
			continue
		}
		payload, err := event.Encode(ev)
		if err == nil {
			err = tx.apply(ev)
		}
		if err != nil {
			// The batch may hold part of this event: nothing of the round
			// can be trusted, but nothing was written either. Every
			// command of the round is answered, including those not yet
			// built, whose callers would otherwise wait for ever.
			aborted := fmt.Errorf("engine: round aborted: %w", err)
			for _, a := range answers {
				if a.err != nil {
					a.c.answer(nil, a.err)
				} else {
					a.c.answer(nil, aborted)
				}
			}
			c.answer(nil, fmt.Errorf("engine: apply %v: %w", ev.Type(), err))
			for _, rest := range cmds[i+1:] {
				rest.answer(nil, aborted)
			}
			e.opts.Logger.Error("engine: apply failed in write round", "type", ev.Type(), "err", err)
			return
		}
		entries = append(entries, redolog.Entry{Type: uint16(ev.Type()), Payload: payload})
		answers = append(answers, pending{c, res, nil})
	}
	failAll := func(err error) {
		for _, a := range answers {
			if a.err == nil {
				a.err = err
				a.res = nil
			}
			a.c.answer(a.res, a.err)
		}
	}
	if len(entries) > 0 {
		recs, err := e.log.AppendBatch(entries)
		if err == nil && (len(recs) != len(entries) || recs[0].LSN != base+1) {
			err = fmt.Errorf("redo log assigned lsn %d, expected %d", recs[0].LSN, base+1)
		}
		if err != nil {
			failAll(e.poison(fmt.Errorf("append: %w", err)))
			return
		}
		// The records now hold the inline blobs durably: their volume
		// copies are written in the background (copywriter.go).
		e.enqueueInline(tx)
		last := base + uint64(len(entries))
		tx.setU64(keyApplied, last)
		if err := tx.b.Commit(pebble.NoSync); err != nil {
			failAll(e.poison(fmt.Errorf("commit projection: %w", err)))
			return
		}
		e.applied.Store(last)
		e.setPrimary(tx.prim) // a record of the round made another volume the primary
		e.watch.publish(tx.changes)
	}
	for _, a := range answers {
		a.c.answer(a.res, a.err)
	}
}

// poison stops all further writes: the log or the projection may now
// disagree with what callers were told, and only a reopen (replay) can
// repair it.
func (e *Engine) poison(err error) error {
	err = fmt.Errorf("%w: %v", ErrReadOnly, err)
	e.poisoned.CompareAndSwap(nil, &err)
	e.opts.Logger.Error("engine: write path failed; refusing writes until reopened", "err", err)
	return err
}
