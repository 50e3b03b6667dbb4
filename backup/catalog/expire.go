package catalog

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// An Expiry is purge's batch over the catalog: the item versions
// retention removes, not yet committed, and the blobs no remaining
// version references.
type Expiry struct {
	b               *pebble.Batch
	Items, Versions int        // items removed, and their versions
	Dead            [][32]byte // blobs the catalog holds that no version references any more
}

// Expire removes, in one batch, every version of each item deleted before
// cutoff (unix ns) and still deleted, drops those deletion-index entries,
// and lists the blobs no version references any more. progress is called
// before each deleted item is looked at. Nothing is written before
// Commit; the caller holds Lock until it commits or closes the Expiry.
func (c *Catalog) Expire(cutoff int64, progress func(done, total int)) (*Expiry, error) {
	b := c.db.NewIndexedBatch()
	e := &Expiry{b: b}
	tx := &Txn{b: b}
	type victim struct{ acct, item uint64 }
	var victims []victim
	var delKeys [][]byte
	err := scanPrefixRange(b, []byte{pDeleted}, func(k, v []byte) error {
		if int64(binary.BigEndian.Uint64(k[1:])) >= cutoff {
			return errStop
		}
		delKeys = append(delKeys, append([]byte(nil), k...))
		victims = append(victims, victim{binary.BigEndian.Uint64(k[9:]), binary.BigEndian.Uint64(k[17:])})
		return nil
	})
	if err != nil && err != errStop {
		b.Close()
		return nil, err
	}
	for _, k := range delKeys {
		if err := b.Delete(k, nil); err != nil {
			b.Close()
			return nil, err
		}
	}
	for i, v := range victims {
		progress(i+1, len(victims))
		head, ok, err := tx.itemHead(v.acct, v.item)
		if err != nil {
			b.Close()
			return nil, err
		}
		if !ok || !head.Deleted || head.Time >= cutoff {
			continue // brought back since, or deleted again recently
		}
		var keys [][]byte
		if err := scanPrefixRange(b, key(pItem, v.acct, v.item), func(k, val []byte) error {
			var ir ItemRec
			if err := cborDec.Unmarshal(val, &ir); err != nil {
				return err
			}
			keys = append(keys, append([]byte(nil), k...))
			if ir.Digest != ([32]byte{}) {
				return tx.addRef(ir.Digest, -1)
			}
			return nil
		}); err != nil {
			b.Close()
			return nil, err
		}
		for _, k := range keys {
			if err := b.Delete(k, nil); err != nil {
				b.Close()
				return nil, err
			}
		}
		e.Items++
		e.Versions += len(keys)
	}
	// Blobs the repository holds that nothing references any more.
	if err := scanPrefixRange(b, []byte{pBlob}, func(k, _ []byte) error {
		var d [32]byte
		copy(d[:], k[1:])
		if _, ok, err := getValue(b, append([]byte{pRef}, d[:]...)); err != nil || ok {
			return err
		}
		e.Dead = append(e.Dead, d)
		return nil
	}); err != nil {
		b.Close()
		return nil, err
	}
	return e, nil
}

// Commit writes the batch durably.
func (e *Expiry) Commit() error { return e.b.Commit(pebble.Sync) }

// Close releases the batch, committed or not.
func (e *Expiry) Close() { e.b.Close() }

// DropBlobs removes, in one durable batch, the catalog's records that the
// repository holds the blobs ds (purge schedules them for deletion next).
func (c *Catalog) DropBlobs(ds [][32]byte) error {
	bb := c.db.NewBatch()
	defer bb.Close()
	for _, d := range ds {
		if err := bb.Delete(append([]byte{pBlob}, d[:]...), nil); err != nil {
			return err
		}
	}
	return bb.Commit(pebble.Sync)
}

var errStop = fmt.Errorf("stop")
