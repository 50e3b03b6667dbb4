package catalog

import (
	"bytes"
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/backup/repository"
)

// A Txn applies repository records to the catalog through one indexed
// batch, so a record sees the versions the records before it in the batch
// wrote: the scanner builds one while it ships (the records it applies,
// the blobs it stored and, at commit, the position shipped). A Txn is used
// by one goroutine; Close releases it, committed or not.
type Txn struct {
	c    *Catalog // nil for a batch purge builds
	b    *pebble.Batch
	lsn  uint64
	time int64
	ord  byte // 0 redo record, 1 scan
	// rescan lists accounts whose backup was just re-enabled; the scanner
	// runs a SmartScan of each after the batch is shipped.
	rescan []uint64
	// included caches Included per account for the batch: the scanner
	// asks it for every record. putAccount, the only writer of account
	// versions, drops the account's answer.
	included map[uint64]bool
}

func (t *Txn) set(k []byte, v any) error { return t.b.Set(k, repository.MustMarshal(v), nil) }

func (t *Txn) AccountHead(acct uint64) (AccountRec, bool, error) {
	var r AccountRec
	_, v, ok, err := lastUnder(t.b, key(pAccount, acct))
	if err != nil || !ok {
		return r, ok, err
	}
	return r, true, cborDec.Unmarshal(v, &r)
}

func (t *Txn) folderHead(acct, folder uint64) (FolderRec, bool, error) {
	var r FolderRec
	_, v, ok, err := lastUnder(t.b, key(pFolder, acct, folder))
	if err != nil || !ok {
		return r, ok, err
	}
	return r, true, cborDec.Unmarshal(v, &r)
}

func (t *Txn) itemHead(acct, item uint64) (ItemRec, bool, error) {
	var r ItemRec
	_, v, ok, err := lastUnder(t.b, key(pItem, acct, item))
	if err != nil || !ok {
		return r, ok, err
	}
	return r, true, cborDec.Unmarshal(v, &r)
}

// Included reports whether the account's changes are backed up: unknown
// accounts are (the catalog may have missed their creation), deleted or
// excluded ones are not.
func (t *Txn) Included(acct uint64) (bool, error) {
	if in, ok := t.included[acct]; ok {
		return in, nil
	}
	h, ok, err := t.AccountHead(acct)
	if err != nil {
		return true, err
	}
	in := !ok || (!h.Deleted && !h.Excluded)
	if t.included == nil {
		t.included = map[uint64]bool{}
	}
	t.included[acct] = in
	return in, nil
}

// sameRec compares two versions ignoring their times.
func sameRec(a, b []byte) bool { return bytes.Equal(a, b) }

func (t *Txn) putAccount(acct uint64, r AccountRec, onlyIfChanged bool) (bool, error) {
	r.Time = t.time
	if onlyIfChanged {
		h, ok, err := t.AccountHead(acct)
		if err != nil {
			return false, err
		}
		h.Time = r.Time
		if ok && sameRec(repository.MustMarshal(h), repository.MustMarshal(r)) {
			return false, nil
		}
	}
	delete(t.included, acct)
	return true, t.set(append(key(pAccount, acct, t.lsn), t.ord), r)
}

func (t *Txn) putFolder(acct, folder uint64, r FolderRec, onlyIfChanged bool) (bool, error) {
	r.Time = t.time
	if onlyIfChanged {
		h, ok, err := t.folderHead(acct, folder)
		if err != nil {
			return false, err
		}
		h.Time = r.Time
		if ok && sameRec(repository.MustMarshal(h), repository.MustMarshal(r)) {
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
func (t *Txn) putItem(acct, item uint64, r ItemRec, onlyIfChanged bool) (bool, error) {
	r.Time = t.time
	if onlyIfChanged {
		h, ok, err := t.itemHead(acct, item)
		if err != nil {
			return false, err
		}
		h.Time = r.Time
		if ok && sameRec(repository.MustMarshal(h), repository.MustMarshal(r)) {
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

func (t *Txn) addRef(d [32]byte, delta int64) error {
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
func heads[R any](t *Txn, p byte, acct uint64, fn func(id uint64, r R) error) error {
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
func (t *Txn) dropContents(acct uint64) error {
	if err := dropLive(t, pItem, acct, func(r *ItemRec) *bool { return &r.Deleted }, t.putItem); err != nil {
		return err
	}
	return dropLive(t, pFolder, acct, func(r *FolderRec) *bool { return &r.Deleted }, t.putFolder)
}

// dropLive writes a deleted version of every live head record of acct
// under prefix p. The heads are gathered first, then written, so the walk
// does not see its own writes.
func dropLive[R any](t *Txn, p byte, acct uint64, deleted func(*R) *bool, put func(acct, id uint64, r R, onlyIfChanged bool) (bool, error)) error {
	type pending struct {
		id uint64
		r  R
	}
	var live []pending
	if err := heads(t, p, acct, func(id uint64, r R) error {
		if !*deleted(&r) {
			live = append(live, pending{id, r})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, l := range live {
		*deleted(&l.r) = true
		if _, err := put(acct, l.id, l.r, false); err != nil {
			return err
		}
	}
	return nil
}

// NewTxn starts a batch over the catalog.
func (c *Catalog) NewTxn() *Txn { return &Txn{b: c.db.NewIndexedBatch(), c: c} }

// HasBlob reports whether the catalog (or this batch) records the blob as
// stored in the repository.
func (t *Txn) HasBlob(d [32]byte) (bool, error) {
	_, ok, err := getValue(t.b, append([]byte{pBlob}, d[:]...))
	return ok, err
}

// PutBlob records a blob stored in the repository.
func (t *Txn) PutBlob(d [32]byte, r BlobRec) error {
	return t.set(append([]byte{pBlob}, d[:]...), r)
}

// Rescan lists the accounts whose backup the batch re-enabled: each needs
// a SmartScan once the batch is shipped.
func (t *Txn) Rescan() []uint64 { return t.rescan }

// Count is the number of changes in the batch.
func (t *Txn) Count() uint32 { return t.b.Count() }

// Commit writes the batch durably with the position shipped, marking a
// SmartScan as due when Rescan is not empty, under the catalog's writer
// lock (Catalog.Lock).
func (t *Txn) Commit(pos repository.Position) error {
	if err := t.set(metaPosition, pos); err != nil {
		return err
	}
	if len(t.rescan) > 0 {
		if err := t.b.Set(metaNeedScan, []byte{1}, nil); err != nil {
			return err
		}
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.b.Commit(syncWrite)
}

// Close releases the batch.
func (t *Txn) Close() { t.b.Close() }

// FolderHeads calls fn with the newest version of every folder of acct
// the catalog holds, in id order.
func (t *Txn) FolderHeads(acct uint64, fn func(id uint64, r FolderRec) error) error {
	return heads(t, pFolder, acct, fn)
}

// ItemHeads calls fn with the newest version of every item of acct the
// catalog holds, in id order.
func (t *Txn) ItemHeads(acct uint64, fn func(id uint64, r ItemRec) error) error {
	return heads(t, pItem, acct, fn)
}
