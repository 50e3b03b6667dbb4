package restore

import (
	"context"
	"fmt"
	"sync"

	"github.com/tidemark/tidemark/engine/event"
)

// A folder's items must get their UIDs in their original order, and the
// engine gives an appended item the folder's next UID when its command
// reaches the writer. Appending one item after the other keeps the order
// but pays one redo fsync per item. For a large folder the restore
// therefore appends many items at once into a staging folder (the
// engine's writer commits concurrent appends in one group) and moves them
// into the target folder in their original order, in chunks, as soon as a
// run of them is stored: a move gives UIDs in the order of the ids it is
// handed. The staging folder is deleted at the end; an interrupted
// restore may leave it behind, named StagingPrefix + target folder id.

// StagingPrefix starts the name of the temporary folder a large folder's
// items pass through during a restore.
const StagingPrefix = "tidemark-restore-staging-"

const (
	pipelineMin   = 64  // folders with fewer items are appended one by one
	pipelineDepth = 32  // appends in flight per folder
	moveChunk     = 512 // items per move
)

// fillPipelined is fillOne for a large batch. It returns false, having
// done nothing, when no staging folder could be made.
func (r *Restorer) fillPipelined(ctx context.Context, acct uint64, b batch, t *tally) bool {
	staging, err := r.eng.CreateFolder(ctx, acct, fmt.Sprintf("%s%d", StagingPrefix, b.folder), "")
	if err != nil {
		r.opts.Logger.Warn("restore: no staging folder, appending one by one", "account", acct, "err", err)
		return false
	}
	n := len(b.items)
	ids := make([]uint64, n) // staged item id, 0 while pending or failed
	done := make([]bool, n)
	var mu sync.Mutex
	ready := make(chan struct{}, 1)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < pipelineDepth; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := b.items[i]
				var id uint64
				body, err := r.blobs.ReadBlob(ctx, it.Digest)
				if err != nil {
					t.failed(Failure{Item: it.ID, Folder: it.FolderPath, Reason: blobReason(err)})
					r.opts.Logger.Warn("restore: item unrestored", "account", acct, "item", it.ID, "err", err)
				} else if nt, err := r.eng.AppendReason(ctx, acct, staging.ID, body, flagsWithout(it.Flags, b.drop), it.InternalDate, event.AddRestored); err != nil {
					t.failed(Failure{Item: it.ID, Folder: it.FolderPath, Reason: "rejected: " + err.Error()})
					r.opts.Logger.Warn("restore: item unrestored", "account", acct, "item", it.ID, "err", err)
				} else {
					id = nt.ID
				}
				mu.Lock()
				ids[i], done[i] = id, true
				mu.Unlock()
				select {
				case ready <- struct{}{}:
				default:
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := 0; i < n; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	// The mover: hand every stored run of items, in order, to Move.
	moved, finished, keep := 0, false, false
	for !finished {
		select {
		case <-ready:
		case <-allDone:
			finished = true
		}
		mu.Lock()
		end := moved
		for end < n && done[end] {
			end++
		}
		mu.Unlock()
		for moved < end && (end-moved >= moveChunk || finished || end == n) {
			stop := min(end, moved+moveChunk)
			keep = !r.moveStaged(ctx, acct, staging.ID, b, ids, moved, stop, t) || keep
			moved = stop
		}
	}
	if moved < n { // cancelled: items never started are not restored
		for i := moved; i < n; i++ {
			if !done[i] {
				t.failed(Failure{Item: b.items[i].ID, Folder: b.items[i].FolderPath, Reason: "not restored: " + context.Cause(ctx).Error()})
			}
		}
		keep = !r.moveStaged(ctx, acct, staging.ID, b, ids, moved, n, t) || keep
	}
	if keep { // items a move failed for are still there: never delete them
		r.opts.Logger.Warn("restore: staging folder left behind with items", "account", acct, "folder", staging.Path)
		return true
	}
	if err := r.eng.DeleteFolder(context.WithoutCancel(ctx), acct, staging.ID); err != nil {
		r.opts.Logger.Warn("restore: staging folder left behind", "account", acct, "folder", staging.Path, "err", err)
	}
	return true
}

// moveStaged moves the stored items among [from, to) into the target
// folder in their order and counts them restored.
func (r *Restorer) moveStaged(ctx context.Context, acct, staging uint64, b batch, ids []uint64, from, to int, t *tally) bool {
	var list []uint64
	var idx []int
	for i := from; i < to; i++ {
		if ids[i] != 0 {
			list = append(list, ids[i])
			idx = append(idx, i)
		}
	}
	if len(list) == 0 {
		return true
	}
	// Once stored, an item is moved even if ctx ends: leaving it in the
	// staging folder would lose it from the restore.
	if _, err := r.eng.Move(context.WithoutCancel(ctx), acct, staging, list, b.folder); err != nil {
		for _, i := range idx {
			t.failed(Failure{Item: b.items[i].ID, Folder: b.items[i].FolderPath, Reason: "stored but not moved out of the staging folder: " + err.Error()})
		}
		return false
	}
	for range idx {
		t.restored()
	}
	return true
}
