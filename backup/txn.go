package backup

import (
	"bytes"
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"
)

// txn applies repository records to the catalog through one indexed batch,
// so a record sees the versions the records before it in the batch wrote.
type txn struct {
	b    *pebble.Batch
	lsn  uint64
	time int64
	ord  byte // 0 redo record, 1 scan
	// rescan lists accounts whose backup was just re-enabled; the scanner
	// runs a SmartScan of each after the batch is shipped.
	rescan []uint64
}

func (c *Catalog) newTxn() *txn { return &txn{b: c.db.NewIndexedBatch()} }

func (t *txn) set(k []byte, v any) error { return t.b.Set(k, mustMarshal(v), nil) }

func (t *txn) accountHead(acct uint64) (accountRec, bool, error) {
	var r accountRec
	_, v, ok, err := lastUnder(t.b, key(pAccount, acct))
	if err != nil || !ok {
		return r, ok, err
	}
	return r, true, cborDec.Unmarshal(v, &r)
}

func (t *txn) folderHead(acct, folder uint64) (folderRec, bool, error) {
	var r folderRec
	_, v, ok, err := lastUnder(t.b, key(pFolder, acct, folder))
	if err != nil || !ok {
		return r, ok, err
	}
	return r, true, cborDec.Unmarshal(v, &r)
}

func (t *txn) itemHead(acct, item uint64) (itemRec, bool, error) {
	var r itemRec
	_, v, ok, err := lastUnder(t.b, key(pItem, acct, item))
	if err != nil || !ok {
		return r, ok, err
	}
	return r, true, cborDec.Unmarshal(v, &r)
}

// included reports whether the account's changes are backed up: unknown
// accounts are (the catalog may have missed their creation), deleted or
// excluded ones are not.
func (t *txn) included(acct uint64) (bool, error) {
	h, ok, err := t.accountHead(acct)
	if err != nil || !ok {
		return true, err
	}
	return !h.Deleted && !h.Excluded, nil
}

// sameRec compares two versions ignoring their times.
func sameRec(a, b []byte) bool { return bytes.Equal(a, b) }

func (t *txn) putAccount(acct uint64, r accountRec, onlyIfChanged bool) (bool, error) {
	r.Time = t.time
	if onlyIfChanged {
		h, ok, err := t.accountHead(acct)
		if err != nil {
			return false, err
		}
		h.Time = r.Time
		if ok && sameRec(mustMarshal(h), mustMarshal(r)) {
			return false, nil
		}
	}
	return true, t.set(append(key(pAccount, acct, t.lsn), t.ord), r)
}

func (t *txn) putFolder(acct, folder uint64, r folderRec, onlyIfChanged bool) (bool, error) {
	r.Time = t.time
	if onlyIfChanged {
		h, ok, err := t.folderHead(acct, folder)
		if err != nil {
			return false, err
		}
		h.Time = r.Time
		if ok && sameRec(mustMarshal(h), mustMarshal(r)) {
			return false, nil
		}
		if !ok && r.Deleted {
			return false, nil
		}
	}
	return true, t.set(versionKey(pFolder, acct, folder, t.lsn, t.ord), r)
}

// putItem writes a version, counts its blob reference and indexes a
// deletion.
func (t *txn) putItem(acct, item uint64, r itemRec, onlyIfChanged bool) (bool, error) {
	r.Time = t.time
	if onlyIfChanged {
		h, ok, err := t.itemHead(acct, item)
		if err != nil {
			return false, err
		}
		h.Time = r.Time
		if ok && sameRec(mustMarshal(h), mustMarshal(r)) {
			return false, nil
		}
		if !ok && r.Deleted {
			return false, nil
		}
	}
	k := versionKey(pItem, acct, item, t.lsn, t.ord)
	if _, exists, err := getValue(t.b, k); err != nil {
		return false, err
	} else if !exists && r.Digest != ([32]byte{}) {
		if err := t.addRef(r.Digest, 1); err != nil {
			return false, err
		}
	}
	if r.Deleted {
		if err := t.b.Set(key(pDeleted, uint64(t.time), acct, item), binary.BigEndian.AppendUint64(nil, t.lsn), nil); err != nil {
			return false, err
		}
	}
	return true, t.set(k, r)
}

func (t *txn) addRef(d [32]byte, delta int64) error {
	k := append([]byte{pRef}, d[:]...)
	v, ok, err := getValue(t.b, k)
	if err != nil {
		return err
	}
	var n int64
	if ok && len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n <= 0 {
		return t.b.Delete(k, nil)
	}
	return t.b.Set(k, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
}

// heads calls fn with the newest version of every folder (p = pFolder) or
// item (pItem) of an account.
func heads[R any](t *txn, p byte, acct uint64, fn func(id uint64, r R) error) error {
	var cur uint64
	var last []byte
	have := false
	flush := func() error {
		if !have {
			return nil
		}
		var r R
		if err := cborDec.Unmarshal(last, &r); err != nil {
			return err
		}
		return fn(cur, r)
	}
	err := scanPrefixRange(t.b, key(p, acct), func(k, v []byte) error {
		_, id, _, _, _ := parseVersionKey(k)
		if have && id != cur {
			if err := flush(); err != nil {
				return err
			}
		}
		cur, last, have = id, append(last[:0], v...), true
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// dropContents marks every live folder and item of acct deleted.
func (t *txn) dropContents(acct uint64) error {
	type pending struct {
		id uint64
		r  itemRec
	}
	var items []pending
	if err := heads(t, pItem, acct, func(id uint64, r itemRec) error {
		if !r.Deleted {
			items = append(items, pending{id, r})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, p := range items {
		p.r.Deleted = true
		if _, err := t.putItem(acct, p.id, p.r, false); err != nil {
			return err
		}
	}
	type fpending struct {
		id uint64
		r  folderRec
	}
	var folders []fpending
	if err := heads(t, pFolder, acct, func(id uint64, r folderRec) error {
		if !r.Deleted {
			folders = append(folders, fpending{id, r})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, f := range folders {
		f.r.Deleted = true
		if _, err := t.putFolder(acct, f.id, f.r, false); err != nil {
			return err
		}
	}
	return nil
}
