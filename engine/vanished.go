package engine

import (
	"context"
	"encoding/binary"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Tombstones for QRESYNC (RFC 7162 section 3.2): the UIDs that left a
// folder (expunge, the source side of a move) under the MODSEQ of the
// record that removed them, so VanishedSince can answer VANISHED
// (EARLIER) and SELECT ... (QRESYNC ...) without the client refetching
// every UID.
//
// Layout: table 0x0E, key acct(8) folder(8) modseq(8), value the CBOR
// list of the UIDs in ascending order: one key per record and folder,
// written by apply in the batch that removes the items, so replay of the
// redo log rebuilds them like the rest of the projection (and StateDigest
// covers them). The folder record counts the UIDs held (Vanished).
//
// Ageing: a folder keeps at most maxTombstones UIDs. When an expunge takes
// it beyond that, the oldest entries are dropped until at most 3/4 of it
// remain, and the folder's VanishedFloor becomes the MODSEQ of the newest
// dropped entry. Deleting a folder drops its tombstones; a new UIDVALIDITY
// (rename) drops them too and sets the floor to that record, since the old
// UIDs mean nothing any more. A projection made before tombstones were
// kept has them only from the LSN it had applied when first opened with
// them ("vanishedfrom" in table 0x01).
//
// A client asking for changes since a MODSEQ below the floor cannot be told
// exactly which UIDs went after it. RFC 7162 section 3.2.5.2 lets the
// server answer with every UID of the requested range that does not exist
// any more (some never existed): VanishedSince does that, which is
// correct for the client, only larger.

// maxTombstones bounds the UIDs kept per folder. It does not change at run
// time (tests lower it), so the projection stays a pure function of the
// redo log.
var maxTombstones uint32 = 100_000

func vanishedPrefix(acct, f uint64) []byte { return u64(u64([]byte{tVanished}, acct), f) }
func vanishedKey(acct, f, modseq uint64) []byte {
	return u64(vanishedPrefix(acct, f), modseq)
}

// addTombstones records uids as gone from f at this record's LSN and ages
// the folder's tombstones. The caller writes f.
func (tx *txn) addTombstones(acct uint64, f *folderRec, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	uids = slices.Clone(uids)
	slices.Sort(uids)
	uids = slices.Compact(uids)
	key := vanishedKey(acct, f.ID, tx.lsn)
	var prev []uint32
	if _, err := getVal(tx.b, key, &prev); err != nil {
		return err
	}
	if len(prev) > 0 { // a record that removes twice from one folder
		f.Vanished -= uint32(len(prev))
		uids = append(uids, prev...)
		slices.Sort(uids)
		uids = slices.Compact(uids)
	}
	tx.set(key, encVal(uids))
	f.Vanished += uint32(len(uids))
	if f.Vanished <= maxTombstones {
		return nil
	}
	type entry struct {
		key    []byte
		modseq uint64
		n      uint32
	}
	var drop []entry
	keep := f.Vanished
	err := scan(tx.b, vanishedPrefix(acct, f.ID), func(k, v []byte) error {
		if keep <= maxTombstones/4*3 {
			return errStopScan
		}
		var us []uint32
		if err := decVal(v, &us); err != nil {
			return err
		}
		drop = append(drop, entry{slices.Clone(k), binary.BigEndian.Uint64(k[len(k)-8:]), uint32(len(us))})
		keep -= uint32(len(us))
		return nil
	})
	if err != nil && err != errStopScan {
		return err
	}
	for _, d := range drop {
		tx.del(d.key)
		f.Vanished -= d.n
		f.VanishedFloor = max(f.VanishedFloor, d.modseq)
	}
	return nil
}

// dropTombstones removes every tombstone of folder f.
func (tx *txn) dropTombstones(acct, f uint64) error {
	var keys [][]byte
	err := scan(tx.b, vanishedPrefix(acct, f), func(k, _ []byte) error {
		keys = append(keys, slices.Clone(k))
		return nil
	})
	for _, k := range keys {
		tx.del(k)
	}
	return err
}

// VanishedSince returns, in ascending order, the UIDs within uids (nil:
// every UID below UIDNEXT; a bound of 0 is "*", see UIDRange) that left
// the folder at a MODSEQ above modseq: QRESYNC's VANISHED (EARLIER) for
// SELECT ... (QRESYNC (uidvalidity modseq [known-uids])) and for UID FETCH
// ... (CHANGEDSINCE modseq VANISHED). When modseq is older than what the
// folder's tombstones cover (see the top of vanished.go), the answer is
// every UID of the range that is not in the folder now, as RFC 7162
// allows. The context is checked as the answer is built.
func (e *Engine) VanishedSince(ctx context.Context, acct, folder uint64, modseq uint64, uids []UIDRange) ([]uint32, error) {
	snap := e.db.NewSnapshot()
	defer snap.Close()
	f, err := loadFolder(snap, acct, folder)
	if err != nil {
		return nil, err
	}
	from, _, err := getU64(snap, keyVanishedFrom)
	if err != nil {
		return nil, err
	}
	maxUID := f.UIDNext - 1
	var out []uint32
	if modseq >= max(f.VanishedFloor, from) {
		return tombstonesAfter(ctx, snap, acct, folder, modseq, uids, maxUID)
	}
	// Too old: every UID of the range that is not there now.
	var present []uint32 // ascending
	err = folderItems(snap, acct, folder, func(uid uint32, _ itemRec) error {
		present = append(present, uid)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range normRanges(uids, maxUID) {
		p, _ := slices.BinarySearch(present, r.Start)
		for u := r.Start; ; u++ {
			if u&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			for p < len(present) && present[p] < u {
				p++
			}
			if p == len(present) || present[p] != u {
				out = append(out, u)
			}
			if u == r.Stop {
				break
			}
		}
	}
	return out, nil
}

// tombstonesAfter returns, ascending, the UIDs within uids (nil: all) of
// the folder's tombstones above modseq.
func tombstonesAfter(ctx context.Context, r reader, acct, folder, modseq uint64, uids []UIDRange, maxUID uint32) ([]uint32, error) {
	if modseq == ^uint64(0) {
		return nil, nil
	}
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: vanishedKey(acct, folder, modseq+1),
		UpperBound: prefixEnd(vanishedPrefix(acct, folder)),
	})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []uint32
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		var us []uint32
		if err := decVal(v, &us); err != nil {
			return nil, err
		}
		for _, u := range us {
			if len(uids) == 0 || uidIn(uids, u, maxUID) {
				out = append(out, u)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// normRanges resolves "*" to maxUID, clips to 1..maxUID, and returns the
// ranges sorted and merged (nil: 1..maxUID).
func normRanges(rs []UIDRange, maxUID uint32) []UIDRange {
	if maxUID == 0 {
		return nil
	}
	if len(rs) == 0 {
		return []UIDRange{{1, maxUID}}
	}
	var out []UIDRange
	for _, r := range rs {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = maxUID
		}
		if hi == 0 {
			hi = maxUID
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		lo, hi = max(lo, 1), min(hi, maxUID)
		if lo <= hi {
			out = append(out, UIDRange{lo, hi})
		}
	}
	slices.SortFunc(out, func(a, b UIDRange) int { return int(int64(a.Start) - int64(b.Start)) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(r.Start) <= uint64(merged[n-1].Stop)+1 {
			merged[n-1].Stop = max(merged[n-1].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}
