package restore

import (
	"context"
	"errors"
	"sync"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// A folder's items must get their UIDs in their original order. The
// restore appends them straight into the target folder in chunks through
// engine AppendMany, which gives each chunk's items increasing UIDs in
// slice order and commits a chunk in one group (one redo fsync) instead of
// one per item. Blobs are read from the repository by Options.Concurrency
// readers per folder, up to two chunks ahead of the appends, so reading
// the next chunk overlaps appending the current one.
//
// A chunk is one run of the engine's single writer, shared with live
// deliveries: a delivery queued behind it waits for the chunk's records
// and their fsync. 64 messages or 4 MiB keep that wait short (delivery
// p99 under a live restore 1.1-1.9x the unloaded one, against 1.9-10x
// with 256 messages or 16 MiB; docs/BENCHMARKS.md) without slowing the
// restore measurably.

const (
	chunkItems = 64      // messages per AppendMany
	chunkBytes = 4 << 20 // raw bytes per AppendMany (a chunk holds at least one message)
)

type fetched struct {
	body []byte
	err  error
}

// budget bounds what the readers hold: items and bytes read but not yet
// appended, at most two chunks' worth. It never holds back the next item
// while what is held is less than one chunk (the chunk being gathered,
// which flushes at chunkItems or chunkBytes), so a large item cannot stall
// the appender.
type budget struct {
	mu           sync.Mutex
	cond         *sync.Cond
	items, bytes int64
	stop         bool
}

func newBudget() *budget {
	b := &budget{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// take waits for room for one item of size bytes; false once closed.
func (b *budget) take(size int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.stop && b.items > 0 && (b.items >= 2*chunkItems || b.bytes >= chunkBytes && b.bytes+size > 2*chunkBytes) {
		b.cond.Wait()
	}
	if b.stop {
		return false
	}
	b.items++
	b.bytes += size
	return true
}

func (b *budget) give(items, bytes int64) {
	b.mu.Lock()
	b.items -= items
	b.bytes -= bytes
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *budget) close() {
	b.mu.Lock()
	b.stop = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// fillOne appends one batch's items to its folder in their order, in
// chunks, and counts each restored or failed.
func (r *Restorer) fillOne(ctx context.Context, acct uint64, b batch, t *tally) {
	n := len(b.items)
	ahead := make([]chan fetched, n)
	for i := range ahead {
		ahead[i] = make(chan fetched, 1)
	}
	room := newBudget()
	defer room.close()
	next := make(chan int)
	go func() { // the feeder: items in order, as the budget allows
		defer close(next)
		for i, it := range b.items {
			if ctx.Err() != nil || !room.take(it.Size) {
				for _, c := range ahead[i:] {
					c <- fetched{err: errNotStarted}
				}
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				room.give(1, it.Size)
				for _, c := range ahead[i:] {
					c <- fetched{err: errNotStarted}
				}
				return
			}
		}
	}()
	for w := 0; w < min(r.opts.Concurrency, n); w++ {
		go func() {
			for i := range next {
				body, err := r.blobs.ReadBlob(ctx, b.items[i].Digest)
				ahead[i] <- fetched{body, err}
			}
		}()
	}
	var (
		msgs  []engine.NewMessage
		idx   []int
		size  int64
		taken int64 // budget items held by the chunk, failed reads included
	)
	flush := func() {
		if len(msgs) > 0 {
			made, errs := r.eng.AppendMany(ctx, acct, b.folder, msgs, event.AddRestored)
			for k, i := range idx {
				it := b.items[i]
				if b.made != nil && errs[k] == nil && k < len(made) {
					b.made[i] = made[k]
				}
				if errs[k] != nil {
					reason := "rejected: " + errs[k].Error()
					if ctx.Err() != nil && errors.Is(errs[k], ctx.Err()) {
						reason = "not restored: " + context.Cause(ctx).Error()
					}
					t.failed(Failure{Item: it.ID, Folder: it.FolderPath, Reason: reason})
					r.opts.Logger.Warn("restore: item unrestored", "account", acct, "item", it.ID, "err", errs[k])
					continue
				}
				t.restored()
			}
		}
		room.give(taken, size)
		msgs, idx, size, taken = msgs[:0], idx[:0], 0, 0
	}
	for i, it := range b.items {
		f := <-ahead[i]
		switch {
		case errors.Is(f.err, errNotStarted):
			t.failed(Failure{Item: it.ID, Folder: it.FolderPath, Reason: "not restored: " + context.Cause(ctx).Error()})
			continue
		case ctx.Err() != nil && errors.Is(f.err, ctx.Err()):
			t.failed(Failure{Item: it.ID, Folder: it.FolderPath, Reason: "not restored: " + context.Cause(ctx).Error()})
		case f.err != nil:
			t.failed(Failure{Item: it.ID, Folder: it.FolderPath, Reason: blobReason(f.err)})
			r.opts.Logger.Warn("restore: item unrestored", "account", acct, "item", it.ID, "err", f.err)
		default:
			msgs = append(msgs, engine.NewMessage{Body: f.body, Flags: flagsWithout(it.Flags, b.drop), InternalDate: it.InternalDate})
			idx = append(idx, i)
		}
		taken++
		size += it.Size
		if taken >= chunkItems || size >= chunkBytes {
			flush()
		}
	}
	flush()
}

// errNotStarted marks items whose blob was never read: the restore was
// cancelled first.
var errNotStarted = errors.New("restore: not started")
