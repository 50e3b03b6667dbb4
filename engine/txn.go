package engine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// txn is one write round (or one replay chunk): an indexed Pebble batch
// that later commands read through, the LSN of the record being built, and
// what the round must do after the log write (inline blob copies, watcher
// notifications).
type txn struct {
	e      *Engine
	b      *pebble.Batch
	lsn    uint64
	replay bool

	changes []Change
	// inline holds blobs carried in records of this txn whose volume copy
	// the round hands to the copy writer (replay: verifies).
	inline      map[[32]byte]inlineBlob
	inlineOrder [][32]byte
	// prim is the primary set by a record of this txn (primaryswitch.go):
	// the engine's once the txn is committed.
	prim *primaryState
}

func (e *Engine) newTxn(replay bool) *txn {
	return &txn{e: e, b: e.db.NewIndexedBatch(), replay: replay, inline: map[[32]byte]inlineBlob{}}
}

func (tx *txn) set(k, v []byte) {
	if err := tx.b.Set(k, v, nil); err != nil {
		panic(fmt.Sprintf("engine: batch set: %v", err)) // only fails on a closed batch
	}
}

func (tx *txn) del(k []byte) {
	if err := tx.b.Delete(k, nil); err != nil {
		panic(fmt.Sprintf("engine: batch delete: %v", err))
	}
}

func (tx *txn) setU64(k []byte, v uint64) { tx.set(k, binary.BigEndian.AppendUint64(nil, v)) }

func (tx *txn) notify(c Change) {
	if !tx.replay {
		tx.changes = append(tx.changes, c)
	}
}

// account loads an account record.
func (tx *txn) account(id uint64) (acctRec, error) { return loadAccount(tx.b, id) }

func loadAccount(r reader, id uint64) (acctRec, error) {
	var a acctRec
	ok, err := getVal(r, accountKey(id), &a)
	if err != nil {
		return a, err
	}
	if !ok {
		return a, notFoundf("account %d", id)
	}
	return a, nil
}

func (tx *txn) putAccount(a acctRec) { tx.set(accountKey(a.A.ID), encVal(a)) }

func (tx *txn) folder(acct, id uint64) (folderRec, error) { return loadFolder(tx.b, acct, id) }

func loadFolder(r reader, acct, id uint64) (folderRec, error) {
	var f folderRec
	ok, err := getVal(r, folderKey(acct, id), &f)
	if err != nil {
		return f, err
	}
	if !ok {
		return f, notFoundf("folder %d of account %d", id, acct)
	}
	return f, nil
}

func (tx *txn) putFolder(acct uint64, f folderRec) { tx.set(folderKey(acct, f.ID), encVal(f)) }

// itemLoc is where an item lives.
type itemLoc struct {
	folder uint64
	uid    uint32
}

func loadItem(r reader, acct, id uint64) (itemLoc, itemRec, error) {
	var loc itemLoc
	var it itemRec
	b, c, err := r.Get(itemLocKey(acct, id))
	if err == pebble.ErrNotFound {
		return loc, it, notFoundf("item %d of account %d", id, acct)
	}
	if err != nil {
		return loc, it, err
	}
	if len(b) != 12 {
		c.Close()
		return loc, it, fmt.Errorf("%w: item location %d/%d", ErrCorrupt, acct, id)
	}
	loc.folder = binary.BigEndian.Uint64(b)
	loc.uid = binary.BigEndian.Uint32(b[8:])
	c.Close()
	ok, err := getItem(r, itemKey(acct, loc.folder, loc.uid), &it)
	if err != nil {
		return loc, it, err
	}
	if !ok {
		return loc, it, fmt.Errorf("%w: item %d/%d located at missing %d/%d", ErrCorrupt, acct, id, loc.folder, loc.uid)
	}
	return loc, it, nil
}

// getItem reads the item record at key; found is false when absent.
func getItem(r reader, key []byte, it *itemRec) (found bool, err error) {
	b, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := decodeItem(b, it); err != nil {
		return false, fmt.Errorf("decode %x: %w", key, err) // ErrCorrupt
	}
	return true, nil
}

func (tx *txn) item(acct, id uint64) (itemLoc, itemRec, error) { return loadItem(tx.b, acct, id) }

// putItem writes an item at folder/uid and its change-index entry.
// prevModSeq is the MODSEQ the item had at that place before (0: it was
// not there), whose index entry goes.
func (tx *txn) putItem(acct, folder uint64, uid uint32, it itemRec, prevModSeq uint64) {
	if prevModSeq != 0 && prevModSeq != it.ModSeq {
		tx.del(changedKey(acct, folder, prevModSeq, uid))
	}
	tx.set(itemKey(acct, folder, uid), encVal(it))
	tx.set(itemLocKey(acct, it.ID), u32(u64(nil, folder), uid))
	tx.set(changedKey(acct, folder, it.ModSeq, uid), nil)
}

// delItem removes an item (it as stored at folder/uid) with its location
// and change-index entry.
func (tx *txn) delItem(acct, folder uint64, uid uint32, it itemRec) {
	tx.del(itemKey(acct, folder, uid))
	tx.del(itemLocKey(acct, it.ID))
	tx.del(changedKey(acct, folder, it.ModSeq, uid))
}

// countAdd adds (sign=+1) or removes (sign=-1) an item from a folder's
// counts.
func countAdd(f *folderRec, it *itemRec, sign int) {
	d := uint32(sign) // wraps for -1, which is what unsigned addition wants
	f.Messages += d
	f.Size += int64(sign) * it.Size
	if !hasFlag(it.Flags, FlagSeen) {
		f.Unseen += d
	}
	if hasFlag(it.Flags, FlagDeleted) {
		f.Deleted += d
	}
}

// ref changes a blob's reference count by delta. A count reaching zero
// queues the blob for collection at this LSN; a queued blob referenced
// again is rescued. It reports whether the blob record was absent before
// (the volume copy may need writing).
func (tx *txn) ref(d [32]byte, delta int64, volume string, size int64) (created bool, err error) {
	var br blobRec
	ok, err := getVal(tx.b, blobKey(d), &br)
	if err != nil {
		return false, err
	}
	if !ok {
		if delta < 0 {
			return false, fmt.Errorf("%w: release of unknown blob %x", ErrCorrupt, d[:8])
		}
		br = blobRec{Volume: volume, Size: size}
	}
	if br.Refs == 0 && delta > 0 && br.DropLSN != 0 {
		tx.del(dropKey(br.DropLSN, d)) // rescued before collection
		br.DropLSN = 0
	}
	br.Refs += delta
	if br.Refs < 0 {
		return false, fmt.Errorf("%w: blob %x count below zero", ErrCorrupt, d[:8])
	}
	if br.Refs == 0 && delta < 0 {
		br.DropLSN = tx.lsn
		tx.set(dropKey(tx.lsn, d), nil)
	}
	tx.set(blobKey(d), encVal(br))
	return !ok, nil
}

func itemOf(acct, folder uint64, uid uint32, it itemRec) Item {
	return Item{
		ID: it.ID, Folder: folder, UID: uid, Type: it.Type,
		Flags: append([]string(nil), it.Flags...), InternalDate: fromNano(it.InternalDate),
		Size: it.Size, Digest: it.Digest, ModSeq: it.ModSeq,
	}
}
