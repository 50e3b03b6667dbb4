package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/dedup"
)

// StateDigest returns a SHA-256 over the whole projection that is a pure
// function of the redo log: every table of schema.go except the applied,
// blob-synced and vanished-from LSNs, the change index (derived from the
// items), the collection queues and records of blobs nobody references (those depend on when collection ran). Two engines that applied the same log
// give the same digest; replay-determinism, restore and backup tests
// compare it.
func (e *Engine) StateDigest(ctx context.Context) (string, error) {
	snap := e.db.NewSnapshot()
	defer snap.Close()
	h := sha256.New()
	var lenBuf [8]byte
	err := scan(snap, nil, func(k, v []byte) error {
		if len(k) == 0 || k[0] == tBlobDrop || k[0] == tMoveDrop || k[0] == tChanged || k[0] >= tableLimit ||
			bytes.Equal(k, keyApplied) || bytes.Equal(k, keyBlobSynced) || bytes.Equal(k, keyVanishedFrom) ||
			bytes.Equal(k, keyChangeIndex) {
			return nil
		}
		if k[0] == tBlob {
			var br blobRec
			if err := decVal(v, &br); err != nil {
				return err
			}
			if br.Refs == 0 {
				return nil
			}
		}
		binary.BigEndian.PutUint64(lenBuf[:], uint64(len(k)))
		h.Write(lenBuf[:])
		h.Write(k)
		binary.BigEndian.PutUint64(lenBuf[:], uint64(len(v)))
		h.Write(lenBuf[:])
		h.Write(v)
		return ctx.Err()
	})
	if err != nil {
		return "", fmt.Errorf("engine: state digest: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Check recounts the projection and compares: per-account quota used and
// id counters, per-folder counts (vanished UIDs too), UIDNEXT and path
// index, item locations and change-index entries,
// address index, and every blob's reference count against the items that
// name it; each referenced blob must exist on its volume. Problems are
// joined in one error wrapping ErrCorrupt (at most 50 are listed).
func (e *Engine) Check(ctx context.Context) error {
	snap := e.db.NewSnapshot()
	defer snap.Close()
	var probs []error
	bad := func(format string, args ...any) {
		if len(probs) < 50 {
			probs = append(probs, fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...))
		}
	}
	refs := map[[32]byte]int64{}
	var accts []acctRec
	err := scan(snap, []byte{tAccount}, func(_, v []byte) error {
		var a acctRec
		if err := decVal(v, &a); err != nil {
			return err
		}
		accts = append(accts, a)
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range accts {
		id := a.A.ID
		for _, addr := range append([]string{a.A.Address}, a.A.Aliases...) {
			if got, ok, err := getU64(snap, addressKey(addr)); err != nil || !ok || got != id {
				bad("address %s does not lead to account %d", addr, id)
			}
		}
		var used int64
		var folders []folderRec
		err := scan(snap, folderPrefix(id), func(_, v []byte) error {
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
			if f.ID >= a.NextFolder {
				bad("account %d folder %d not below next folder id %d", id, f.ID, a.NextFolder)
			}
			if got, ok, err := folderIDByPath(snap, id, f.Path); err != nil || !ok || got != f.ID {
				bad("account %d path %q does not lead to folder %d", id, f.Path, f.ID)
			}
			var cnt folderRec
			err := folderItems(snap, id, f.ID, func(uid uint32, it itemRec) error {
				countAdd(&cnt, &it, +1)
				used += it.Size
				refs[it.Digest]++
				if uid >= f.UIDNext {
					bad("account %d folder %d uid %d not below UIDNEXT %d", id, f.ID, uid, f.UIDNext)
				}
				if it.ID >= a.NextItem {
					bad("account %d item %d not below next item id %d", id, it.ID, a.NextItem)
				}
				loc, _, err := loadItem(snap, id, it.ID)
				if err != nil || loc.folder != f.ID || loc.uid != uid {
					bad("account %d item %d location wrong", id, it.ID)
				}
				if _, c, err := snap.Get(changedKey(id, f.ID, it.ModSeq, uid)); err != nil {
					bad("account %d item %d missing from the change index", id, it.ID)
				} else {
					c.Close()
				}
				return nil
			})
			if err != nil {
				return err
			}
			var indexed uint32
			if err := scan(snap, changedPrefix(id, f.ID), func(_, _ []byte) error { indexed++; return nil }); err != nil {
				return err
			}
			if indexed != cnt.Messages {
				bad("account %d folder %q has %d change-index entries for %d items", id, f.Path, indexed, cnt.Messages)
			}
			if cnt.Messages != f.Messages || cnt.Unseen != f.Unseen || cnt.Deleted != f.Deleted || cnt.Size != f.Size {
				bad("account %d folder %q counts %d/%d/%d/%d, recount %d/%d/%d/%d", id, f.Path,
					f.Messages, f.Unseen, f.Deleted, f.Size, cnt.Messages, cnt.Unseen, cnt.Deleted, cnt.Size)
			}
			var vanished uint32
			err = scan(snap, vanishedPrefix(id, f.ID), func(k, v []byte) error {
				var uids []uint32
				if err := decVal(v, &uids); err != nil {
					return err
				}
				vanished += uint32(len(uids))
				for _, u := range uids {
					if u >= f.UIDNext {
						bad("account %d folder %d vanished uid %d not below UIDNEXT %d", id, f.ID, u, f.UIDNext)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if vanished != f.Vanished {
				bad("account %d folder %q holds %d vanished uids, recount %d", id, f.Path, f.Vanished, vanished)
			}
		}
		if used != a.Used {
			bad("account %d quota used %d, recount %d", id, a.Used, used)
		}
	}
	seen := map[[32]byte]bool{}
	err = scan(snap, []byte{tBlob}, func(k, v []byte) error {
		var br blobRec
		if err := decVal(v, &br); err != nil {
			return err
		}
		var d dedup.Digest
		copy(d[:], k[1:])
		seen[d] = true
		if br.Refs != refs[d] {
			bad("blob %s count %d, recount %d", d, br.Refs, refs[d])
		}
		if br.Refs == 0 {
			if _, c, err := snap.Get(dropKey(br.DropLSN, d)); err != nil {
				bad("unreferenced blob %s not queued for collection", d)
			} else {
				c.Close()
			}
			return nil
		}
		v2, err := e.volume(ctx, br.Volume)
		if err != nil {
			bad("blob %s on volume %q, which cannot be opened: %v", d, br.Volume, err)
			return nil
		}
		if _, err := v2.Stat(ctx, dedup.BlobName(d)); err != nil {
			bad("blob %s missing from volume %s: %v", d, br.Volume, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for d, n := range refs {
		if !seen[d] {
			bad("blob %s referenced %d times has no record", dedup.Digest(d), n)
		}
	}
	return errors.Join(probs...)
}
