package catalog

import (
	"encoding/binary"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine/event"
)

// Catalog key space. Integers are big-endian so keys sort numerically.
// The prefixes A F I C D R S are the catalog proper: a pure function of the
// repository, compared by Digest. B (blobs present in the repository) and
// M (position, repository id) describe this copy and are left out.
//
//	A acct lsn ord             → AccountRec  (one per account version)
//	F acct folder lsn ord      → FolderRec
//	I acct item lsn ord        → ItemRec
//	C cos-name                 → event.COS   (current classes of service)
//	D time acct item           → lsn         (deletion index, by deletion time)
//	R digest                   → count       (item versions referencing the blob)
//	S acct lsn ord             → subsRec     (subscribed names, subscriptions.go)
//	B digest                   → BlobRec     (blob stored in the repository)
//	M name                     → meta values
//
// ord is 0 for a version made by a redo record, 1 for one made by a scan.
const (
	pAccount = 'A'
	pFolder  = 'F'
	pItem    = 'I'
	pCOS     = 'C'
	pDeleted = 'D'
	pRef     = 'R'
	pBlob    = 'B'
	pMeta    = 'M'
)

// The catalog's records use the repository's CBOR modes: deterministic
// encoding, so equal catalogs digest equally.
var cborEnc, cborDec = repository.CBORModes()

func key(p byte, ids ...uint64) []byte {
	k := make([]byte, 1, 1+8*len(ids)+1)
	k[0] = p
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, id)
	}
	return k
}

func versionKey(p byte, acct, id, lsn uint64, ord byte) []byte {
	return append(key(p, acct, id, lsn), ord)
}

// prefixEnd returns the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] != 0xff {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}

// parseVersionKey splits an A/F/I key into its ids.
func parseVersionKey(k []byte) (acct, id, lsn uint64, ord byte, ok bool) {
	if len(k) == 1+8+8+8+1 {
		return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:]), binary.BigEndian.Uint64(k[17:]), k[25], true
	}
	if len(k) == 1+8+8+1 { // account versions: acct lsn ord
		return binary.BigEndian.Uint64(k[1:]), 0, binary.BigEndian.Uint64(k[9:]), k[17], true
	}
	return 0, 0, 0, 0, false
}

// AccountRec is one version of an account.
type AccountRec struct {
	Time     int64         `cbor:"1,keyasint"`
	Account  event.Account `cbor:"2,keyasint"`
	Deleted  bool          `cbor:"3,keyasint,omitempty"`
	Excluded bool          `cbor:"4,keyasint,omitempty"` // in a class of service without backup
}

// FolderRec is one version of a folder.
type FolderRec struct {
	Time        int64  `cbor:"1,keyasint"`
	Parent      uint64 `cbor:"2,keyasint"`
	Name        string `cbor:"3,keyasint"`
	SpecialUse  string `cbor:"4,keyasint,omitempty"`
	UIDValidity uint32 `cbor:"5,keyasint"`
	Subscribed  bool   `cbor:"6,keyasint,omitempty"`
	Deleted     bool   `cbor:"7,keyasint,omitempty"`
}

// ItemRec is one version of an item. A deleted version keeps the fields
// the item had, so undelete reads one row.
type ItemRec struct {
	Time         int64    `cbor:"1,keyasint"`
	Folder       uint64   `cbor:"2,keyasint"`
	UID          uint32   `cbor:"3,keyasint"`
	Flags        []string `cbor:"4,keyasint,omitempty"`
	InternalDate int64    `cbor:"5,keyasint"`
	Digest       [32]byte `cbor:"6,keyasint"`
	Size         int64    `cbor:"7,keyasint"`
	Type         uint8    `cbor:"8,keyasint"`
	Deleted      bool     `cbor:"9,keyasint,omitempty"`
}

// BlobRec describes a blob stored in the repository.
type BlobRec struct {
	Raw    int64 `cbor:"1,keyasint"` // raw message bytes
	Stored int64 `cbor:"2,keyasint"` // bytes of the stored object
}
