package restore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/corrupt"
)

// Earliest and Latest stand for the CLI's "first" and "last": every time a
// catalog holds lies between them.
var (
	Earliest = time.Unix(0, 0).UTC()
	Latest   = time.Unix(0, math.MaxInt64).UTC()
)

// batch is the items one folder of the target account receives, in the
// order they must get their UIDs.
type batch struct {
	folder uint64 // target folder id
	path   string // for reports
	items  []catalog.ItemVersion
	// drop lists flags removed from every item (undelete drops \Deleted).
	drop []string
	// made, when not nil, receives the new item of each restored item, at
	// the item's index.
	made []engine.Item
}

// fill appends every batch's items to acct, batches in parallel and items
// of one batch in order, in chunks, reading blobs ahead (pipeline.go).
// Failures go to the tally.
func (r *Restorer) fill(ctx context.Context, acct uint64, batches []batch, t *tally) {
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for _, b := range batches {
		if len(b.items) == 0 {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(b batch) {
			defer func() { <-sem; wg.Done() }()
			r.fillOne(ctx, acct, b, t)
		}(b)
	}
	wg.Wait()
}

// blobReason words a repository read failure for the report.
func blobReason(err error) string {
	switch {
	case corrupt.Is(err):
		return "blob corrupt in repository: " + err.Error()
	case hsm.IsNotFound(err):
		return "blob missing from repository: " + err.Error()
	}
	return "blob unreadable: " + err.Error()
}

// flagsWithout returns flags minus drop (and minus \Recent, never stored).
func flagsWithout(flags, drop []string) []string {
	out := make([]string, 0, len(flags))
next:
	for _, f := range flags {
		if f == `\Recent` {
			continue
		}
		for _, d := range drop {
			if f == d {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

// ensureFolders makes sure acct has every folder of want (sorted by path,
// so parents come first) and returns the target folder id for each wanted
// folder id. A folder that cannot be made is reported; its items then go
// to INBOX.
//
// exact also sets the subscription of folders that already existed.
func (r *Restorer) ensureFolders(ctx context.Context, acct uint64, want []catalog.FolderState, rep *AccountReport, exact bool) (map[uint64]uint64, error) {
	have, err := r.eng.ListFolders(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	byPath := map[string]uint64{}
	subscribed := map[uint64]bool{}
	for _, f := range have {
		byPath[normPath(f.Path)] = f.ID
		subscribed[f.ID] = f.Subscribed
	}
	out := map[uint64]uint64{}
	for _, f := range want {
		id, ok := byPath[normPath(f.Path)]
		if !ok {
			nf, err := r.eng.CreateFolder(ctx, acct, f.Path, f.SpecialUse)
			if err != nil && f.SpecialUse != "" && errors.Is(err, engine.ErrInvalid) {
				nf, err = r.eng.CreateFolder(ctx, acct, f.Path, "")
			}
			if err != nil {
				rep.Unrestored = append(rep.Unrestored, Failure{Folder: f.Path, Reason: "folder not created: " + err.Error()})
				continue
			}
			id = nf.ID
			byPath[normPath(f.Path)] = id
			subscribed[id] = nf.Subscribed
			rep.Folders++
		} else if !exact {
			out[f.ID] = id
			continue
		}
		if subscribed[id] != f.Subscribed {
			if err := r.eng.SetSubscribed(ctx, acct, id, f.Subscribed); err != nil {
				return nil, fmt.Errorf("subscribe %s: %w", f.Path, err)
			}
		}
		out[f.ID] = id
	}
	return out, nil
}

// normPath folds INBOX's case, as the engine does.
func normPath(p string) string {
	if len(p) >= 5 && (len(p) == 5 || p[5] == '/') && equalFold(p[:5], "INBOX") {
		return "INBOX" + p[5:]
	}
	return p
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 32
		}
		if 'a' <= y && y <= 'z' {
			y -= 32
		}
		if x != y {
			return false
		}
	}
	return true
}

// batchesFor groups items (sorted by folder path, then UID) by target
// folder; items whose folder has no target go to fallback.
func batchesFor(items []catalog.ItemVersion, target func(it catalog.ItemVersion) (uint64, bool), fallback uint64) []batch {
	var out []batch
	idx := map[uint64]int{}
	for _, it := range items {
		id, ok := target(it)
		if !ok {
			id = fallback
		}
		i, seen := idx[id]
		if !seen {
			i = len(out)
			idx[id] = i
			out = append(out, batch{folder: id, path: it.FolderPath})
		}
		out[i].items = append(out[i].items, it)
	}
	return out
}
