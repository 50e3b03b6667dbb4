package engine

// Pebble key layout of the projection (meta/). Every key starts with a
// one-byte table prefix; integers are big-endian so keys sort numerically.
// Values are CBOR (core deterministic encoding), so equal state gives equal
// bytes and StateDigest can hash the raw key/value pairs.
//
//	0x01 "applied"                         -> u64   LSN of the last applied record
//	0x01 "nextacct"                        -> u64   next account id (never reused)
//	0x01 "uidvalidity"                     -> u32   last UIDVALIDITY handed out
//	0x01 "blobsynced"                      -> u64   inline blobs' volume copies durable up to this LSN
//	0x01 "vanishedfrom"                    -> u64   expunges are recorded in 0x0E from this LSN on
//	0x02 domain                            -> domainRec
//	0x03 cos name                          -> event.COS
//	0x04 acct(8)                           -> acctRec (provisioning, quota used, id counters)
//	0x05 address                           -> acct(8)   primary addresses and aliases, lower case
//	0x06 domain 0x00 address               -> acct(8)   the same, grouped by domain
//	0x07 acct(8) folder(8)                 -> folderRec (with UIDNEXT, HIGHESTMODSEQ, counts)
//	0x08 acct(8) pathkey                   -> folder(8) pathkey: the path, "INBOX" upper case
//	0x09 acct(8) item(8)                   -> folder(8) uid(4)
//	0x0A acct(8) folder(8) uid(4)          -> itemRec
//	0x0B digest(32)                        -> blobRec (reference count, volume, size)
//	0x0C droplsn(8) digest(32)             -> ""    blob whose count reached zero at droplsn
//	0x0D movelsn(8) digest(32)             -> volume   old copy of a blob moved at movelsn (hsmmove.go)
//	0x0E acct(8) folder(8) modseq(8)       -> []u32 UIDs that left the folder at modseq (vanished.go)
//	0x0F acct(8) folder(8) modseq(8) uid(4) -> ""   change index: each item under its MODSEQ (changes.go)
//	0x01 "changeindex"                     -> u64   1 once 0x0F holds every item (built at Open)
//	0x10 acct(8) name                      -> ""    a subscribed mailbox name (subscriptions.go)
//
// Table 0x01 also holds the volume registry and the HSM policy (volumes.go).
// Tables 0x01-0x0B, 0x0E and 0x10 (minus "applied", "blobsynced", "vanishedfrom"
// and blobs with no references) are a pure function of the redo log; 0x0C,
// 0x0D and unreferenced blob records depend on when collection ran, and
// "vanishedfrom" on when the projection was made, and are left out of
// StateDigest. 0x0F is derived from 0x0A alone (which the digest covers),
// so it and "changeindex" are left out too: a projection digests the same
// before and after its change index is built.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
	"github.com/fxamacker/cbor/v2"

	"github.com/tidemark/tidemark/engine/event"
)

const (
	tMeta      byte = 0x01
	tDomain    byte = 0x02
	tCOS       byte = 0x03
	tAccount   byte = 0x04
	tAddress   byte = 0x05
	tDomAddr   byte = 0x06
	tFolder    byte = 0x07
	tPath      byte = 0x08
	tItemLoc   byte = 0x09
	tItem      byte = 0x0A
	tBlob      byte = 0x0B
	tBlobDrop  byte = 0x0C
	tMoveDrop  byte = 0x0D
	tVanished  byte = 0x0E
	tChanged   byte = 0x0F
	tSub       byte = 0x10
	tableLimit byte = 0x11
)

var (
	keyApplied      = []byte{tMeta, 'a', 'p', 'p', 'l', 'i', 'e', 'd'}
	keyNextAccount  = []byte{tMeta, 'n', 'e', 'x', 't', 'a', 'c', 'c', 't'}
	keyUIDValidity  = append([]byte{tMeta}, "uidvalidity"...)
	keyBlobSynced   = append([]byte{tMeta}, "blobsynced"...)
	keyVanishedFrom = append([]byte{tMeta}, "vanishedfrom"...)
	keyChangeIndex  = append([]byte{tMeta}, "changeindex"...)
)

// domainRec is a domain's stored record.
type domainRec struct {
	Name  string            `cbor:"1,keyasint"`
	Attrs map[string]string `cbor:"2,keyasint,omitempty"`
}

// acctRec is an account's stored record.
type acctRec struct {
	A          event.Account `cbor:"1,keyasint"`
	Used       int64         `cbor:"2,keyasint"`
	NextFolder uint64        `cbor:"3,keyasint"`
	NextItem   uint64        `cbor:"4,keyasint"`
}

// folderRec is a folder's stored record; counts are kept exact by apply.
type folderRec struct {
	ID            uint64 `cbor:"1,keyasint"`
	Parent        uint64 `cbor:"2,keyasint"`
	Name          string `cbor:"3,keyasint"`
	Path          string `cbor:"4,keyasint"`
	SpecialUse    string `cbor:"5,keyasint,omitempty"`
	Subscribed    bool   `cbor:"6,keyasint,omitempty"` // the folder's own flag (subscriptions.go)
	UIDValidity   uint32 `cbor:"7,keyasint"`
	UIDNext       uint32 `cbor:"8,keyasint"`
	HighestModSeq uint64 `cbor:"9,keyasint"`
	Messages      uint32 `cbor:"10,keyasint"`
	Unseen        uint32 `cbor:"11,keyasint"`
	Deleted       uint32 `cbor:"12,keyasint"`
	Size          int64  `cbor:"13,keyasint"`
	// Vanished counts the UIDs in the folder's tombstones (0x0E);
	// VanishedFloor is the MODSEQ up to which tombstones were dropped
	// (vanished.go).
	Vanished      uint32 `cbor:"14,keyasint,omitempty"`
	VanishedFloor uint64 `cbor:"15,keyasint,omitempty"`
}

// itemRec is an item's stored record, under its folder and UID.
type itemRec struct {
	ID           uint64         `cbor:"1,keyasint"`
	Type         event.ItemType `cbor:"2,keyasint"`
	Flags        []string       `cbor:"3,keyasint,omitempty"`
	InternalDate int64          `cbor:"4,keyasint"`
	Size         int64          `cbor:"5,keyasint"`
	Digest       [32]byte       `cbor:"6,keyasint"`
	ModSeq       uint64         `cbor:"7,keyasint"`
}

// blobRec is a blob's reference count and location. It exists while the
// blob is referenced or waiting for collection; collection deletes it
// together with the volume object.
type blobRec struct {
	Refs    int64  `cbor:"1,keyasint"`
	Volume  string `cbor:"2,keyasint"`
	Size    int64  `cbor:"3,keyasint"`
	DropLSN uint64 `cbor:"4,keyasint,omitempty"` // set while waiting for collection
}

var (
	valEnc cbor.EncMode
	valDec cbor.DecMode
)

func init() {
	var err error
	if valEnc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if valDec, err = (cbor.DecOptions{}).DecMode(); err != nil {
		panic(err)
	}
}

func encVal(v any) []byte {
	b, err := valEnc.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("engine: encode %T: %v", v, err))
	}
	return b
}

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func u32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func domainKey(name string) []byte { return append([]byte{tDomain}, name...) }
func cosKey(name string) []byte    { return append([]byte{tCOS}, name...) }
func accountKey(id uint64) []byte  { return u64([]byte{tAccount}, id) }
func addressKey(a string) []byte   { return append([]byte{tAddress}, a...) }
func domAddrKey(dom, a string) []byte {
	k := append([]byte{tDomAddr}, dom...)
	k = append(k, 0)
	return append(k, a...)
}
func domAddrPrefix(dom string) []byte {
	return append(append([]byte{tDomAddr}, dom...), 0)
}
func folderKey(acct, f uint64) []byte { return u64(u64([]byte{tFolder}, acct), f) }
func folderPrefix(acct uint64) []byte { return u64([]byte{tFolder}, acct) }
func pathKey(acct uint64, path string) []byte {
	return append(u64([]byte{tPath}, acct), pathKeyOf(path)...)
}
func itemLocKey(acct, item uint64) []byte { return u64(u64([]byte{tItemLoc}, acct), item) }
func itemKey(acct, f uint64, uid uint32) []byte {
	return u32(u64(u64([]byte{tItem}, acct), f), uid)
}
func itemPrefix(acct, f uint64) []byte      { return u64(u64([]byte{tItem}, acct), f) }
func blobKey(d [32]byte) []byte             { return append([]byte{tBlob}, d[:]...) }
func dropKey(lsn uint64, d [32]byte) []byte { return append(u64([]byte{tBlobDrop}, lsn), d[:]...) }
func moveDropKey(lsn uint64, d [32]byte) []byte {
	return append(u64([]byte{tMoveDrop}, lsn), d[:]...)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// reader is what queries need from Pebble: the DB, a snapshot, or the
// writer's indexed batch (which sees its own uncommitted writes).
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// getVal decodes the value at key into v; found is false when absent.
func getVal(r reader, key []byte, v any) (found bool, err error) {
	b, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := valDec.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%w: decode %x: %v", ErrCorrupt, key, err)
	}
	return true, nil
}

// getU64 reads a big-endian integer value; 0 when absent.
func getU64(r reader, key []byte) (uint64, bool, error) {
	b, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	if len(b) < 8 {
		return 0, false, fmt.Errorf("%w: short integer at %x", ErrCorrupt, key)
	}
	return binary.BigEndian.Uint64(b), true, nil
}

// scan calls fn for each key/value with the prefix, in key order. The
// slices are only valid during the call.
func scan(r reader, prefix []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func decVal(b []byte, v any) error {
	if err := valDec.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: decode %T: %v", ErrCorrupt, v, err)
	}
	return nil
}
