package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// The change index lets a session ask what changed in a folder since the
// MODSEQ it last saw without reading the folder: CONDSTORE's FETCH ...
// (CHANGEDSINCE m) and the resynchronisation of every selected session
// after each change in its account cost the changed items, not the
// folder's size.
//
// Layout: table 0x0F, key acct(8) folder(8) modseq(8) uid(4), empty
// value: one key per item, under the MODSEQ its record in 0x0A holds.
// putItem and delItem (txn.go) keep it in the batch that writes the item,
// so it is as crash-safe as the item itself and replay of the redo log
// maintains it like the rest of the projection. A projection made before
// the index has none: Open builds it from 0x0A before replaying anything
// and then marks it built ("changeindex" in table 0x01). The build is
// idempotent (it only sets keys that apply would have set), so a crash
// in the middle just builds again at the next Open.

// changedBuildChunk is how many index entries one build batch commits.
const changedBuildChunk = 64 << 10

func changedPrefix(acct, f uint64) []byte { return u64(u64([]byte{tChanged}, acct), f) }
func changedKey(acct, f, modseq uint64, uid uint32) []byte {
	return u32(u64(changedPrefix(acct, f), modseq), uid)
}

// buildChangeIndex fills table 0x0F from the items when the projection
// has not got it yet.
func (e *Engine) buildChangeIndex() error {
	if _, ok, err := getU64(e.db, keyChangeIndex); err != nil {
		return fmt.Errorf("engine: read change-index mark: %w", err)
	} else if ok {
		return nil
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tItem}, UpperBound: []byte{tItem + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	b := e.db.NewBatch()
	n, total := 0, 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 1+8+8+4 {
			b.Close()
			return fmt.Errorf("%w: item key %x", ErrCorrupt, k)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			b.Close()
			return err
		}
		var rec itemRec
		if err := decVal(v, &rec); err != nil {
			b.Close()
			return err
		}
		acct, folder := binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:])
		if err := b.Set(changedKey(acct, folder, rec.ModSeq, uidFromItemKey(k)), nil, nil); err != nil {
			b.Close()
			return err
		}
		if n++; n == changedBuildChunk {
			if err := b.Commit(pebble.NoSync); err != nil {
				return fmt.Errorf("engine: build change index: %w", err)
			}
			b = e.db.NewBatch()
			total += n
			n = 0
		}
	}
	total += n
	if err := b.Set(keyChangeIndex, u64(nil, 1), nil); err != nil {
		b.Close()
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("engine: build change index: %w", err)
	}
	if total > 0 {
		e.opts.Logger.Info("engine: built the change index", "items", total)
	}
	return nil
}

// changedItems calls fn for each item of the folder whose MODSEQ is above
// modseq, in MODSEQ order, reading the change index and then each item.
func changedItems(ctx context.Context, r reader, acct, folder, modseq uint64, fn func(uid uint32, it itemRec) error) error {
	if modseq == ^uint64(0) {
		return nil
	}
	iter, err := r.NewIter(&pebble.IterOptions{
		LowerBound: u64(changedPrefix(acct, folder), modseq+1),
		UpperBound: prefixEnd(changedPrefix(acct, folder)),
	})
	if err != nil {
		return err
	}
	defer iter.Close()
	n := 0
	for ok := iter.First(); ok; ok = iter.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k := iter.Key()
		uid := uidFromItemKey(k)
		var it itemRec
		found, err := getItem(r, itemKey(acct, folder, uid), &it)
		if err != nil {
			return err
		}
		if !found || it.ModSeq != binary.BigEndian.Uint64(k[len(k)-12:]) {
			return fmt.Errorf("%w: change index entry %x has no item", ErrCorrupt, k)
		}
		if err := fn(uid, it); err != nil {
			return err
		}
	}
	return iter.Error()
}

// Changes is what happened in a folder after a MODSEQ, read at one point
// in time (ChangesSince).
type Changes struct {
	// Folder is the folder as of the answer: its HIGHESTMODSEQ is the
	// MODSEQ to ask from next time.
	Folder Folder
	// Changed are the items whose MODSEQ is above the one asked (new,
	// copied or moved in, flags changed), in UID order.
	Changed []Item
	// Vanished are the UIDs that left the folder after that MODSEQ
	// (expunged, moved out), ascending.
	Vanished []uint32
	// Complete is false when the folder's tombstones do not reach back to
	// that MODSEQ (see vanished.go) or the folder got a new UIDVALIDITY
	// since: Vanished is then empty and the caller must read the folder
	// whole to learn what left.
	Complete bool
}

// ChangesSince answers what changed in a folder after modseq from one
// snapshot, at a cost that follows the number of changes, not the size
// of the folder: an IMAP session resynchronises its view with it after
// every change in its account.
func (e *Engine) ChangesSince(ctx context.Context, acct, folder, modseq uint64) (Changes, error) {
	// Many calls find nothing new (a change in another folder of the
	// account, or one the session has already seen): the folder record
	// alone answers that, without the snapshot the rest needs to read
	// several keys consistently.
	if f, err := loadFolder(e.db, acct, folder); err != nil {
		return Changes{}, err
	} else if modseq >= f.HighestModSeq {
		return Changes{Folder: folderOf(f), Complete: true}, nil
	}
	snap := e.db.NewSnapshot()
	defer snap.Close()
	f, err := loadFolder(snap, acct, folder)
	if err != nil {
		return Changes{}, err
	}
	out := Changes{Folder: folderOf(f), Complete: true}
	if modseq >= f.HighestModSeq {
		return out, nil
	}
	from, _, err := getU64(snap, keyVanishedFrom)
	if err != nil {
		return Changes{}, err
	}
	if modseq < max(f.VanishedFloor, from) {
		out.Complete = false
	} else {
		if out.Vanished, err = tombstonesAfter(ctx, snap, acct, folder, modseq, nil, f.UIDNext-1); err != nil {
			return Changes{}, err
		}
	}
	err = changedItems(ctx, snap, acct, folder, modseq, func(uid uint32, it itemRec) error {
		out.Changed = append(out.Changed, itemOf(acct, folder, uid, it))
		return nil
	})
	if err != nil {
		return Changes{}, err
	}
	slices.SortFunc(out.Changed, func(a, b Item) int { return int(int64(a.UID) - int64(b.UID)) })
	return out, nil
}
