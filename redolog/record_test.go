package redolog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{
		{LSN: 1, Time: 1, Type: 0, Payload: nil},
		{LSN: 42, Time: 1_700_000_000_000_000_000, Type: 7, Payload: []byte("hello")},
		{LSN: 1<<64 - 1, Time: -5, Type: 1<<16 - 1, Payload: bytes.Repeat([]byte{0xff}, 5000)},
	} {
		b := AppendRecord([]byte("prefix"), r)
		if len(b) != 6+r.EncodedSize() {
			t.Fatalf("encoded %d bytes, want %d", len(b)-6, r.EncodedSize())
		}
		got, n, err := DecodeRecord(append(b[6:], "trailing"...))
		if err != nil {
			t.Fatalf("decode lsn %d: %v", r.LSN, err)
		}
		if n != r.EncodedSize() || got.LSN != r.LSN || got.Time != r.Time || got.Type != r.Type || !bytes.Equal(got.Payload, r.Payload) {
			t.Fatalf("round trip: got %+v n=%d, want %+v", got, n, r)
		}
	}
}

func TestRecordLayout(t *testing.T) {
	b := AppendRecord(nil, Record{LSN: 3, Time: 9, Type: 2, Payload: []byte("ab")})
	if got := binary.LittleEndian.Uint32(b); got != 20 {
		t.Errorf("length field %d, want 20", got)
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != 3 {
		t.Errorf("lsn field %d", got)
	}
	if got := binary.LittleEndian.Uint64(b[16:]); got != 9 {
		t.Errorf("time field %d", got)
	}
	if got := binary.LittleEndian.Uint16(b[24:]); got != 2 {
		t.Errorf("type field %d", got)
	}
	if string(b[26:]) != "ab" {
		t.Errorf("payload %q", b[26:])
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := AppendRecord(nil, Record{LSN: 5, Time: 10, Type: 1, Payload: []byte("payload")})
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"header only", good[:8]},
		{"short payload", good[:len(good)-1]},
		{"flipped payload bit", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"flipped crc", mut(func(b []byte) []byte { b[4] ^= 0x80; return b })},
		{"flipped length", mut(func(b []byte) []byte { b[0]--; return b })},
		{"length below minimum", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 17); return b })},
		{"huge length", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 1<<31); return b })},
		{"zeros", make([]byte, 64)},
		{"lsn zero", AppendRecord(nil, Record{LSN: 0, Time: 1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := DecodeRecord(tc.in)
			if !errors.Is(err, ErrCorrupt) || n != 0 {
				t.Fatalf("got n=%d err=%v, want ErrCorrupt", n, err)
			}
		})
	}
}

func TestSegmentHeader(t *testing.T) {
	h, err := parseHeader(appendHeader(nil, 77))
	if err != nil || h.version != FormatVersion || h.first != 77 || h.size != headerSizeV1 {
		t.Fatalf("v1 header: %+v %v", h, err)
	}
	v0 := []byte("TMRL\x00\x00\x00\x00")
	if h, err := parseHeader(v0); err != nil || h.version != 0 || h.size != headerSizeV0 {
		t.Fatalf("v0 header: %+v %v", h, err)
	}
	bad := appendHeader(nil, 77)
	bad[9] ^= 1
	if _, err := parseHeader(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped first lsn: %v", err)
	}
	if _, err := parseHeader([]byte("TMRL\x09\x00\x00\x00")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("future version: %v", err)
	}
	if n, ok := parseSegmentName(segmentName(123)); !ok || n != 123 {
		t.Fatalf("segment name round trip: %d %v", n, ok)
	}
	for _, bad := range []string{"LOCK", "00000000000000000000.log", "123.log", "0000000000000000001x.log"} {
		if _, ok := parseSegmentName(bad); ok {
			t.Errorf("parseSegmentName(%q) accepted", bad)
		}
	}
}
