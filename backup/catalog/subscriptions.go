package catalog

import (
	"slices"
	"sort"
	"time"

	"github.com/tidemark/tidemark/engine/event"
)

// pSub keys hold versions of an account's list of subscribed names
// (event.SubscriptionsChanged):
//
//	S acct lsn ord → subsRec (the whole list as of that version)
//
// An account's subscriptions as of a time are that list together with the
// paths of its folders that carry their own subscription flag (folderRec
// .Subscribed, set by records written before subscriptions were names).
const pSub = 'S'

// subsRec is one version of an account's list of subscribed names.
type subsRec struct {
	Time  int64    `cbor:"1,keyasint"`
	Names []string `cbor:"2,keyasint,omitempty"`
}

func (t *Txn) subscriptionsHead(acct uint64) ([]string, error) {
	_, v, ok, err := lastUnder(t.b, key(pSub, acct))
	if err != nil || !ok {
		return nil, err
	}
	var r subsRec
	if err := cborDec.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	return r.Names, nil
}

// applySubscriptions records a new version of the account's list and
// clears the flags of the folders the change names.
func (t *Txn) applySubscriptions(e event.SubscriptionsChanged) error {
	for _, id := range e.Folders {
		h, ok, err := t.folderHead(e.Account, id)
		if err != nil {
			return err
		}
		if ok && !h.Deleted && h.Subscribed {
			if err := t.modifyFolder(e.Account, id, func(f *FolderRec) { f.Subscribed = false }); err != nil {
				return err
			}
		}
	}
	names, err := t.subscriptionsHead(e.Account)
	if err != nil {
		return err
	}
	changed := false
	for _, n := range e.Names {
		i, found := slices.BinarySearch(names, n)
		switch {
		case e.Subscribed && !found:
			names = slices.Insert(slices.Clone(names), i, n)
			changed = true
		case !e.Subscribed && found:
			names = slices.Delete(slices.Clone(names), i, i+1)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return t.set(append(key(pSub, e.Account, t.lsn), t.ord), subsRec{Time: t.time, Names: names})
}

// setSubscriptions makes the account's list names (a SmartScan
// correction): a new version when it differs.
func (t *Txn) setSubscriptions(acct uint64, names []string) error {
	have, err := t.subscriptionsHead(acct)
	if err != nil {
		return err
	}
	want := slices.Clone(names)
	slices.Sort(want)
	want = slices.Compact(want)
	if slices.Equal(have, want) {
		return nil
	}
	return t.set(append(key(pSub, acct, t.lsn), t.ord), subsRec{Time: t.time, Names: want})
}

// subscriptionsAt returns the account's subscribed names as of at, and
// marks the folders of folders (its folders as of at) whose path is one.
func (c *Catalog) subscriptionsAt(acct uint64, at time.Time, folders []FolderState) ([]string, error) {
	var names []string
	tn := at.UnixNano()
	err := scanPrefixRange(c.db, key(pSub, acct), func(_, v []byte) error {
		var r subsRec
		if err := cborDec.Unmarshal(v, &r); err != nil {
			return err
		}
		if r.Time <= tn {
			names = r.Names
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(names)+len(folders))
	for _, n := range names {
		set[n] = true
	}
	for _, f := range folders {
		if f.Subscribed {
			set[f.Path] = true
		}
	}
	for i := range folders {
		folders[i].Subscribed = set[folders[i].Path]
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
