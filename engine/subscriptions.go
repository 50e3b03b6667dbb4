package engine

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/engine/event"
)

// An account's subscriptions are a list of mailbox names (RFC 9051 6.3.7,
// RFC 5258), kept apart from its folders: a name can be subscribed with no
// folder behind it, and CreateFolder, RenameFolder and DeleteFolder leave
// the list alone (RFC 9051 6.3.6: renaming does not update subscriptions;
// Dovecot does the same).
//
// The list is the table 0x0F (one key per name, event.SubscriptionsChanged)
// together with the paths of folders that carry their own subscription flag
// (folderRec.Subscribed), which is how subscriptions were kept before: logs
// written then hold FolderCreated{Subscribed} and FolderSubscribed records,
// and new accounts still get their starting folders flagged. Nothing is
// migrated in bulk: a flag is turned into a name, in a record, the first
// time something would otherwise change what it means (an unsubscribe, or a
// rename or delete of the folder, which used to carry the flag along or
// drop it).

// subKey is the key of a subscribed name.
func subKey(acct uint64, name string) []byte { return append(subPrefix(acct), name...) }

func subPrefix(acct uint64) []byte { return u64([]byte{tSub}, acct) }

// subscriptionName checks a mailbox name for the subscription list and
// returns it in path form ("INBOX" upper case, no empty components).
func subscriptionName(name string) (string, error) {
	parts, err := splitPath(name)
	if err != nil {
		return "", err
	}
	return strings.Join(parts, PathSep), nil
}

func (tx *txn) applySubscriptionsChanged(e event.SubscriptionsChanged) error {
	if _, err := tx.account(e.Account); err != nil {
		return err
	}
	for _, id := range e.Folders {
		f, err := tx.folder(e.Account, id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted since: nothing to clear
			}
			return err
		}
		if f.Subscribed {
			f.Subscribed = false
			tx.putFolder(e.Account, f)
		}
	}
	for _, n := range e.Names {
		if e.Subscribed {
			tx.set(subKey(e.Account, n), nil)
		} else {
			tx.del(subKey(e.Account, n))
		}
	}
	tx.notify(Change{Account: e.Account, Kind: ChangeFolder, ModSeq: tx.lsn})
	return nil
}

// dropSubscriptions removes an account's subscribed names (the account is
// deleted).
func (tx *txn) dropSubscriptions(acct uint64) error {
	var keys [][]byte
	if err := scan(tx.b, subPrefix(acct), func(k, _ []byte) error {
		keys = append(keys, slices.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		tx.del(k)
	}
	return nil
}

// subscribedNames returns the names in the account's list (without the
// flagged folders).
func subscribedNames(r reader, acct uint64) (map[string]bool, error) {
	p := subPrefix(acct)
	out := map[string]bool{}
	err := scan(r, p, func(k, _ []byte) error {
		out[string(k[len(p):])] = true
		return nil
	})
	return out, err
}

// nameSubscribed reports whether name is in the account's list.
func nameSubscribed(r reader, acct uint64, name string) (bool, error) {
	_, c, err := r.Get(subKey(acct, name))
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	c.Close()
	return true, nil
}

// Subscriptions returns the account's subscribed mailbox names, sorted:
// folders and names without a folder alike.
func (e *Engine) Subscriptions(ctx context.Context, acct uint64) ([]string, error) {
	if _, err := loadAccount(e.db, acct); err != nil {
		return nil, err
	}
	names, err := subscribedNames(e.db, acct)
	if err != nil {
		return nil, err
	}
	err = scan(e.db, folderPrefix(acct), func(_, v []byte) error {
		var f folderRec
		if err := decVal(v, &f); err != nil {
			return err
		}
		if f.Subscribed {
			names[f.Path] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// SubscribedNames returns the names in the account's list, sorted, without
// the folders that carry their own flag (Folder.OwnSubscribed): what the
// backup's SmartScan compares with SubscriptionsChanged records.
func (e *Engine) SubscribedNames(ctx context.Context, acct uint64) ([]string, error) {
	if _, err := loadAccount(e.db, acct); err != nil {
		return nil, err
	}
	names, err := subscribedNames(e.db, acct)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// SetSubscriptions subscribes (on) or unsubscribes mailbox names. A name
// need not have a folder (RFC 9051 6.3.7 lets a client subscribe a name that
// does not exist, and keeps it when its folder goes). Names already in the
// wanted state are left alone; when none changes, nothing is recorded. A
// name that is not a valid folder path gives ErrInvalid, a list that would
// grow beyond Options.MaxFolders names ErrLimit.
func (e *Engine) SetSubscriptions(ctx context.Context, acct uint64, names []string, on bool) error {
	want := make([]string, 0, len(names))
	for _, n := range names {
		p, err := subscriptionName(n)
		if err != nil {
			return err
		}
		if !slices.Contains(want, p) {
			want = append(want, p)
		}
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.account(acct); err != nil {
			return nil, nil, err
		}
		ev := event.SubscriptionsChanged{Account: acct, Subscribed: on}
		for _, n := range want {
			listed, err := nameSubscribed(tx.b, acct, n)
			if err != nil {
				return nil, nil, err
			}
			var flagged uint64
			if id, ok, err := folderIDByPath(tx.b, acct, n); err != nil {
				return nil, nil, err
			} else if ok {
				f, err := tx.folder(acct, id)
				if err != nil {
					return nil, nil, err
				}
				if f.Subscribed {
					flagged = id
				}
			}
			switch {
			case on && (listed || flagged != 0):
				continue // subscribed already
			case !on && !listed && flagged == 0:
				continue // not subscribed
			}
			if listed != on {
				ev.Names = append(ev.Names, n)
			}
			if flagged != 0 {
				ev.Folders = append(ev.Folders, flagged)
			}
		}
		if len(ev.Names) == 0 && len(ev.Folders) == 0 {
			return nil, nil, nil
		}
		if on {
			if err := e.checkSubscriptionLimit(tx, acct, len(ev.Names)); err != nil {
				return nil, nil, err
			}
		}
		return ev, nil, nil
	})
	return err
}

// SetSubscribed subscribes or unsubscribes a folder's name (SetSubscriptions
// of its path).
func (e *Engine) SetSubscribed(ctx context.Context, acct, folder uint64, on bool) error {
	f, err := loadFolder(e.db, acct, folder)
	if err != nil {
		return err
	}
	return e.SetSubscriptions(ctx, acct, []string{f.Path}, on)
}

// checkSubscriptionLimit refuses adding more names than MaxFolders allows
// (the list is read whole by every LIST (SUBSCRIBED) and LSUB).
func (e *Engine) checkSubscriptionLimit(tx *txn, acct uint64, adding int) error {
	m := e.opts.MaxFolders
	if m <= 0 || adding == 0 {
		return nil
	}
	n := adding
	err := scan(tx.b, subPrefix(acct), func(_, _ []byte) error {
		if n++; n > m {
			return errStopScan
		}
		return nil
	})
	if n > m {
		return limitf("an account has at most %d subscriptions", m)
	}
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return err
}

// keepSubscriptions moves the subscription flags of folders about to be
// renamed or deleted into the name list, in a record of its own before the
// change, so the names stay subscribed as RFC 9051 wants (the flag would
// follow the folder, or go with it). folders are the folder and, for a
// rename, everything under it.
func (e *Engine) keepSubscriptions(ctx context.Context, acct uint64, path string, subtree bool) error {
	var flagged []folderRec
	err := scan(e.db, folderPrefix(acct), func(_, v []byte) error {
		var f folderRec
		if err := decVal(v, &f); err != nil {
			return err
		}
		if f.Subscribed && (f.Path == path || subtree && strings.HasPrefix(f.Path, path+PathSep)) {
			flagged = append(flagged, f)
		}
		return nil
	})
	if err != nil || len(flagged) == 0 {
		return err
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		ev := event.SubscriptionsChanged{Account: acct, Subscribed: true}
		for _, old := range flagged {
			f, err := tx.folder(acct, old.ID)
			if errors.Is(err, ErrNotFound) || err == nil && !f.Subscribed {
				continue // changed meanwhile
			}
			if err != nil {
				return nil, nil, err
			}
			ev.Names = append(ev.Names, f.Path)
			ev.Folders = append(ev.Folders, f.ID)
		}
		if len(ev.Folders) == 0 {
			return nil, nil, nil
		}
		return ev, nil, nil
	})
	return err
}
