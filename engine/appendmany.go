package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tidemark/tidemark/engine/event"
)

// NewMessage is one message for AppendMany.
type NewMessage struct {
	Body         []byte
	Flags        []string
	InternalDate time.Time // zero: now
}

// appendManyWriters bounds the blob-first writes one AppendMany runs at
// once.
const appendManyWriters = 4

// appendManyAttempts bounds how often AppendMany re-runs the rest of a
// batch after a blob was collected under it.
const appendManyAttempts = 4

// errTailRetry answers the messages queued after one whose blob was
// collected between prepare and apply (errBlobGone): they are not applied,
// so that the re-run keeps their order.
var errTailRetry = errors.New("engine: not appended: an earlier message of the batch had to be retried")

// AppendMany appends messages to one folder in the given order: their UIDs
// increase in slice order, and they are queued together so the writer
// commits them in as few rounds (fsyncs) as it can: one round for up to
// Options.MaxRound messages when no other writer interleaves. Each message
// succeeds or fails on its own (errs[i]: ErrTooLarge, ErrQuotaExceeded,
// ErrNotFound, ...); a failure never reorders the others. items[i] is set
// where errs[i] is nil. With reason event.AddRestored the quota is not
// enforced and an account in maintenance is written to (a restore).
//
// Blob-first blobs are written before anything is queued, up to
// appendManyWriters at once. A blob may be collected between that write
// and the apply (a collection pass ran meanwhile: errBlobGone); the
// message hitting it and every later one of the attempt then write
// nothing (errTailRetry), and those messages are prepared again (blobs
// rewritten) and re-queued in order. Earlier messages of the batch are
// already committed with lower UIDs, so the order holds. After
// appendManyAttempts attempts the leftover messages fail.
//
// Like Append, a message once queued is waited for even if ctx ends, so a
// message is never reported failed when it was made durable.
func (e *Engine) AppendMany(ctx context.Context, acct, folder uint64, msgs []NewMessage, reason event.AddReason) (items []Item, errs []error) {
	n := len(msgs)
	items, errs = make([]Item, n), make([]error, n)
	flags := make([][]string, n)
	dates := make([]int64, n)
	todo := make([]int, 0, n)
	for i, m := range msgs {
		fl, err := canonFlags(m.Flags)
		if err != nil {
			errs[i] = err
			continue
		}
		flags[i] = fl
		d := m.InternalDate
		if d.IsZero() {
			d = e.opts.Now()
		}
		dates[i] = d.UnixNano()
		todo = append(todo, i)
	}
	for attempt := 0; len(todo) > 0 && attempt < appendManyAttempts; attempt++ {
		plans := e.prepareMany(ctx, msgs, todo, errs, attempt > 0)
		// stopped is set by the first build that finds its blob gone;
		// builds run one after the other on the writer goroutine, in
		// queue order, so every later build of this attempt sees it.
		stopped := false
		builds := make([]func(tx *txn) (event.Event, any, error), 0, len(todo))
		queued := make([]int, 0, len(todo))
		for _, i := range todo {
			if errs[i] != nil {
				continue
			}
			p, body, fl, date := plans[i], msgs[i].Body, flags[i], dates[i]
			queued = append(queued, i)
			builds = append(builds, func(tx *txn) (event.Event, any, error) {
				if stopped {
					return nil, nil, errTailRetry
				}
				if err := p.checkBlob(tx); err != nil {
					if errors.Is(err, errBlobGone) {
						stopped = true
					}
					return nil, nil, err
				}
				t, err := e.acceptTarget(tx, acct, folder, false, reason == event.AddRestored, p.size, fl, date)
				if err != nil {
					return nil, nil, err
				}
				ev := p.event(tx, body, reason)
				ev.Targets = []event.Target{t}
				return ev, Item{ID: t.Item, Folder: t.Folder, UID: t.UID, Type: event.ItemMessage, Flags: fl,
					InternalDate: fromNano(t.InternalDate), Size: p.size, Digest: p.d, ModSeq: tx.lsn}, nil
			})
		}
		res, rerrs := e.doMany(ctx, builds)
		todo = todo[:0]
		for k, i := range queued {
			items[i], errs[i] = Item{}, rerrs[k]
			if rerrs[k] == nil {
				items[i] = res[k].(Item)
				continue
			}
			if errors.Is(rerrs[k], errBlobGone) || errors.Is(rerrs[k], errTailRetry) {
				todo = append(todo, i)
			}
		}
	}
	return items, errs
}

// prepareMany runs prepareBlob for msgs[i], i in idx, up to
// appendManyWriters at once; a failure goes to errs[i].
func (e *Engine) prepareMany(ctx context.Context, msgs []NewMessage, idx []int, errs []error, force bool) map[int]blobPlan {
	plans := make(map[int]blobPlan, len(idx))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, appendManyWriters)
	for _, i := range idx {
		errs[i] = nil
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			p, err := e.prepareBlob(ctx, msgs[i].Body, force)
			mu.Lock()
			plans[i], errs[i] = p, err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return plans
}

// doMany queues commands back to back and waits for all of them. It holds
// e.mu while sending, so Close cannot close the channel midway, and marks
// every command but the last with more, so the writer keeps one round open
// for the next (writer.go). Commands queued by other callers may interleave,
// but these keep their relative order: one goroutine sends them, in order,
// through one channel. If ctx ends before the first is queued, nothing is;
// once the first is queued, the rest are queued too (the writer answers
// them with ctx's error) and every queued command is waited for.
func (e *Engine) doMany(ctx context.Context, builds []func(tx *txn) (event.Event, any, error)) ([]any, []error) {
	res, errs := make([]any, len(builds)), make([]error, len(builds))
	fail := func(err error) ([]any, []error) {
		for i := range errs {
			errs[i] = err
		}
		return res, errs
	}
	if len(builds) == 0 {
		return res, errs
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if e.poisoned.Load() != nil {
		return fail(ErrReadOnly)
	}
	cmds := make([]*command, len(builds))
	for i, b := range builds {
		cmds[i] = &command{ctx: ctx, build: b, done: make(chan struct{}), more: i < len(builds)-1}
	}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return fail(ErrClosed)
	}
	select {
	case e.cmds <- cmds[0]:
	case <-ctx.Done():
		e.mu.RUnlock()
		return fail(ctx.Err())
	}
	for _, c := range cmds[1:] {
		e.cmds <- c
	}
	e.mu.RUnlock()
	for i, c := range cmds {
		<-c.done
		res[i], errs[i] = c.res, c.err
	}
	return res, errs
}
