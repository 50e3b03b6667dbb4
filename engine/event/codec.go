package event

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"

	"github.com/tidemark/tidemark/internal/corrupt"
)

// Version is the payload version written for every event type today.
const Version byte = 1

// ErrCorrupt marks a payload that cannot be decoded.
var ErrCorrupt = corrupt.New("event: corrupt payload")

// ErrUnknownType marks a record type this build does not know. A reader
// that only routes events may skip such records; apply must stop.
var ErrUnknownType = errors.New("event: unknown type")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		// Bound what a corrupt or hostile payload can make us allocate.
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 16,
		MaxNestedLevels:  16,
		// Unknown keys are fields added by newer writers: ignore them.
		ExtraReturnErrors: cbor.ExtraDecErrorNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// prototypes maps each type to its struct, for decoding.
var prototypes = map[Type]reflect.Type{
	TypeDomainCreated:        reflect.TypeFor[DomainCreated](),
	TypeDomainModified:       reflect.TypeFor[DomainModified](),
	TypeDomainDeleted:        reflect.TypeFor[DomainDeleted](),
	TypeCOSCreated:           reflect.TypeFor[COSCreated](),
	TypeCOSModified:          reflect.TypeFor[COSModified](),
	TypeCOSDeleted:           reflect.TypeFor[COSDeleted](),
	TypeAccountCreated:       reflect.TypeFor[AccountCreated](),
	TypeAccountModified:      reflect.TypeFor[AccountModified](),
	TypeAccountRenamed:       reflect.TypeFor[AccountRenamed](),
	TypeAccountDeleted:       reflect.TypeFor[AccountDeleted](),
	TypePasswordSet:          reflect.TypeFor[PasswordSet](),
	TypeAliasAdded:           reflect.TypeFor[AliasAdded](),
	TypeAliasRemoved:         reflect.TypeFor[AliasRemoved](),
	TypeFolderCreated:        reflect.TypeFor[FolderCreated](),
	TypeFolderRenamed:        reflect.TypeFor[FolderRenamed](),
	TypeFolderDeleted:        reflect.TypeFor[FolderDeleted](),
	TypeFolderSubscribed:     reflect.TypeFor[FolderSubscribed](),
	TypeSubscriptionsChanged: reflect.TypeFor[SubscriptionsChanged](),
	TypeMessageAdded:         reflect.TypeFor[MessageAdded](),
	TypeFlagsChanged:         reflect.TypeFor[FlagsChanged](),
	TypeItemsCopied:          reflect.TypeFor[ItemsCopied](),
	TypeItemsMoved:           reflect.TypeFor[ItemsMoved](),
	TypeItemsExpunged:        reflect.TypeFor[ItemsExpunged](),
	TypeBlobMoved:            reflect.TypeFor[BlobMoved](),
	TypeVolumeCreated:        reflect.TypeFor[VolumeCreated](),
	TypeVolumeModified:       reflect.TypeFor[VolumeModified](),
	TypeVolumeDeleted:        reflect.TypeFor[VolumeDeleted](),
	TypeVolumeCurrentSet:     reflect.TypeFor[VolumeCurrentSet](),
	TypeHSMPolicySet:         reflect.TypeFor[HSMPolicySet](),
}

// Encode returns the record payload for e: the version byte and the CBOR
// body. Encoding is deterministic: equal events give equal bytes.
func Encode(e Event) ([]byte, error) {
	if e == nil {
		return nil, errors.New("event: encode nil event")
	}
	if _, ok := prototypes[e.Type()]; !ok {
		return nil, fmt.Errorf("event: encode %v: %w", e.Type(), ErrUnknownType)
	}
	body, err := encMode.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("event: encode %v: %w", e.Type(), err)
	}
	out := make([]byte, 0, 1+len(body))
	out = append(out, Version)
	return append(out, body...), nil
}

// MustEncode is Encode for events built by the engine itself, whose
// encoding cannot fail.
func MustEncode(e Event) []byte {
	b, err := Encode(e)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode parses the payload of a record of type t. It never panics; a
// payload it cannot parse gives an error wrapping ErrCorrupt, a type it does
// not know one wrapping ErrUnknownType.
func Decode(t Type, payload []byte) (Event, error) {
	proto, ok := prototypes[t]
	if !ok {
		return nil, fmt.Errorf("event: decode %v: %w", t, ErrUnknownType)
	}
	if len(payload) == 0 {
		return nil, fmt.Errorf("event: decode %v: empty payload: %w", t, ErrCorrupt)
	}
	switch v := payload[0]; v {
	case 1:
		p := reflect.New(proto)
		if err := decMode.Unmarshal(payload[1:], p.Interface()); err != nil {
			return nil, fmt.Errorf("event: decode %v v%d: %v: %w", t, v, err, ErrCorrupt)
		}
		return p.Elem().Interface().(Event), nil
	default:
		return nil, fmt.Errorf("event: decode %v: unknown version %d: %w", t, v, ErrCorrupt)
	}
}

// Describe returns the type name and decoded event of a record payload, for
// dumps: digests are shown in hex, inline blob bytes as their length, and
// password hashes are withheld (a dump is for reading, not for harvesting
// hashes). It falls back to the decode error when the payload does not
// decode.
func Describe(t uint16, payload []byte) (name string, detail any) {
	e, err := Decode(Type(t), payload)
	if err != nil {
		return Type(t).String(), map[string]string{"error": err.Error()}
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return Type(t).String(), map[string]string{"error": err.Error()}
	}
	// Numbers stay exact (times are int64 nanoseconds, beyond float64).
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Type(t).String(), map[string]string{"error": err.Error()}
	}
	if ma, ok := e.(MessageAdded); ok {
		delete(m, "Blob")
		m["InlineBlob"] = len(ma.Blob)
	}
	return Type(t).String(), tidy(m)
}

// tidy rewrites a decoded event for display: 32-byte digests as hex,
// password hashes withheld, empty fields dropped.
func tidy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch {
			case val == nil:
				delete(x, k)
			case k == "PasswordHash" || k == "Hash":
				if s, _ := val.(string); s != "" {
					x[k] = "(withheld)"
				} else {
					delete(x, k)
				}
			case k == "Digest":
				x[k] = digestHex(val)
			default:
				x[k] = tidy(val)
			}
		}
		return x
	case []any:
		for i := range x {
			x[i] = tidy(x[i])
		}
		return x
	}
	return v
}

func digestHex(v any) any {
	arr, ok := v.([]any)
	if !ok || len(arr) != 32 {
		return v
	}
	b := make([]byte, 32)
	for i, n := range arr {
		num, ok := n.(json.Number)
		if !ok {
			return v
		}
		x, err := num.Int64()
		if err != nil || x < 0 || x > 255 {
			return v
		}
		b[i] = byte(x)
	}
	return hex.EncodeToString(b)
}
