package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// apply changes the projection by one event, recorded at tx.lsn. It is the
// only code that changes mailbox state, used alike by the live write path
// and by replay, and it reads nothing but the batch and the event
// (ARCHITECTURE invariant 4). An error means the event does not fit the state:
// the projection or the log is corrupt.
func (tx *txn) apply(ev event.Event) error {
	switch e := ev.(type) {
	case event.DomainCreated:
		return tx.applyDomainCreated(e)
	case event.DomainModified:
		return tx.applyDomainModified(e)
	case event.DomainDeleted:
		tx.del(domainKey(e.Name))
		return nil
	case event.COSCreated:
		tx.set(cosKey(e.COS.Name), encVal(e.COS))
		return nil
	case event.COSModified:
		tx.set(cosKey(e.COS.Name), encVal(e.COS))
		return nil
	case event.COSDeleted:
		tx.del(cosKey(e.Name))
		return nil
	case event.AccountCreated:
		return tx.applyAccountCreated(e)
	case event.AccountModified:
		return tx.applyAccountModified(e)
	case event.AccountRenamed:
		return tx.applyAccountRenamed(e)
	case event.AccountDeleted:
		return tx.applyAccountDeleted(e)
	case event.PasswordSet:
		return tx.updateAccount(e.Account, func(a *acctRec) { a.A.PasswordHash = e.Hash })
	case event.AliasAdded:
		return tx.applyAliasAdded(e)
	case event.AliasRemoved:
		return tx.applyAliasRemoved(e)
	case event.FolderCreated:
		return tx.applyFolderCreated(e)
	case event.FolderRenamed:
		return tx.applyFolderRenamed(e)
	case event.FolderDeleted:
		return tx.applyFolderDeleted(e)
	case event.FolderSubscribed:
		f, err := tx.folder(e.Account, e.Folder)
		if err != nil {
			return err
		}
		f.Subscribed = e.Subscribed
		tx.putFolder(e.Account, f)
		tx.notify(Change{Account: e.Account, Folder: e.Folder, Kind: ChangeFolder, ModSeq: tx.lsn})
		return nil
	case event.SubscriptionsChanged:
		return tx.applySubscriptionsChanged(e)
	case event.MessageAdded:
		return tx.applyMessageAdded(e)
	case event.FlagsChanged:
		return tx.applyFlagsChanged(e)
	case event.ItemsCopied:
		return tx.applyItemsCopied(e)
	case event.ItemsMoved:
		return tx.applyItemsMoved(e)
	case event.ItemsExpunged:
		return tx.applyItemsExpunged(e)
	case event.BlobMoved:
		return tx.applyBlobMoved(e)
	case event.VolumeCreated:
		return tx.applyVolume(e.Volume, true)
	case event.VolumeModified:
		if err := tx.applyVolume(e.Volume, false); err != nil {
			return err
		}
		if e.Volume.Name == tx.primary().name {
			return tx.switchPrimary(e.Volume.Name) // its compression may have changed
		}
		return nil
	case event.VolumeDeleted:
		return tx.applyVolumeDeleted(e.Name)
	case event.VolumeCurrentSet:
		tx.set(currentKey(e.Kind), []byte(e.Name))
		if e.Kind == hsm.KindPrimary {
			return tx.switchPrimary(e.Name)
		}
		return nil
	case event.HSMPolicySet:
		tx.set(keyPolicy, encVal(policyRec{Lines: e.Lines}))
		return nil
	}
	return fmt.Errorf("apply %v: %w", ev.Type(), event.ErrUnknownType)
}

func (tx *txn) applyFolderCreated(e event.FolderCreated) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	path := e.Name
	if e.Parent != 0 {
		p, err := tx.folder(e.Account, e.Parent)
		if err != nil {
			return err
		}
		path = p.Path + PathSep + e.Name
	}
	f := folderRec{
		ID: e.Folder, Parent: e.Parent, Name: e.Name, Path: path, SpecialUse: e.SpecialUse,
		Subscribed: e.Subscribed, UIDValidity: e.UIDValidity, UIDNext: 1, HighestModSeq: tx.lsn,
	}
	tx.putFolder(e.Account, f)
	tx.set(pathKey(e.Account, path), u64(nil, e.Folder))
	if e.Folder >= a.NextFolder {
		a.NextFolder = e.Folder + 1
		tx.putAccount(a)
	}
	last, _, err := getU64(tx.b, keyUIDValidity)
	if err != nil {
		return err
	}
	if uint64(e.UIDValidity) > last {
		tx.setU64(keyUIDValidity, uint64(e.UIDValidity))
	}
	tx.notify(Change{Account: e.Account, Folder: e.Folder, Kind: ChangeFolder, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyFolderRenamed(e event.FolderRenamed) error {
	f, err := tx.folder(e.Account, e.Folder)
	if err != nil {
		return err
	}
	newPath := e.NewName
	if e.NewParent != 0 {
		p, err := tx.folder(e.Account, e.NewParent)
		if err != nil {
			return err
		}
		newPath = p.Path + PathSep + e.NewName
	}
	oldPath := f.Path
	// Descendants keep their names and move with the folder.
	var kids []folderRec
	err = scan(tx.b, folderPrefix(e.Account), func(_, v []byte) error {
		var c folderRec
		if err := decVal(v, &c); err != nil {
			return err
		}
		if strings.HasPrefix(c.Path, oldPath+PathSep) {
			kids = append(kids, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	tx.del(pathKey(e.Account, oldPath))
	f.Parent, f.Name, f.Path = e.NewParent, e.NewName, newPath
	if e.NewUIDValidity != 0 {
		// The old UIDs mean nothing under the new UIDVALIDITY.
		if err := tx.dropTombstones(e.Account, f.ID); err != nil {
			return err
		}
		f.Vanished, f.VanishedFloor = 0, tx.lsn
		f.UIDValidity = e.NewUIDValidity
		last, _, err := getU64(tx.b, keyUIDValidity)
		if err != nil {
			return err
		}
		if uint64(e.NewUIDValidity) > last {
			tx.setU64(keyUIDValidity, uint64(e.NewUIDValidity))
		}
	}
	f.HighestModSeq = tx.lsn
	tx.putFolder(e.Account, f)
	tx.set(pathKey(e.Account, newPath), u64(nil, f.ID))
	for _, c := range kids {
		tx.del(pathKey(e.Account, c.Path))
	}
	for _, c := range kids {
		c.Path = newPath + c.Path[len(oldPath):]
		tx.putFolder(e.Account, c)
		tx.set(pathKey(e.Account, c.Path), u64(nil, c.ID))
	}
	tx.notify(Change{Account: e.Account, Folder: e.Folder, Kind: ChangeFolder, ModSeq: tx.lsn})
	return nil
}

// removeFolderItems drops every item of a folder: references, quota,
// item keys. It returns the removed items.
func (tx *txn) removeFolderItems(acct uint64, a *acctRec, folder uint64) ([]Item, error) {
	type entry struct {
		uid uint32
		it  itemRec
	}
	var items []entry
	err := scan(tx.b, itemPrefix(acct, folder), func(k, v []byte) error {
		var it itemRec
		if err := decVal(v, &it); err != nil {
			return err
		}
		items = append(items, entry{uidFromItemKey(k), it})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Item, 0, len(items))
	for _, x := range items {
		if _, err := tx.ref(x.it.Digest, -1, "", 0); err != nil {
			return nil, err
		}
		a.Used -= x.it.Size
		tx.delItem(acct, folder, x.uid, x.it)
		out = append(out, itemOf(acct, folder, x.uid, x.it))
	}
	return out, nil
}

func (tx *txn) applyFolderDeleted(e event.FolderDeleted) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	f, err := tx.folder(e.Account, e.Folder)
	if err != nil {
		return err
	}
	removed, err := tx.removeFolderItems(e.Account, &a, e.Folder)
	if err != nil {
		return err
	}
	tx.putAccount(a)
	if err := tx.dropTombstones(e.Account, e.Folder); err != nil {
		return err
	}
	tx.del(folderKey(e.Account, e.Folder))
	tx.del(pathKey(e.Account, f.Path))
	if len(removed) > 0 {
		tx.notify(Change{Account: e.Account, Folder: e.Folder, Kind: ChangeExpunged, Items: removed, ModSeq: tx.lsn})
	}
	tx.notify(Change{Account: e.Account, Folder: e.Folder, Kind: ChangeFolder, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyMessageAdded(e event.MessageAdded) error {
	vol := e.Volume
	p := tx.primary()
	if vol == "" {
		vol = p.name
	}
	created, err := tx.ref(e.Digest, int64(len(e.Targets)), vol, e.Size)
	if err != nil {
		return err
	}
	if len(e.Blob) > 0 && (created || tx.replay) {
		if vol != p.name {
			p = nil // replayed on an engine given another primary: its copy is where the record says
		}
		if _, dup := tx.inline[e.Digest]; !dup {
			tx.inline[e.Digest] = inlineBlob{d: e.Digest, raw: e.Blob, p: p}
			tx.inlineOrder = append(tx.inlineOrder, e.Digest)
		}
	}
	typ := e.ItemType
	if typ == 0 {
		typ = event.ItemMessage
	}
	// Targets are grouped per account and folder to load each once.
	accts := map[uint64]*acctRec{}
	folders := map[[2]uint64]*folderRec{}
	added := map[[2]uint64][]Item{}
	var order [][2]uint64
	for _, t := range e.Targets {
		a := accts[t.Account]
		if a == nil {
			ar, err := tx.account(t.Account)
			if err != nil {
				return err
			}
			a = &ar
			accts[t.Account] = a
		}
		fk := [2]uint64{t.Account, t.Folder}
		f := folders[fk]
		if f == nil {
			fr, err := tx.folder(t.Account, t.Folder)
			if err != nil {
				return err
			}
			f = &fr
			folders[fk] = f
			order = append(order, fk)
		}
		it := itemRec{
			ID: t.Item, Type: typ, Flags: t.Flags, InternalDate: t.InternalDate,
			Size: e.Size, Digest: e.Digest, ModSeq: tx.lsn,
		}
		tx.putItem(t.Account, t.Folder, t.UID, it, 0)
		countAdd(f, &it, +1)
		f.HighestModSeq = tx.lsn
		if t.UID >= f.UIDNext {
			f.UIDNext = t.UID + 1
		}
		a.Used += e.Size
		if t.Item >= a.NextItem {
			a.NextItem = t.Item + 1
		}
		added[fk] = append(added[fk], itemOf(t.Account, t.Folder, t.UID, it))
	}
	ids := make([]uint64, 0, len(accts))
	for id := range accts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		tx.putAccount(*accts[id])
	}
	for _, fk := range order {
		tx.putFolder(fk[0], *folders[fk])
		tx.notify(Change{Account: fk[0], Folder: fk[1], Kind: ChangeAdded, Items: added[fk], ModSeq: tx.lsn})
	}
	return nil
}

func (tx *txn) applyFlagsChanged(e event.FlagsChanged) error {
	f, err := tx.folder(e.Account, e.Folder)
	if err != nil {
		return err
	}
	changed := make([]Item, 0, len(e.Changes))
	for _, c := range e.Changes {
		loc, it, err := tx.item(e.Account, c.Item)
		if err != nil {
			return err
		}
		if loc.folder != e.Folder {
			return fmt.Errorf("%w: item %d is not in folder %d", ErrCorrupt, c.Item, e.Folder)
		}
		countAdd(&f, &it, -1)
		prev := it.ModSeq
		it.Flags = c.Flags
		it.ModSeq = tx.lsn
		countAdd(&f, &it, +1)
		tx.putItem(e.Account, loc.folder, loc.uid, it, prev)
		changed = append(changed, itemOf(e.Account, loc.folder, loc.uid, it))
	}
	f.HighestModSeq = tx.lsn
	tx.putFolder(e.Account, f)
	tx.notify(Change{Account: e.Account, Folder: e.Folder, Kind: ChangeFlags, Items: changed, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyItemsCopied(e event.ItemsCopied) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	dst, err := tx.folder(e.Account, e.To)
	if err != nil {
		return err
	}
	added := make([]Item, 0, len(e.Pairs))
	for _, p := range e.Pairs {
		_, src, err := tx.item(e.Account, p.From)
		if err != nil {
			return err
		}
		it := src
		it.ID, it.ModSeq = p.To, tx.lsn
		it.Flags = append([]string(nil), src.Flags...)
		if _, err := tx.ref(it.Digest, +1, "", 0); err != nil {
			return err
		}
		tx.putItem(e.Account, e.To, p.UID, it, 0)
		countAdd(&dst, &it, +1)
		if p.UID >= dst.UIDNext {
			dst.UIDNext = p.UID + 1
		}
		if p.To >= a.NextItem {
			a.NextItem = p.To + 1
		}
		a.Used += it.Size
		added = append(added, itemOf(e.Account, e.To, p.UID, it))
	}
	dst.HighestModSeq = tx.lsn
	tx.putFolder(e.Account, dst)
	tx.putAccount(a)
	tx.notify(Change{Account: e.Account, Folder: e.To, Kind: ChangeAdded, Items: added, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyItemsMoved(e event.ItemsMoved) error {
	src, err := tx.folder(e.Account, e.From)
	if err != nil {
		return err
	}
	dst, err := tx.folder(e.Account, e.To)
	if err != nil {
		return err
	}
	if e.From == e.To {
		dst = src
	}
	gone := make([]Item, 0, len(e.Pairs))
	added := make([]Item, 0, len(e.Pairs))
	for _, p := range e.Pairs {
		loc, it, err := tx.item(e.Account, p.Item)
		if err != nil {
			return err
		}
		if loc.folder != e.From {
			return fmt.Errorf("%w: item %d is not in folder %d", ErrCorrupt, p.Item, e.From)
		}
		gone = append(gone, itemOf(e.Account, e.From, loc.uid, it))
		tx.del(itemKey(e.Account, e.From, loc.uid))
		tx.del(changedKey(e.Account, e.From, it.ModSeq, loc.uid))
		countAdd(&src, &it, -1)
		if e.From == e.To {
			dst = src
		}
		it.ModSeq = tx.lsn
		tx.putItem(e.Account, e.To, p.UID, it, 0)
		countAdd(&dst, &it, +1)
		if p.UID >= dst.UIDNext {
			dst.UIDNext = p.UID + 1
		}
		if e.From == e.To {
			src = dst
		}
		added = append(added, itemOf(e.Account, e.To, p.UID, it))
	}
	if err := tx.addTombstones(e.Account, &src, uidsOf(gone)); err != nil {
		return err
	}
	if e.From == e.To {
		dst = src
	}
	src.HighestModSeq, dst.HighestModSeq = tx.lsn, tx.lsn
	tx.putFolder(e.Account, src)
	tx.putFolder(e.Account, dst) // the same record when From == To

	tx.notify(Change{Account: e.Account, Folder: e.From, Kind: ChangeExpunged, Items: gone, ModSeq: tx.lsn})
	tx.notify(Change{Account: e.Account, Folder: e.To, Kind: ChangeAdded, Items: added, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyItemsExpunged(e event.ItemsExpunged) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	f, err := tx.folder(e.Account, e.Folder)
	if err != nil {
		return err
	}
	gone := make([]Item, 0, len(e.Items))
	for _, id := range e.Items {
		loc, it, err := tx.item(e.Account, id)
		if err != nil {
			return err
		}
		if loc.folder != e.Folder {
			return fmt.Errorf("%w: item %d is not in folder %d", ErrCorrupt, id, e.Folder)
		}
		if _, err := tx.ref(it.Digest, -1, "", 0); err != nil {
			return err
		}
		countAdd(&f, &it, -1)
		a.Used -= it.Size
		tx.delItem(e.Account, loc.folder, loc.uid, it)
		gone = append(gone, itemOf(e.Account, loc.folder, loc.uid, it))
	}
	if err := tx.addTombstones(e.Account, &f, uidsOf(gone)); err != nil {
		return err
	}
	f.HighestModSeq = tx.lsn
	tx.putFolder(e.Account, f)
	tx.putAccount(a)
	tx.notify(Change{Account: e.Account, Folder: e.Folder, Kind: ChangeExpunged, Items: gone, ModSeq: tx.lsn})
	return nil
}

func uidsOf(items []Item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = it.UID
	}
	return out
}
