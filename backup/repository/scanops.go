package repository

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/tidemark/tidemark/engine/event"
)

// Record types of SmartScan corrections. They live only in scan objects
// (never in the redo log) and are numbered far from event types.
const (
	TypeScanCOS     uint16 = 0xFF01
	TypeScanAccount uint16 = 0xFF02
	TypeScanFolder  uint16 = 0xFF03
	TypeScanItem    uint16 = 0xFF04
	// TypeScanSubscriptions is newer than the others: a catalog that
	// does not know it takes it for an unknown event and skips it.
	TypeScanSubscriptions uint16 = 0xFF05
)

// IsScanType reports whether a repository record is a SmartScan correction
// rather than a redo record.
func IsScanType(t uint16) bool { return t >= TypeScanCOS && t <= TypeScanSubscriptions }

// ScanCOS sets (or, Deleted, removes) a class of service.
type ScanCOS struct {
	COS     event.COS `cbor:"1,keyasint"`
	Deleted bool      `cbor:"2,keyasint,omitempty"`
}

// ScanAccount sets an account's provisioning as the engine has it. Deleted
// (gone from the engine) and Excluded (in a class of service without
// backup) both mark its folders and items deleted.
type ScanAccount struct {
	Account  event.Account `cbor:"1,keyasint"`
	Deleted  bool          `cbor:"2,keyasint,omitempty"`
	Excluded bool          `cbor:"3,keyasint,omitempty"`
}

// ScanFolder sets one folder as the engine has it.
type ScanFolder struct {
	Account     uint64 `cbor:"1,keyasint"`
	Folder      uint64 `cbor:"2,keyasint"`
	Parent      uint64 `cbor:"3,keyasint"`
	Name        string `cbor:"4,keyasint"`
	SpecialUse  string `cbor:"5,keyasint,omitempty"`
	UIDValidity uint32 `cbor:"6,keyasint"`
	Subscribed  bool   `cbor:"7,keyasint,omitempty"`
	Deleted     bool   `cbor:"8,keyasint,omitempty"`
}

// ScanItem sets one item as the engine has it.
type ScanItem struct {
	Account      uint64         `cbor:"1,keyasint"`
	Item         uint64         `cbor:"2,keyasint"`
	Folder       uint64         `cbor:"3,keyasint"`
	UID          uint32         `cbor:"4,keyasint"`
	Flags        []string       `cbor:"5,keyasint,omitempty"`
	InternalDate int64          `cbor:"6,keyasint"`
	Digest       [32]byte       `cbor:"7,keyasint"`
	Size         int64          `cbor:"8,keyasint"`
	Type         event.ItemType `cbor:"9,keyasint"`
	Deleted      bool           `cbor:"10,keyasint,omitempty"`
}

// ScanSubscriptions sets an account's list of subscribed names as the
// engine has it (event.SubscriptionsChanged; the folders' own flags are
// ScanFolder.Subscribed).
type ScanSubscriptions struct {
	Account uint64   `cbor:"1,keyasint"`
	Names   []string `cbor:"2,keyasint,omitempty"`
}

// DecodeScan parses the payload of a scan record (IsScanType) read with
// Repository.Records: a *ScanCOS, *ScanAccount, *ScanFolder, *ScanItem or
// *ScanSubscriptions.
// A payload that does not parse is ErrCorrupt.
func DecodeScan(t uint16, payload []byte) (any, error) { return decodeScan(t, payload) }

// decodeScan parses a scan record payload.
func decodeScan(t uint16, payload []byte) (any, error) {
	var v any
	switch t {
	case TypeScanCOS:
		v = &ScanCOS{}
	case TypeScanAccount:
		v = &ScanAccount{}
	case TypeScanFolder:
		v = &ScanFolder{}
	case TypeScanItem:
		v = &ScanItem{}
	case TypeScanSubscriptions:
		v = &ScanSubscriptions{}
	default:
		return nil, fmt.Errorf("%w: scan record type %#x", ErrCorrupt, t)
	}
	if err := cborDec.Unmarshal(payload, v); err != nil {
		return nil, fmt.Errorf("%w: scan record %#x: %v", ErrCorrupt, t, err)
	}
	return v, nil
}

// EncodeScan returns a scan record payload.
func EncodeScan(v any) (uint16, []byte) {
	switch v.(type) {
	case ScanCOS:
		return TypeScanCOS, mustMarshal(v)
	case ScanAccount:
		return TypeScanAccount, mustMarshal(v)
	case ScanFolder:
		return TypeScanFolder, mustMarshal(v)
	case ScanItem:
		return TypeScanItem, mustMarshal(v)
	case ScanSubscriptions:
		return TypeScanSubscriptions, mustMarshal(v)
	}
	panic(fmt.Sprintf("backup: not a scan record: %T", v))
}

// The repository's CBOR modes (scan records, snapshot positions): core
// deterministic encoding, default decoding. The catalog uses the same
// (CBORModes).
var (
	cborEnc cbor.EncMode
	cborDec cbor.DecMode
)

func init() {
	var err error
	if cborEnc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if cborDec, err = (cbor.DecOptions{}).DecMode(); err != nil {
		panic(err)
	}
}

func mustMarshal(v any) []byte {
	b, err := cborEnc.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// CBORModes returns the repository's CBOR encoding and decoding modes, for
// the catalog's records.
func CBORModes() (cbor.EncMode, cbor.DecMode) { return cborEnc, cborDec }

// MustMarshal encodes v in the repository's deterministic CBOR; a value
// that cannot be encoded is a programming error.
func MustMarshal(v any) []byte { return mustMarshal(v) }
