package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
)

// Item is a mailbox item (a message today).
type Item struct {
	ID           uint64
	Folder       uint64
	UID          uint32
	Type         event.ItemType
	Flags        []string
	InternalDate time.Time
	Size         int64
	Digest       dedup.Digest
	ModSeq       uint64 // LSN of the item's last change
}

func uidFromItemKey(k []byte) uint32 { return binary.BigEndian.Uint32(k[len(k)-4:]) }

// folderItems lists a folder's items in UID order.
func folderItems(r reader, acct, folder uint64, fn func(uid uint32, it itemRec) error) error {
	return scan(r, itemPrefix(acct, folder), func(k, v []byte) error {
		var it itemRec
		if err := decodeItem(v, &it); err != nil {
			return err
		}
		return fn(uidFromItemKey(k), it)
	})
}

// ListItems returns a folder's items ordered by UID (IMAP sequence number =
// index + 1).
func (e *Engine) ListItems(ctx context.Context, acct, folder uint64) ([]Item, error) {
	if _, err := loadFolder(e.db, acct, folder); err != nil {
		return nil, err
	}
	var out []Item
	err := folderItems(e.db, acct, folder, func(uid uint32, it itemRec) error {
		out = append(out, itemOf(acct, folder, uid, it))
		return nil
	})
	return out, err
}

// GetItem returns one item.
func (e *Engine) GetItem(ctx context.Context, acct, item uint64) (Item, error) {
	loc, it, err := loadItem(e.db, acct, item)
	if err != nil {
		return Item{}, err
	}
	return itemOf(acct, loc.folder, loc.uid, it), nil
}

// ChangedSince returns the folder's items whose MODSEQ is above modseq, in
// UID order: FETCH ... (CHANGEDSINCE modseq) of RFC 7162 section 3.1.4.
// An item's MODSEQ is the LSN of its last change (arrival, copy, move,
// flags), so every item whose flags changed after modseq is there, and
// only those. Expunged items are VanishedSince's. It reads the change
// index (changes.go), so its cost follows the number of changed items.
func (e *Engine) ChangedSince(ctx context.Context, acct, folder uint64, modseq uint64) ([]Item, error) {
	snap := e.db.NewSnapshot()
	defer snap.Close()
	if _, err := loadFolder(snap, acct, folder); err != nil {
		return nil, err
	}
	var out []Item
	err := changedItems(ctx, snap, acct, folder, modseq, func(uid uint32, it itemRec) error {
		out = append(out, itemOf(acct, folder, uid, it))
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Item) int { return int(int64(a.UID) - int64(b.UID)) })
	return out, nil
}

// OpenBlob opens an item's raw message bytes and returns its size.
func (e *Engine) OpenBlob(ctx context.Context, acct, item uint64) (io.ReadCloser, int64, error) {
	_, it, err := loadItem(e.db, acct, item)
	if err != nil {
		return nil, 0, err
	}
	raw, err := e.readBlob(ctx, it.Digest)
	if err != nil {
		return nil, 0, err
	}
	return &blobReader{Reader: bytes.NewReader(raw), raw: raw}, int64(len(raw)), nil
}

// blobReader is what OpenBlob returns: the message is already in memory,
// and Bytes hands it over without a copy (read only: it may be shared).
type blobReader struct {
	*bytes.Reader
	raw []byte
}

func (*blobReader) Close() error { return nil }

// Bytes returns the whole message; the caller must not modify it.
func (b *blobReader) Bytes() []byte { return b.raw }

// AppendBlob appends an item's raw message bytes to dst and returns the
// extended slice. A caller that reads many messages through one reused
// buffer (an IMAP FETCH of a folder) reads them without allocating once
// the buffer has grown to the largest, where OpenBlob allocates each.
func (e *Engine) AppendBlob(ctx context.Context, acct, item uint64, dst []byte) ([]byte, error) {
	_, it, err := loadItem(e.db, acct, item)
	if err != nil {
		return dst, err
	}
	return e.appendBlob(ctx, it.Digest, dst)
}

// ReadBlobRange reads n bytes (n < 0: to the end) at off of an item's raw
// message; a range past the end is clipped.
func (e *Engine) ReadBlobRange(ctx context.Context, acct, item uint64, off, n int64) ([]byte, error) {
	_, it, err := loadItem(e.db, acct, item)
	if err != nil {
		return nil, err
	}
	return e.readBlobRange(ctx, it.Digest, it.Size, off, n)
}

// Quota returns the account's used bytes and limit (0 = unlimited).
func (e *Engine) Quota(ctx context.Context, acct uint64) (used, limit int64, err error) {
	a, err := loadAccount(e.db, acct)
	if err != nil {
		return 0, 0, err
	}
	return a.Used, a.A.Quota, nil
}

// ItemAt names an item as a client last saw it: its id and the UID it
// had in the folder. The calls that take ItemAts (StoreFlagsAt, CopyAt,
// MoveAt, ExpungeAt) act on an item only while it is still at that UID,
// in the same transaction: an item keeps its id when it moves, so an IMAP
// session that has not yet heard that another session moved a message
// (into the same folder under a new UID, RFC 6851, or away and back) would
// otherwise reach it by its old UID, which for IMAP is an expunged
// message. UID 0 takes the item at whatever UID it has in the folder.
type ItemAt struct {
	ID  uint64
	UID uint32
}

// AnyUID names items at whatever UID they have in their folder (nil for
// nil, which Expunge and ExpungeAt read as "every item flagged \Deleted").
func AnyUID(ids []uint64) []ItemAt {
	if ids == nil {
		return nil
	}
	out := make([]ItemAt, len(ids))
	for i, id := range ids {
		out[i] = ItemAt{ID: id}
	}
	return out
}

// locate loads the item at and reports whether it is in folder at the
// UID at names (any UID for 0); ok false with a nil error when it is not.
func (tx *txn) locate(acct, folder uint64, at ItemAt) (itemLoc, itemRec, bool, error) {
	loc, it, err := tx.item(acct, at.ID)
	if errors.Is(err, ErrNotFound) {
		return itemLoc{}, itemRec{}, false, nil
	}
	if err != nil {
		return itemLoc{}, itemRec{}, false, err
	}
	if loc.folder != folder || at.UID != 0 && loc.uid != at.UID {
		return itemLoc{}, itemRec{}, false, nil
	}
	return loc, it, true, nil
}

// itemsIn loads items and checks that each is in folder (at the UID named,
// if any). An id named twice is taken once.
func (tx *txn) itemsIn(acct, folder uint64, items []ItemAt) ([]itemLoc, []itemRec, error) {
	locs := make([]itemLoc, 0, len(items))
	recs := make([]itemRec, 0, len(items))
	seen := make(map[uint64]bool, len(items))
	for _, at := range items {
		loc, it, ok, err := tx.locate(acct, folder, at)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			if at.UID != 0 {
				return nil, nil, notFoundf("item %d at uid %d in folder %d", at.ID, at.UID, folder)
			}
			return nil, nil, notFoundf("item %d in folder %d", at.ID, folder)
		}
		if seen[at.ID] {
			continue
		}
		seen[at.ID] = true
		locs = append(locs, loc)
		recs = append(recs, it)
	}
	return locs, recs, nil
}

// StoreFlags changes the flags of items of a folder. With unchangedSince >
// 0 (CONDSTORE UNCHANGEDSINCE) items modified after it are left alone. It
// returns the items whose flags changed, with their new MODSEQ; items whose
// flags would not change are not touched. An item not in the folder fails
// the whole call with ErrNotFound; StoreFlagsCond reports such items and
// the ones that failed UNCHANGEDSINCE instead.
func (e *Engine) StoreFlags(ctx context.Context, acct, folder uint64, items []uint64, op FlagOp, flags []string, unchangedSince uint64) ([]Item, error) {
	fl, err := canonFlags(flags)
	if err != nil {
		return nil, err
	}
	if op < FlagsSet || op > FlagsRemove {
		return nil, invalidf("flag operation %d", op)
	}
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.folder(acct, folder); err != nil {
			return nil, nil, err
		}
		locs, recs, err := tx.itemsIn(acct, folder, AnyUID(items))
		if err != nil {
			return nil, nil, err
		}
		ev := event.FlagsChanged{Account: acct, Folder: folder}
		var changed []Item
		for i, it := range recs {
			if unchangedSince > 0 && it.ModSeq > unchangedSince {
				continue
			}
			n := applyFlagOp(it.Flags, op, fl)
			if equalFlags(n, it.Flags) {
				continue
			}
			ev.Changes = append(ev.Changes, event.FlagChange{Item: it.ID, Flags: n})
			it.Flags, it.ModSeq = n, tx.lsn
			changed = append(changed, itemOf(acct, folder, locs[i].uid, it))
		}
		if len(ev.Changes) == 0 {
			return nil, changed, nil
		}
		return ev, changed, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]Item), nil
}

// StoreOptions qualify StoreFlagsCond.
type StoreOptions struct {
	// Conditional makes UnchangedSince apply: CONDSTORE's STORE
	// (UNCHANGEDSINCE n). An item whose MODSEQ is above UnchangedSince
	// is left alone and reported in Modified; with UnchangedSince 0
	// every item is (RFC 7162 section 3.1.3: UNCHANGEDSINCE 0 always
	// fails for an existing message).
	Conditional    bool
	UnchangedSince uint64
}

// StoreResult says what StoreFlagsCond did with each item asked for; an
// id given twice is answered once.
type StoreResult struct {
	// Changed are the items whose flags changed, with their new flags
	// and MODSEQ (one record for them all).
	Changed []Item
	// Unchanged passed the UNCHANGEDSINCE test but already had the flags
	// asked for: nothing was written and they keep their MODSEQ.
	Unchanged []Item
	// Modified failed the UNCHANGEDSINCE test: left alone, returned with
	// their current flags and MODSEQ, for the MODIFIED response code.
	Modified []Item
	// Missing are the ids no longer in the folder (expunged or moved,
	// by another session perhaps), or for StoreFlagsAt no longer at the
	// UID named: the others are still stored.
	Missing []uint64
}

// StoreFlagsCond is STORE and UID STORE with RFC 7162 semantics: items that
// fail UNCHANGEDSINCE are reported and left alone, the rest are changed in
// one record; items that no longer exist are reported, not an error (RFC
// 9051 acts on the messages that still exist). It fails only when the
// folder is gone or the flags are invalid.
func (e *Engine) StoreFlagsCond(ctx context.Context, acct, folder uint64, items []uint64, op FlagOp, flags []string, o StoreOptions) (StoreResult, error) {
	return e.StoreFlagsAt(ctx, acct, folder, AnyUID(items), op, flags, o)
}

// StoreFlagsAt is StoreFlagsCond on items named with the UID the caller
// saw them at (ItemAt): an item no longer at that UID is Missing, as an
// expunged one is.
func (e *Engine) StoreFlagsAt(ctx context.Context, acct, folder uint64, items []ItemAt, op FlagOp, flags []string, o StoreOptions) (StoreResult, error) {
	fl, err := canonFlags(flags)
	if err != nil {
		return StoreResult{}, err
	}
	if op < FlagsSet || op > FlagsRemove {
		return StoreResult{}, invalidf("flag operation %d", op)
	}
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.folder(acct, folder); err != nil {
			return nil, nil, err
		}
		var r StoreResult
		ev := event.FlagsChanged{Account: acct, Folder: folder}
		seen := make(map[ItemAt]bool, len(items))
		done := make(map[uint64]bool, len(items))
		for _, at := range items {
			if seen[at] {
				continue
			}
			seen[at] = true
			loc, it, ok, err := tx.locate(acct, folder, at)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				r.Missing = append(r.Missing, at.ID)
				continue
			}
			if done[at.ID] {
				continue // named again under another UID
			}
			done[at.ID] = true
			if o.Conditional && it.ModSeq > o.UnchangedSince {
				r.Modified = append(r.Modified, itemOf(acct, folder, loc.uid, it))
				continue
			}
			n := applyFlagOp(it.Flags, op, fl)
			if equalFlags(n, it.Flags) {
				r.Unchanged = append(r.Unchanged, itemOf(acct, folder, loc.uid, it))
				continue
			}
			ev.Changes = append(ev.Changes, event.FlagChange{Item: it.ID, Flags: n})
			it.Flags, it.ModSeq = n, tx.lsn
			r.Changed = append(r.Changed, itemOf(acct, folder, loc.uid, it))
		}
		if len(ev.Changes) == 0 {
			return nil, r, nil
		}
		return ev, r, nil
	})
	if err != nil {
		return StoreResult{}, err
	}
	return res.(StoreResult), nil
}

// Copy copies items into another folder of the account; the copies share
// the blob. It returns the new items in the order given. Copying counts
// against the quota.
func (e *Engine) Copy(ctx context.Context, acct, from uint64, items []uint64, to uint64) ([]Item, error) {
	return e.CopyAt(ctx, acct, from, AnyUID(items), to)
}

// CopyAt is Copy of items named with the UID the caller saw them at: an
// item no longer at that UID fails the call with ErrNotFound, as an
// expunged one does.
func (e *Engine) CopyAt(ctx context.Context, acct, from uint64, items []ItemAt, to uint64) ([]Item, error) {
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		a, err := tx.account(acct)
		if err != nil {
			return nil, nil, err
		}
		if _, err := tx.folder(acct, from); err != nil {
			return nil, nil, err
		}
		dst, err := tx.folder(acct, to)
		if err != nil {
			return nil, nil, err
		}
		_, recs, err := tx.itemsIn(acct, from, items)
		if err != nil {
			return nil, nil, err
		}
		var size int64
		for _, it := range recs {
			size += it.Size
		}
		if a.A.Quota > 0 && a.Used+size > a.A.Quota {
			return nil, nil, ErrQuotaExceeded
		}
		if len(recs) == 0 {
			return nil, []Item{}, nil
		}
		ev := event.ItemsCopied{Account: acct, From: from, To: to}
		out := make([]Item, 0, len(recs))
		for i, it := range recs {
			p := event.CopyPair{From: it.ID, To: a.NextItem + uint64(i), UID: dst.UIDNext + uint32(i)}
			ev.Pairs = append(ev.Pairs, p)
			it.ID, it.ModSeq = p.To, tx.lsn
			out = append(out, itemOf(acct, to, p.UID, it))
		}
		return ev, out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]Item), nil
}

// Move moves items to a folder of the account. Items keep their ids and
// get new UIDs; the moved items are returned in the order given. Moving
// into the same folder is allowed (IMAP MOVE to the selected mailbox): the
// items get new UIDs at the end of the folder.
func (e *Engine) Move(ctx context.Context, acct, from uint64, items []uint64, to uint64) ([]Item, error) {
	return e.MoveAt(ctx, acct, from, AnyUID(items), to)
}

// MoveAt is Move of items named with the UID the caller saw them at: an
// item no longer at that UID fails the call with ErrNotFound, as an
// expunged one does. A moved item keeps its id, so this is what keeps a
// session that has not yet heard of a move from moving the message again
// by its old UID.
func (e *Engine) MoveAt(ctx context.Context, acct, from uint64, items []ItemAt, to uint64) ([]Item, error) {
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.folder(acct, from); err != nil {
			return nil, nil, err
		}
		dst, err := tx.folder(acct, to)
		if err != nil {
			return nil, nil, err
		}
		_, recs, err := tx.itemsIn(acct, from, items)
		if err != nil {
			return nil, nil, err
		}
		if len(recs) == 0 {
			return nil, []Item{}, nil
		}
		ev := event.ItemsMoved{Account: acct, From: from, To: to}
		out := make([]Item, 0, len(recs))
		for i, it := range recs {
			p := event.MovePair{Item: it.ID, UID: dst.UIDNext + uint32(i)}
			ev.Pairs = append(ev.Pairs, p)
			it.ModSeq = tx.lsn
			out = append(out, itemOf(acct, to, p.UID, it))
		}
		return ev, out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]Item), nil
}

// Expunge removes items from a folder for good; items nil removes every
// item flagged \Deleted. It returns the removed items in UID order for nil,
// in the given order otherwise.
func (e *Engine) Expunge(ctx context.Context, acct, folder uint64, items []uint64) ([]Item, error) {
	return e.expunge(ctx, acct, folder, AnyUID(items), false, false)
}

// ExpungeAt is Expunge of items named with the UID the caller saw them
// at: an item no longer at that UID fails the call with ErrNotFound, as
// an expunged one does. items nil removes every item flagged \Deleted.
func (e *Engine) ExpungeAt(ctx context.Context, acct, folder uint64, items []ItemAt) ([]Item, error) {
	return e.expunge(ctx, acct, folder, items, false, false)
}

// ExpungeDeletedAt is ExpungeAt of those of items that still have
// \Deleted when the transaction runs: IMAP EXPUNGE lists the messages
// flagged \Deleted, and another session may take the flag off before the
// expunge is written; that message stays (RFC 9051 section 6.4.3 removes
// only messages with \Deleted set). items nil removes every item flagged
// \Deleted, as ExpungeAt does.
func (e *Engine) ExpungeDeletedAt(ctx context.Context, acct, folder uint64, items []ItemAt) ([]Item, error) {
	return e.expunge(ctx, acct, folder, items, false, true)
}

// EmptyFolder removes every item of a folder.
func (e *Engine) EmptyFolder(ctx context.Context, acct, folder uint64) error {
	_, err := e.expunge(ctx, acct, folder, nil, true, false)
	return err
}

// expunge removes items (nil: those with \Deleted, or every item with
// all); with onlyDeleted, of the items named only those still flagged
// \Deleted.
func (e *Engine) expunge(ctx context.Context, acct, folder uint64, items []ItemAt, all, onlyDeleted bool) ([]Item, error) {
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.folder(acct, folder); err != nil {
			return nil, nil, err
		}
		var out []Item
		if items == nil {
			err := folderItems(tx.b, acct, folder, func(uid uint32, it itemRec) error {
				if all || hasFlag(it.Flags, FlagDeleted) {
					out = append(out, itemOf(acct, folder, uid, it))
				}
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
		} else {
			locs, recs, err := tx.itemsIn(acct, folder, items)
			if err != nil {
				return nil, nil, err
			}
			for i, it := range recs {
				if onlyDeleted && !hasFlag(it.Flags, FlagDeleted) {
					continue
				}
				out = append(out, itemOf(acct, folder, locs[i].uid, it))
			}
		}
		if len(out) == 0 {
			return nil, []Item{}, nil
		}
		ev := event.ItemsExpunged{Account: acct, Folder: folder}
		for _, it := range out {
			ev.Items = append(ev.Items, it.ID)
		}
		return ev, out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]Item), nil
}
