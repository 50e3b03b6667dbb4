package engine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tidemark/tidemark/dedup"
)

// Background writing of inline blobs' volume copies.
//
// A round answers its commands once the redo record is durable and the
// Pebble batch committed; the volume copies of the inline blobs it first
// stored are handed to the copy writer, whose workers write them to the
// primary volume (deferred where the volume can, see inline.go). Until a
// copy is written its bytes stay in the pending map, and every read of
// the blob (readBlob, readBlobRange, and the volume Primary returns) is
// served from there:
//
//	round:       AppendBatch(records, fsync) → enqueue copies → commit → answer
//	worker:      PutDeferred(copy) → drop from pending
//	checkpoint:  lsn := applied → wait for every copy enqueued so far
//	             → SyncDeferred → "blobsynced" = lsn → Pebble flush
//
// The redo record holds the bytes until "blobsynced" passes it, so a crash
// with copies still pending loses nothing: recovery rewrites them from the
// log (recovery.go). Backpressure: while the pending bytes exceed
// Options.InlineBacklog a round waits before it enqueues, so the map holds
// at most that much plus one round's blobs. A copy that fails to write
// poisons the engine (as a failed append does); its bytes stay pending so
// reads go on working, and the reopen's replay rewrites it.

// copyJob is one volume copy to write. gen is the checkpoint generation it
// was enqueued in.
type copyJob struct {
	b   inlineBlob
	gen *sync.WaitGroup
}

// pendingCopy is a blob whose copy is queued or being written; n counts
// the jobs for it (the same digest may be queued twice).
type pendingCopy struct {
	raw []byte
	n   int
}

// copyWriter owns the copy queue, the pending map and the workers.
type copyWriter struct {
	e *Engine

	mu      sync.Mutex
	work    sync.Cond // queue gained a job, or closing
	room    sync.Cond // pending bytes dropped
	queue   []copyJob
	pending map[dedup.Digest]*pendingCopy
	npend   atomic.Int64 // len(pending), read without the lock
	bytes   int64        // raw bytes of queued and in-flight jobs
	max     int64
	gen     *sync.WaitGroup // jobs enqueued since the last barrier
	err     error           // first failed write
	closed  bool
	workers sync.WaitGroup
	stalls  atomic.Int64 // rounds that waited for room
}

func newCopyWriter(e *Engine, workers int, maxBytes int64) *copyWriter {
	w := &copyWriter{e: e, pending: map[dedup.Digest]*pendingCopy{}, max: maxBytes, gen: new(sync.WaitGroup)}
	w.work.L, w.room.L = &w.mu, &w.mu
	w.workers.Add(workers)
	for range workers {
		go w.worker()
	}
	return w
}

// enqueue hands the copies of one round to the workers. It first waits
// while the backlog is over its bound (unless a write failed or the
// writer is closing). The raw bytes are copied: the caller's buffer is
// its own once the command is answered.
func (w *copyWriter) enqueue(blobs []inlineBlob) {
	if len(blobs) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bytes > w.max && w.err == nil && !w.closed {
		w.stalls.Add(1)
	}
	for w.bytes > w.max && w.err == nil && !w.closed {
		w.room.Wait()
	}
	for _, b := range blobs {
		raw := append([]byte(nil), b.raw...)
		p := w.pending[b.d]
		if p == nil {
			p = &pendingCopy{raw: raw}
			w.pending[b.d] = p
		}
		p.n++
		w.gen.Add(1)
		w.queue = append(w.queue, copyJob{inlineBlob{d: b.d, raw: raw, p: b.p}, w.gen})
		w.bytes += int64(len(raw))
	}
	w.npend.Store(int64(len(w.pending)))
	w.work.Broadcast()
}

func (w *copyWriter) worker() {
	defer w.workers.Done()
	ctx := context.Background()
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.work.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		j := w.queue[0]
		w.queue[0] = copyJob{}
		w.queue = w.queue[1:]
		w.mu.Unlock()

		err := w.e.putInline(ctx, j.b, false)

		w.mu.Lock()
		if err == nil {
			w.bytes -= int64(len(j.b.raw))
			if p := w.pending[j.b.d]; p != nil {
				if p.n--; p.n == 0 {
					delete(w.pending, j.b.d)
				}
			}
			w.npend.Store(int64(len(w.pending)))
		} else if w.err == nil {
			w.err = err
		}
		w.room.Broadcast()
		w.mu.Unlock()
		if err != nil {
			w.e.poison(err)
		}
		j.gen.Done()
	}
}

// lookup returns the raw bytes of a blob whose copy is still pending.
func (w *copyWriter) lookup(d dedup.Digest) ([]byte, bool) {
	if w == nil || w.npend.Load() == 0 {
		return nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending[d]
	if p == nil {
		return nil, false
	}
	return p.raw, true
}

// barrier waits until every copy enqueued before the call is written (or
// failed) and returns the first write error seen. Checkpoints call it
// after reading the applied LSN, so every copy of a record up to that LSN
// is on the volume before SyncDeferred.
func (w *copyWriter) barrier() error {
	w.mu.Lock()
	g := w.gen
	w.gen = new(sync.WaitGroup)
	w.mu.Unlock()
	g.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// backlog reports the copies pending and their raw bytes.
func (w *copyWriter) backlog() (n int, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending), w.bytes
}

// close lets the workers finish the queue, then stops them.
func (w *copyWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.work.Broadcast()
	w.room.Broadcast()
	w.mu.Unlock()
	w.workers.Wait()
}
