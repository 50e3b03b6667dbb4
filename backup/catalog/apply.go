package catalog

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// apply folds one repository record (redo or scan) into the catalog. It is
// deterministic: the same records in the same order give the same catalog.
// Events of unknown types are skipped (a newer writer); a payload that does
// not decode is an error.
func (t *Txn) Apply(rec redolog.Record) error {
	t.lsn, t.time = rec.LSN, rec.Time
	t.ord = 0
	if repository.IsScanType(rec.Type) {
		t.ord = 1
		v, err := repository.DecodeScan(rec.Type, rec.Payload)
		if err != nil {
			return err
		}
		return t.applyScan(v)
	}
	ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
	if errors.Is(err, event.ErrUnknownType) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("apply lsn %d: %w", rec.LSN, err)
	}
	if err := t.applyEvent(ev); err != nil {
		return fmt.Errorf("apply lsn %d %v: %w", rec.LSN, ev.Type(), err)
	}
	return nil
}

func (t *Txn) applyEvent(ev event.Event) error {
	// Mailbox events of accounts that are not backed up change nothing.
	switch ev.(type) {
	case event.FolderCreated, event.FolderRenamed, event.FolderDeleted, event.FolderSubscribed,
		event.SubscriptionsChanged, event.FlagsChanged, event.ItemsCopied, event.ItemsMoved, event.ItemsExpunged:
		in, err := t.Included(ev.(event.AccountScoped).AccountID())
		if err != nil || !in {
			return err
		}
	}
	switch e := ev.(type) {
	case event.COSCreated:
		return t.setCOS(e.COS)
	case event.COSModified:
		return t.setCOS(e.COS)
	case event.COSDeleted:
		return t.b.Delete(append([]byte{pCOS}, e.Name...), nil)
	case event.AccountCreated:
		return t.accountCreated(e)
	case event.AccountModified:
		return t.modifyAccount(e.Account.ID, func(a *event.Account) {
			id, addr, aliases, hash, created := a.ID, a.Address, a.Aliases, a.PasswordHash, a.Created
			*a = e.Account
			a.ID, a.Address, a.Aliases, a.PasswordHash, a.Created = id, addr, aliases, hash, created
		})
	case event.AccountRenamed:
		return t.modifyAccount(e.Account, func(a *event.Account) { a.Address = e.NewAddress })
	case event.PasswordSet:
		return t.modifyAccount(e.Account, func(a *event.Account) { a.PasswordHash = e.Hash })
	case event.AliasAdded:
		return t.modifyAccount(e.Account, func(a *event.Account) { a.Aliases = append(a.Aliases, e.Alias) })
	case event.AliasRemoved:
		return t.modifyAccount(e.Account, func(a *event.Account) {
			out := a.Aliases[:0:0]
			for _, x := range a.Aliases {
				if x != e.Alias {
					out = append(out, x)
				}
			}
			a.Aliases = out
		})
	case event.AccountDeleted:
		h, _, err := t.AccountHead(e.Account)
		if err != nil {
			return err
		}
		h.Deleted = true
		if _, err := t.putAccount(e.Account, h, false); err != nil {
			return err
		}
		return t.dropContents(e.Account)
	case event.FolderCreated:
		_, err := t.putFolder(e.Account, e.Folder, FolderRec{Parent: e.Parent, Name: e.Name,
			SpecialUse: e.SpecialUse, UIDValidity: e.UIDValidity, Subscribed: e.Subscribed}, false)
		return err
	case event.FolderRenamed:
		return t.modifyFolder(e.Account, e.Folder, func(f *FolderRec) {
			f.Parent, f.Name = e.NewParent, e.NewName
			if e.NewUIDValidity != 0 {
				f.UIDValidity = e.NewUIDValidity
			}
		})
	case event.FolderSubscribed:
		return t.modifyFolder(e.Account, e.Folder, func(f *FolderRec) { f.Subscribed = e.Subscribed })
	case event.SubscriptionsChanged:
		return t.applySubscriptions(e)
	case event.FolderDeleted:
		gone := map[uint64]bool{}
		for _, id := range e.Items {
			gone[id] = true
		}
		// Items the catalog still has in the folder go too, listed or not.
		if err := heads(t, pItem, e.Account, func(id uint64, r ItemRec) error {
			if !r.Deleted && r.Folder == e.Folder {
				gone[id] = true
			}
			return nil
		}); err != nil {
			return err
		}
		for _, id := range sortedIDs(gone) {
			if err := t.modifyItem(e.Account, id, func(r *ItemRec) { r.Deleted = true }); err != nil {
				return err
			}
		}
		return t.modifyFolder(e.Account, e.Folder, func(f *FolderRec) { f.Deleted = true })
	case event.MessageAdded:
		for _, tg := range e.Targets {
			if in, err := t.Included(tg.Account); err != nil || !in {
				if err != nil {
					return err
				}
				continue
			}
			r := ItemRec{Folder: tg.Folder, UID: tg.UID, Flags: tg.Flags, InternalDate: tg.InternalDate,
				Digest: e.Digest, Size: e.Size, Type: uint8(e.ItemType)}
			if _, err := t.putItem(tg.Account, tg.Item, r, false); err != nil {
				return err
			}
		}
		return nil
	case event.FlagsChanged:
		for _, ch := range e.Changes {
			if err := t.modifyItem(e.Account, ch.Item, func(r *ItemRec) { r.Flags = ch.Flags }); err != nil {
				return err
			}
		}
		return nil
	case event.ItemsCopied:
		for _, p := range e.Pairs {
			src, ok, err := t.itemHead(e.Account, p.From)
			if err != nil {
				return err
			}
			if !ok {
				continue // the source predates what the repository holds
			}
			src.Folder, src.UID, src.Deleted = e.To, p.UID, false
			if _, err := t.putItem(e.Account, p.To, src, false); err != nil {
				return err
			}
		}
		return nil
	case event.ItemsMoved:
		for _, p := range e.Pairs {
			if err := t.modifyItem(e.Account, p.Item, func(r *ItemRec) { r.Folder, r.UID = e.To, p.UID }); err != nil {
				return err
			}
		}
		return nil
	case event.ItemsExpunged:
		for _, id := range e.Items {
			if err := t.modifyItem(e.Account, id, func(r *ItemRec) { r.Deleted = true }); err != nil {
				return err
			}
		}
		return nil
	}
	return nil // domains, blob moves: not part of the catalog
}

func (t *Txn) setCOS(c event.COS) error {
	k := append([]byte{pCOS}, c.Name...)
	var old event.COS
	had, err := getCBOR(t.b, k, &old)
	if err != nil {
		return err
	}
	if err := t.set(k, c); err != nil {
		return err
	}
	if had && old.Backup != c.Backup {
		return t.reclassify(c.Name)
	}
	return nil
}

// cosBackup reports whether accounts in the named class are backed up
// (unknown classes and the empty name are).
func (t *Txn) cosBackup(name string) (bool, error) {
	if name == "" {
		return true, nil
	}
	var c event.COS
	ok, err := getCBOR(t.b, append([]byte{pCOS}, name...), &c)
	if err != nil || !ok {
		return true, err
	}
	return c.Backup, nil
}

// reclassify re-evaluates every live account of a class of service.
func (t *Txn) reclassify(cos string) error {
	var accts []uint64
	err := scanPrefixRange(t.b, []byte{pAccount}, func(k, v []byte) error {
		acct, _, _, _, _ := parseVersionKey(k)
		if len(accts) == 0 || accts[len(accts)-1] != acct {
			accts = append(accts, acct)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range accts {
		h, _, err := t.AccountHead(a)
		if err != nil {
			return err
		}
		if h.Deleted || h.Account.COS != cos {
			continue
		}
		if err := t.modifyAccount(a, func(*event.Account) {}); err != nil {
			return err
		}
	}
	return nil
}

func (t *Txn) accountCreated(e event.AccountCreated) error {
	backup, err := t.cosBackup(e.Account.COS)
	if err != nil {
		return err
	}
	r := AccountRec{Account: e.Account, Excluded: !backup}
	if _, err := t.putAccount(e.Account.ID, r, false); err != nil {
		return err
	}
	if !backup {
		return nil
	}
	for _, f := range e.Folders {
		if _, err := t.putFolder(e.Account.ID, f.Folder, FolderRec{Parent: f.Parent, Name: f.Name,
			SpecialUse: f.SpecialUse, UIDValidity: f.UIDValidity, Subscribed: f.Subscribed}, false); err != nil {
			return err
		}
	}
	return nil
}

// modifyAccount writes a new account version and handles a change of
// backup eligibility: excluded accounts lose their folders and items (as if
// deleted); re-included ones are queued for a SmartScan.
func (t *Txn) modifyAccount(acct uint64, fn func(*event.Account)) error {
	h, ok, err := t.AccountHead(acct)
	if err != nil {
		return err
	}
	if !ok {
		h.Account.ID = acct
	}
	if h.Deleted {
		return nil
	}
	fn(&h.Account)
	backup, err := t.cosBackup(h.Account.COS)
	if err != nil {
		return err
	}
	was := h.Excluded
	h.Excluded = !backup
	if _, err := t.putAccount(acct, h, false); err != nil {
		return err
	}
	switch {
	case !was && h.Excluded:
		return t.dropContents(acct)
	case was && !h.Excluded:
		t.rescan = append(t.rescan, acct)
	}
	return nil
}

func (t *Txn) modifyFolder(acct, folder uint64, fn func(*FolderRec)) error {
	h, ok, err := t.folderHead(acct, folder)
	if err != nil || !ok || h.Deleted {
		return err
	}
	fn(&h)
	_, err = t.putFolder(acct, folder, h, false)
	return err
}

func (t *Txn) modifyItem(acct, item uint64, fn func(*ItemRec)) error {
	h, ok, err := t.itemHead(acct, item)
	if err != nil || !ok || h.Deleted {
		return err
	}
	fn(&h)
	_, err = t.putItem(acct, item, h, false)
	return err
}

// applyScan applies one SmartScan correction. Corrections are absolute
// ("the engine has this"), so applying one that matches the head writes
// nothing.
func (t *Txn) applyScan(v any) error {
	switch s := v.(type) {
	case *repository.ScanCOS:
		k := append([]byte{pCOS}, s.COS.Name...)
		old, had, err := getValue(t.b, k)
		if err != nil {
			return err
		}
		if s.Deleted {
			if !had {
				return nil
			}
			return t.b.Delete(k, nil)
		}
		// The encoding is deterministic: equal bytes, equal class. An
		// idle SmartScan must find nothing to write.
		v := repository.MustMarshal(s.COS)
		if had && bytes.Equal(old, v) {
			return nil
		}
		return t.b.Set(k, v, nil)
	case *repository.ScanAccount:
		r := AccountRec{Account: s.Account, Deleted: s.Deleted, Excluded: s.Excluded}
		changed, err := t.putAccount(s.Account.ID, r, true)
		if err != nil || !changed {
			return err
		}
		if s.Deleted || s.Excluded {
			return t.dropContents(s.Account.ID)
		}
		return nil
	case *repository.ScanFolder:
		_, err := t.putFolder(s.Account, s.Folder, FolderRec{Parent: s.Parent, Name: s.Name, SpecialUse: s.SpecialUse,
			UIDValidity: s.UIDValidity, Subscribed: s.Subscribed, Deleted: s.Deleted}, true)
		return err
	case *repository.ScanSubscriptions:
		return t.setSubscriptions(s.Account, s.Names)
	case *repository.ScanItem:
		_, err := t.putItem(s.Account, s.Item, ItemRec{Folder: s.Folder, UID: s.UID, Flags: s.Flags,
			InternalDate: s.InternalDate, Digest: s.Digest, Size: s.Size, Type: uint8(s.Type), Deleted: s.Deleted}, true)
		return err
	}
	return nil
}
