package catalog

import (
	"context"
	"encoding/binary"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
)

// AccountVersion is one version of an account's provisioning.
type AccountVersion struct {
	LSN      uint64
	Time     time.Time // when this version began
	Account  event.Account
	Deleted  bool // the account was deleted
	Excluded bool // its class of service has backup disabled: treated as deleted
	Scan     bool // made by a SmartScan rather than a redo record
}

// Gone reports whether the account did not exist (for backup) in this
// version.
func (v AccountVersion) Gone() bool { return v.Deleted || v.Excluded }

// FolderState is a folder as of some time.
type FolderState struct {
	ID, Parent  uint64
	Name        string
	Path        string // "/"-separated, from the names of its ancestors at the same time
	SpecialUse  string
	UIDValidity uint32
	Subscribed  bool      // its path is subscribed (AccountState.Subscriptions)
	Since       time.Time // when this version began
	LSN         uint64
}

// ItemVersion is one version of an item (created, changed, moved or
// deleted), or an item's state as of some time.
type ItemVersion struct {
	Account      uint64
	ID           uint64
	LSN          uint64
	Time         time.Time // when this version began (for a deleted version: when it was deleted)
	Folder       uint64
	FolderPath   string // filled by AccountAt and DeletedBetween
	UID          uint32
	Flags        []string
	InternalDate time.Time
	Digest       dedup.Digest
	Size         int64
	Type         event.ItemType
	Deleted      bool
	Scan         bool
}

// AccountState is an account with its folders and items as of a time.
type AccountState struct {
	AsOf    time.Time
	Version AccountVersion // the account version in force at AsOf
	Folders []FolderState  // sorted by Path
	Items   []ItemVersion  // live items, sorted by folder path then UID
	// Subscriptions are the subscribed mailbox names, sorted: folder
	// paths and names without a folder (RFC 9051 6.3.7).
	Subscriptions []string
}

func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func toItem(acct, id, lsn uint64, ord byte, r ItemRec) ItemVersion {
	return ItemVersion{Account: acct, ID: id, LSN: lsn, Time: nsTime(r.Time), Folder: r.Folder, UID: r.UID,
		Flags: r.Flags, InternalDate: nsTime(r.InternalDate), Digest: dedup.Digest(r.Digest), Size: r.Size,
		Type: event.ItemType(r.Type), Deleted: r.Deleted, Scan: ord == 1}
}

// AccountVersions returns every version of an account, oldest first.
func (c *Catalog) AccountVersions(ctx context.Context, acct uint64) ([]AccountVersion, error) {
	var out []AccountVersion
	err := scanPrefixRange(c.db, key(pAccount, acct), func(k, v []byte) error {
		var r AccountRec
		if err := cborDec.Unmarshal(v, &r); err != nil {
			return err
		}
		_, _, lsn, ord, _ := parseVersionKey(k)
		out = append(out, AccountVersion{LSN: lsn, Time: nsTime(r.Time), Account: r.Account,
			Deleted: r.Deleted, Excluded: r.Excluded, Scan: ord == 1})
		return nil
	})
	if err == nil && len(out) == 0 {
		return nil, repository.ErrNotFound
	}
	return out, err
}

// Accounts returns the newest version of every account the catalog knows,
// deleted ones included, by account id.
func (c *Catalog) Accounts(ctx context.Context) ([]AccountVersion, error) {
	var out []AccountVersion
	err := scanPrefixRange(c.db, []byte{pAccount}, func(k, v []byte) error {
		var r AccountRec
		if err := cborDec.Unmarshal(v, &r); err != nil {
			return err
		}
		acct, _, lsn, ord, _ := parseVersionKey(k)
		av := AccountVersion{LSN: lsn, Time: nsTime(r.Time), Account: r.Account, Deleted: r.Deleted, Excluded: r.Excluded, Scan: ord == 1}
		av.Account.ID = acct
		if n := len(out); n > 0 && out[n-1].Account.ID == acct {
			out[n-1] = av
		} else {
			out = append(out, av)
		}
		return nil
	})
	return out, err
}

// DeletedAccounts returns the accounts whose newest version is deleted or
// excluded from backup, with the version that removed them.
func (c *Catalog) DeletedAccounts(ctx context.Context) ([]AccountVersion, error) {
	all, err := c.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []AccountVersion
	for _, a := range all {
		if a.Gone() {
			out = append(out, a)
		}
	}
	return out, nil
}

// FindAccount returns the id of the account that had address (primary,
// case-insensitive) as of t; the newest match wins.
func (c *Catalog) FindAccount(ctx context.Context, address string, t time.Time) (uint64, error) {
	all, err := c.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	var best uint64
	var bestTime time.Time
	for _, a := range all {
		vs, err := c.AccountVersions(ctx, a.Account.ID)
		if err != nil {
			return 0, err
		}
		if v, ok := versionAt(vs, t); ok && strings.EqualFold(v.Account.Address, address) && !v.Time.Before(bestTime) {
			best, bestTime = a.Account.ID, v.Time
		}
	}
	if best == 0 {
		return 0, repository.ErrNotFound
	}
	return best, nil
}

// versionAt picks the last version (in LSN order) that began at or before t.
func versionAt(vs []AccountVersion, t time.Time) (AccountVersion, bool) {
	var out AccountVersion
	ok := false
	for _, v := range vs {
		if !v.Time.After(t) {
			out, ok = v, true
		}
	}
	return out, ok
}

// ItemVersions returns every version of an item, oldest first.
func (c *Catalog) ItemVersions(ctx context.Context, acct, item uint64) ([]ItemVersion, error) {
	var out []ItemVersion
	err := scanPrefixRange(c.db, key(pItem, acct, item), func(k, v []byte) error {
		var r ItemRec
		if err := cborDec.Unmarshal(v, &r); err != nil {
			return err
		}
		_, _, lsn, ord, _ := parseVersionKey(k)
		out = append(out, toItem(acct, item, lsn, ord, r))
		return nil
	})
	if err == nil && len(out) == 0 {
		return nil, repository.ErrNotFound
	}
	return out, err
}

// ItemAt returns the item's version in force at t (which may be a deleted
// version); ok is false when the item did not exist yet.
func (c *Catalog) ItemAt(ctx context.Context, acct, item uint64, t time.Time) (ItemVersion, bool, error) {
	vs, err := c.ItemVersions(ctx, acct, item)
	if err != nil {
		return ItemVersion{}, false, err
	}
	var out ItemVersion
	ok := false
	for _, v := range vs {
		if !v.Time.After(t) {
			out, ok = v, true
		}
	}
	return out, ok, nil
}

// AccountAt returns the account with its folders and live items as of t.
// An account that did not exist or was gone at t yields ErrNotFound; use
// AccountVersions or DeletedAccounts to find when it was there.
func (c *Catalog) AccountAt(ctx context.Context, acct uint64, t time.Time) (AccountState, error) {
	vs, err := c.AccountVersions(ctx, acct)
	if err != nil {
		return AccountState{}, err
	}
	av, ok := versionAt(vs, t)
	if !ok || av.Gone() {
		return AccountState{}, repository.ErrNotFound
	}
	st := AccountState{AsOf: t, Version: av}
	if st.Folders, err = c.foldersAt(acct, t); err != nil {
		return AccountState{}, err
	}
	if st.Subscriptions, err = c.subscriptionsAt(acct, t, st.Folders); err != nil {
		return AccountState{}, err
	}
	paths := map[uint64]string{}
	for _, f := range st.Folders {
		paths[f.ID] = f.Path
	}
	if err := eachAt(c.db, key(pItem, acct), t, func(id, lsn uint64, ord byte, v []byte) error {
		var r ItemRec
		if err := cborDec.Unmarshal(v, &r); err != nil {
			return err
		}
		if !r.Deleted {
			it := toItem(acct, id, lsn, ord, r)
			it.FolderPath = paths[r.Folder]
			st.Items = append(st.Items, it)
		}
		return nil
	}); err != nil {
		return AccountState{}, err
	}
	sort.Slice(st.Items, func(i, j int) bool {
		a, b := st.Items[i], st.Items[j]
		if a.FolderPath != b.FolderPath {
			return a.FolderPath < b.FolderPath
		}
		return a.UID < b.UID
	})
	return st, nil
}

// FoldersAt returns the account's folders as of t, sorted by path, without
// reading its items (AccountAt reads both). An account that did not exist
// or was gone at t yields ErrNotFound.
func (c *Catalog) FoldersAt(ctx context.Context, acct uint64, t time.Time) ([]FolderState, error) {
	vs, err := c.AccountVersions(ctx, acct)
	if err != nil {
		return nil, err
	}
	if av, ok := versionAt(vs, t); !ok || av.Gone() {
		return nil, repository.ErrNotFound
	}
	fs, err := c.foldersAt(acct, t)
	if err != nil {
		return nil, err
	}
	_, err = c.subscriptionsAt(acct, t, fs)
	return fs, err
}

func (c *Catalog) foldersAt(acct uint64, t time.Time) ([]FolderState, error) {
	folders := map[uint64]FolderState{}
	if err := eachAt(c.db, key(pFolder, acct), t, func(id, lsn uint64, _ byte, v []byte) error {
		var r FolderRec
		if err := cborDec.Unmarshal(v, &r); err != nil {
			return err
		}
		if !r.Deleted {
			folders[id] = FolderState{ID: id, Parent: r.Parent, Name: r.Name, SpecialUse: r.SpecialUse,
				UIDValidity: r.UIDValidity, Subscribed: r.Subscribed, Since: nsTime(r.Time), LSN: lsn}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]FolderState, 0, len(folders))
	for id, f := range folders {
		f.Path = folderPath(folders, id)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// folderPath joins the names from the root down to id. A parent missing
// from the map (deleted or unknown) ends the walk.
func folderPath(folders map[uint64]FolderState, id uint64) string {
	var parts []string
	for seen := 0; id != 0 && seen < 256; seen++ {
		f, ok := folders[id]
		if !ok {
			break
		}
		parts = append(parts, f.Name)
		id = f.Parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// eachAt calls fn with, for every id under prefix (acct), the value of its
// last version that began at or before t.
func eachAt(r pebble.Reader, prefix []byte, t time.Time, fn func(id, lsn uint64, ord byte, v []byte) error) error {
	tn := t.UnixNano()
	var cur, curLSN uint64
	var curOrd byte
	var val []byte
	have := false
	err := scanPrefixRange(r, prefix, func(k, v []byte) error {
		_, id, lsn, ord, _ := parseVersionKey(k)
		if have && id != cur {
			if val != nil {
				if err := fn(cur, curLSN, curOrd, val); err != nil {
					return err
				}
			}
			val = nil
		}
		cur, have = id, true
		var head struct {
			Time int64 `cbor:"1,keyasint"`
		}
		if err := cborDec.Unmarshal(v, &head); err != nil {
			return err
		}
		if head.Time <= tn {
			val, curLSN, curOrd = append(val[:0], v...), lsn, ord
		}
		return nil
	})
	if err != nil {
		return err
	}
	if have && val != nil {
		return fn(cur, curLSN, curOrd, val)
	}
	return nil
}

// DeletedBetween returns the items deleted in [t1, t2] (acct 0: every
// account), each as its deleted version: the fields it had, the deletion
// LSN and time, and the folder path it had just before.
func (c *Catalog) DeletedBetween(ctx context.Context, acct uint64, t1, t2 time.Time) ([]ItemVersion, error) {
	lo := key(pDeleted, clampNs(t1))
	hi := key(pDeleted, clampNs(t2)+1)
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	type del struct{ acct, item, lsn uint64 }
	var ds []del
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		a, item := binary.BigEndian.Uint64(k[9:]), binary.BigEndian.Uint64(k[17:])
		if acct == 0 || a == acct {
			ds = append(ds, del{a, item, binary.BigEndian.Uint64(it.Value())})
		}
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	var out []ItemVersion
	pathCache := map[[2]uint64]string{}
	for _, d := range ds {
		vs, err := c.ItemVersions(ctx, d.acct, d.item)
		if err != nil {
			continue // purged since
		}
		for _, v := range vs {
			if v.LSN == d.lsn && v.Deleted {
				pk := [2]uint64{d.acct, v.Folder}
				p, ok := pathCache[pk]
				if !ok {
					p = c.folderPathAt(d.acct, v.Folder, v.Time.Add(-time.Nanosecond))
					pathCache[pk] = p
				}
				v.FolderPath = p
				out = append(out, v)
				break
			}
		}
	}
	return out, nil
}

// folderPathAt returns a folder's path as of t ("" if unknown).
func (c *Catalog) folderPathAt(acct, folder uint64, t time.Time) string {
	folders := map[uint64]FolderState{}
	_ = eachAt(c.db, key(pFolder, acct), t, func(id, lsn uint64, _ byte, v []byte) error {
		var r FolderRec
		if err := cborDec.Unmarshal(v, &r); err == nil {
			folders[id] = FolderState{ID: id, Parent: r.Parent, Name: r.Name}
		}
		return nil
	})
	return folderPath(folders, folder)
}

// BlobRefs returns how many item versions reference the blob.
func (c *Catalog) BlobRefs(ctx context.Context, d dedup.Digest) (int64, error) {
	v, ok, err := getValue(c.db, append([]byte{pRef}, d[:]...))
	if err != nil || !ok || len(v) != 8 {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// clampNs maps t to unix ns for key ranges, the zero time and anything
// before 1970 to 0.
func clampNs(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixNano())
}
