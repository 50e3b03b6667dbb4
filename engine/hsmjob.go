package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/internal/mimetree"
)

// PolicyItem is what an HSM policy looks at: one item and where it is.
type PolicyItem struct {
	Account uint64
	Item    uint64
	Type    event.ItemType
	Folder  string // full path
	Date    time.Time
	Size    int64
	Flags   []string
	Digest  dedup.Digest
	// HasAttachment parses the message (once) to tell whether a part is an
	// attachment. Only a policy line that asks calls it.
	HasAttachment func() bool
}

// MoveOptions configure MoveByPolicy and MoveVolume.
type MoveOptions struct {
	// To is the destination volume. Default (MoveByPolicy): the current
	// secondary.
	To string
	// Match selects items (MoveByPolicy); a blob moves when any item that
	// references it is selected.
	Match func(PolicyItem) bool
	// Accounts limits MoveByPolicy to these accounts (nil: all).
	Accounts []uint64
	// DryRun reports what would move and moves nothing.
	DryRun bool
	// Progress is told each blob handled (moved or not) with its raw size.
	Progress func(blobs, bytes int64)
	// Total is told, once known, how many blobs and bytes the run has to
	// look at (MoveVolume).
	Total func(blobs, bytes int64)
	// Workers is how many blobs move at once (their BlobMoved records
	// share group commits). Default 8.
	Workers int
}

// MoveReport says what a move did (or, dry, would do).
type MoveReport struct {
	To      string `json:"to"`
	DryRun  bool   `json:"dry_run,omitempty"`
	Items   int64  `json:"items_selected"` // items the policy selected
	Blobs   int64  `json:"blobs_moved"`    // blobs moved (dry: to move)
	Bytes   int64  `json:"bytes_moved"`    // their raw bytes
	Written int64  `json:"bytes_written"`  // bytes written to the destination
	// From counts the moved blobs and raw bytes by source volume.
	From map[string]VolumeCount `json:"from,omitempty"`
	// Already: selected blobs already on the destination.
	Already int64 `json:"already_there"`
	// Skipped: selected blobs collected meanwhile, or whose inline copy
	// was not written yet (a later run moves those).
	Skipped int64 `json:"skipped,omitempty"`
	// Failed lists blobs that could not move because their bytes are
	// wrong (hsm check reports them); each stays where it was.
	Failed []string `json:"failed,omitempty"`
}

// VolumeCount is a number of blobs and their raw bytes.
type VolumeCount struct {
	Blobs int64 `json:"blobs"`
	Bytes int64 `json:"bytes"`
}

const maxReportedFailures = 50

func (r *MoveReport) count(from string, size, written int64) {
	if r.From == nil {
		r.From = map[string]VolumeCount{}
	}
	c := r.From[from]
	c.Blobs++
	c.Bytes += size
	r.From[from] = c
	r.Blobs++
	r.Bytes += size
	r.Written += written
}

// MoveByPolicy moves the blobs of the items o.Match selects to o.To (the
// current secondary by default). It is safe to stop and to run again: a
// blob already there is counted as such, and every blob is always whole on
// one volume at least. The report says what was done up to where it
// stopped; a volume error (an unreachable S3 store) ends the run with that
// error.
func (e *Engine) MoveByPolicy(ctx context.Context, o MoveOptions) (MoveReport, error) {
	if err := e.moveTarget(&o); err != nil {
		return MoveReport{}, err
	}
	rep := MoveReport{To: o.To, DryRun: o.DryRun}
	if o.Match == nil {
		return rep, invalidf("no policy to match items with")
	}
	if !o.DryRun {
		// Every blob written so far has its inline copy durable: none of
		// them is skipped as pending.
		if err := e.Checkpoint(ctx); err != nil {
			return rep, err
		}
	}
	seen := map[dedup.Digest]bool{}
	err := e.moveAll(ctx, &o, &rep, func(emit func(BlobLocation) error) error {
		return e.policyItems(ctx, o.Accounts, func(it PolicyItem) error {
			if seen[it.Digest] || !o.Match(it) {
				return nil
			}
			seen[it.Digest] = true
			loc, err := e.BlobAt(ctx, it.Digest)
			if err != nil {
				if errors.Is(err, ErrBlobGone) {
					return emit(BlobLocation{Digest: it.Digest})
				}
				return err
			}
			return emit(loc)
		})
	})
	return rep, err
}

// moveAll runs feed, which emits the blobs to move (a zero Volume: gone,
// counted as skipped), and moves them in batches (hsmbatch.go), moveLanes
// batches at once with o.Workers copies in all. The first volume error
// stops the run; it is returned after the batches under way end.
func (e *Engine) moveAll(ctx context.Context, o *MoveOptions, rep *MoveReport, feed func(emit func(BlobLocation) error) error) error {
	workers := o.Workers
	if workers <= 0 {
		workers = 8
	}
	lanes := min(moveLanes, workers)
	dst := &moveDest{name: o.To} // a dry run opens nothing
	if !o.DryRun {
		var err error
		if dst, err = e.moveDest(ctx, o.To); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	todo := make(chan BlobLocation, moveBatch)
	var wg sync.WaitGroup
	for range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				batch := takeBatch(todo, moveBatch)
				if len(batch) == 0 {
					return
				}
				var part MoveReport
				err := e.moveBatchRun(ctx, batch, dst, o, workers/lanes, &part)
				mu.Lock()
				rep.merge(part)
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if err == nil && o.Progress != nil {
					for _, loc := range batch {
						o.Progress(1, loc.Size)
					}
				}
				mu.Unlock()
			}
		}()
	}
	ferr := feed(func(loc BlobLocation) error {
		mu.Lock()
		rep.Items++
		mu.Unlock()
		if loc.Volume == "" {
			mu.Lock()
			rep.Skipped++
			mu.Unlock()
			return nil
		}
		select {
		case todo <- loc:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(todo)
	wg.Wait()
	if rep.Blobs > 0 && !o.DryRun {
		// The old copies go once their moves are checkpointed (and
		// shipped to the backup): ask for the checkpoint now rather
		// than at the next interval, so the space a move frees is freed
		// soon after it ends.
		select {
		case e.ckKick <- struct{}{}:
		default:
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return ferr
}

// takeBatch waits for one blob, then takes those ready, up to n.
func takeBatch(c <-chan BlobLocation, n int) []BlobLocation {
	loc, ok := <-c
	if !ok {
		return nil
	}
	batch := []BlobLocation{loc}
	for len(batch) < n {
		select {
		case loc, ok := <-c:
			if !ok {
				return batch
			}
			batch = append(batch, loc)
		default:
			return batch
		}
	}
	return batch
}

// merge adds another report's counts.
func (r *MoveReport) merge(o MoveReport) {
	for from, c := range o.From {
		if r.From == nil {
			r.From = map[string]VolumeCount{}
		}
		x := r.From[from]
		x.Blobs += c.Blobs
		x.Bytes += c.Bytes
		r.From[from] = x
	}
	r.Blobs += o.Blobs
	r.Bytes += o.Bytes
	r.Written += o.Written
	r.Already += o.Already
	r.Skipped += o.Skipped
	for _, f := range o.Failed {
		if len(r.Failed) < maxReportedFailures {
			r.Failed = append(r.Failed, f)
		}
	}
}

// MoveVolume moves every blob on volume src to o.To (doVolumeToVolumeMove,
// e.g. to retire a disk). Like MoveByPolicy it can be stopped and run
// again.
func (e *Engine) MoveVolume(ctx context.Context, src string, o MoveOptions) (MoveReport, error) {
	if _, err := e.Volume(ctx, src); err != nil {
		return MoveReport{}, err
	}
	if o.To == "" {
		return MoveReport{}, invalidf("no destination volume")
	}
	if err := e.moveTarget(&o); err != nil {
		return MoveReport{}, err
	}
	if src == o.To {
		return MoveReport{}, invalidf("source and destination are both %s", src)
	}
	rep := MoveReport{To: o.To, DryRun: o.DryRun}
	if !o.DryRun {
		if err := e.Checkpoint(ctx); err != nil {
			return rep, err
		}
	}
	var todo []BlobLocation
	var total int64
	err := e.Blobs(ctx, func(b BlobLocation) error {
		if b.Volume == src {
			todo = append(todo, b)
			total += b.Size
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if o.Total != nil {
		o.Total(int64(len(todo)), total)
	}
	err = e.moveAll(ctx, &o, &rep, func(emit func(BlobLocation) error) error {
		for _, b := range todo {
			if err := emit(b); err != nil {
				return err
			}
		}
		return nil
	})
	return rep, err
}

// moveTarget fills o.To with the current secondary and checks it exists.
func (e *Engine) moveTarget(o *MoveOptions) error {
	if o.To == "" {
		cur, err := e.CurrentVolume("secondary")
		if err != nil {
			return err
		}
		if cur == "" {
			return invalidf("no current secondary volume: create one (tidemark volume create NAME --kind secondary) and make it current (tidemark volume set-current NAME)")
		}
		o.To = cur
	}
	if _, err := e.Volume(context.Background(), o.To); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	return nil
}

// policyItems calls fn for every item of the accounts (nil: all), account
// by account and folder by folder, from one snapshot.
func (e *Engine) policyItems(ctx context.Context, accounts []uint64, fn func(PolicyItem) error) error {
	snap := e.db.NewSnapshot()
	defer snap.Close()
	if accounts == nil {
		err := scan(snap, []byte{tAccount}, func(_, v []byte) error {
			var a acctRec
			if err := decVal(v, &a); err != nil {
				return err
			}
			accounts = append(accounts, a.A.ID)
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, acct := range accounts {
		var folders []folderRec
		err := scan(snap, folderPrefix(acct), func(_, v []byte) error {
			var f folderRec
			if err := decVal(v, &f); err != nil {
				return err
			}
			folders = append(folders, f)
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range folders {
			err := folderItems(snap, acct, f.ID, func(_ uint32, it itemRec) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				d := dedup.Digest(it.Digest)
				return fn(PolicyItem{Account: acct, Item: it.ID, Type: it.Type, Folder: f.Path,
					Date: time.Unix(0, it.InternalDate).UTC(), Size: it.Size, Flags: it.Flags, Digest: d,
					HasAttachment: e.attachmentCheck(ctx, d)})
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// attachmentCheck returns a function that reads and parses the message
// once and reports whether a part is an attachment: a part whose
// Content-Disposition says attachment, or a non-text leaf with a file
// name. A message that cannot be read counts as without.
func (e *Engine) attachmentCheck(ctx context.Context, d dedup.Digest) func() bool {
	var done, has bool
	return func() bool {
		if done {
			return has
		}
		done = true
		raw, err := e.readBlob(ctx, d)
		if err != nil {
			return false
		}
		t := mimetree.Parse(raw, mimetree.Limits{})
		var walk func(p *mimetree.Part) bool
		walk = func(p *mimetree.Part) bool {
			if p == nil {
				return false
			}
			disp, params := mimetree.ParseValue(p.Disposition)
			if strings.EqualFold(disp, "attachment") {
				return true
			}
			if !p.IsMultipart() && p != t.Root && p.Type != "text" && (params["filename"] != "" || p.Params["name"] != "") {
				return true
			}
			for _, c := range p.Children {
				if walk(c) {
					return true
				}
			}
			return walk(p.Message)
		}
		has = walk(t.Root)
		return has
	}
}
