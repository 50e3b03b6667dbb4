package engine

import (
	"github.com/tidemark/tidemark/engine/event"
)

// Provisioning half of apply: domains, accounts, addresses.

func (tx *txn) applyDomainCreated(e event.DomainCreated) error {
	tx.set(domainKey(e.Name), encVal(domainRec{Name: e.Name, Attrs: e.Attrs}))
	return nil
}

func (tx *txn) applyDomainModified(e event.DomainModified) error {
	tx.set(domainKey(e.Name), encVal(domainRec{Name: e.Name, Attrs: e.Attrs}))
	return nil
}

func (tx *txn) addAddress(id uint64, addr string) {
	tx.set(addressKey(addr), u64(nil, id))
	tx.set(domAddrKey(domainOf(addr), addr), u64(nil, id))
}

func (tx *txn) removeAddress(addr string) {
	tx.del(addressKey(addr))
	tx.del(domAddrKey(domainOf(addr), addr))
}

func (tx *txn) applyAccountCreated(e event.AccountCreated) error {
	a := acctRec{A: e.Account, NextFolder: 1, NextItem: 1}
	tx.putAccount(a)
	tx.addAddress(a.A.ID, a.A.Address)
	for _, al := range a.A.Aliases {
		tx.addAddress(a.A.ID, al)
	}
	next, _, err := getU64(tx.b, keyNextAccount)
	if err != nil {
		return err
	}
	if e.Account.ID >= next {
		tx.setU64(keyNextAccount, e.Account.ID+1)
	}
	for _, f := range e.Folders {
		if err := tx.applyFolderCreated(f); err != nil {
			return err
		}
	}
	tx.notify(Change{Account: a.A.ID, Kind: ChangeAccount, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) updateAccount(id uint64, fn func(*acctRec)) error {
	a, err := tx.account(id)
	if err != nil {
		return err
	}
	fn(&a)
	tx.putAccount(a)
	tx.notify(Change{Account: id, Kind: ChangeAccount, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyAccountModified(e event.AccountModified) error {
	return tx.updateAccount(e.Account.ID, func(a *acctRec) {
		n := e.Account
		n.ID, n.Address, n.Aliases, n.PasswordHash, n.Created = a.A.ID, a.A.Address, a.A.Aliases, a.A.PasswordHash, a.A.Created
		a.A = n
	})
}

func (tx *txn) applyAccountRenamed(e event.AccountRenamed) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	tx.removeAddress(a.A.Address)
	a.A.Address = e.NewAddress
	tx.addAddress(a.A.ID, e.NewAddress)
	tx.putAccount(a)
	tx.notify(Change{Account: e.Account, Kind: ChangeAccount, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyAliasAdded(e event.AliasAdded) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	a.A.Aliases = append(a.A.Aliases, e.Alias)
	tx.addAddress(a.A.ID, e.Alias)
	tx.putAccount(a)
	tx.notify(Change{Account: e.Account, Kind: ChangeAccount, ModSeq: tx.lsn})
	return nil
}

func (tx *txn) applyAliasRemoved(e event.AliasRemoved) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	kept := a.A.Aliases[:0:0]
	for _, al := range a.A.Aliases {
		if al != e.Alias {
			kept = append(kept, al)
		}
	}
	a.A.Aliases = kept
	tx.removeAddress(e.Alias)
	tx.putAccount(a)
	tx.notify(Change{Account: e.Account, Kind: ChangeAccount, ModSeq: tx.lsn})
	return nil
}

// applyAccountDeleted removes the account with all its folders and items,
// releasing every blob reference it held.
func (tx *txn) applyAccountDeleted(e event.AccountDeleted) error {
	a, err := tx.account(e.Account)
	if err != nil {
		return err
	}
	var folders []folderRec
	err = scan(tx.b, folderPrefix(e.Account), func(_, v []byte) error {
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
		if _, err := tx.removeFolderItems(e.Account, &a, f.ID); err != nil {
			return err
		}
		if err := tx.dropTombstones(e.Account, f.ID); err != nil {
			return err
		}
		tx.del(folderKey(e.Account, f.ID))
		tx.del(pathKey(e.Account, f.Path))
	}
	if err := tx.dropSubscriptions(e.Account); err != nil {
		return err
	}
	tx.removeAddress(a.A.Address)
	for _, al := range a.A.Aliases {
		tx.removeAddress(al)
	}
	tx.del(accountKey(e.Account))
	tx.notify(Change{Account: e.Account, Kind: ChangeAccount, ModSeq: tx.lsn})
	return nil
}
