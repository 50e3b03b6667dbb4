package repository

import (
	"errors"
	"testing"

	"github.com/tidemark/tidemark/redolog"
)

func TestSegmentRoundTrip(t *testing.T) {
	recs := []redolog.Record{{LSN: 3, Time: 30, Type: 40, Payload: []byte("a")}, {LSN: 5, Time: 50, Type: 41, Payload: []byte("bb")}}
	b := EncodeRecords(KindSegment, 3, 6, recs)
	h, got, err := decodeRecords(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.First != 3 || h.Last != 6 || h.FirstTime != 30 || h.LastTime != 50 || len(got) != 2 || string(got[1].Payload) != "bb" {
		t.Fatalf("got %+v %+v", h, got)
	}
	for _, i := range []int{2, 20, ObjHeaderSize + 3, len(b) - 2} {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, _, err := decodeRecords(c); !errors.Is(err, ErrCorrupt) {
			t.Errorf("flip at %d: err %v, want ErrCorrupt", i, err)
		}
	}
}

func TestChain(t *testing.T) {
	segs := []SegmentInfo{
		{First: 1, Last: 5}, {First: 6, Last: 9}, {First: 1, Last: 20}, {First: 10, Last: 20},
		{First: 21, Last: 25}, {First: 30, Last: 31}, {First: 26, Last: 28},
	}
	got := Chain(segs, 0)
	want := [][2]uint64{{1, 20}, {21, 25}, {26, 28}, {30, 31}}
	if len(got) != len(want) {
		t.Fatalf("chain %+v", got)
	}
	for i, w := range want {
		if got[i].First != w[0] || got[i].Last != w[1] {
			t.Fatalf("chain[%d] = %d-%d, want %v", i, got[i].First, got[i].Last, w)
		}
	}
	if got := Chain(segs, 22); len(got) != 3 || got[0].First != 21 {
		t.Fatalf("chain from 22: %+v", got)
	}
	for _, n := range []string{SegmentName(1, 20), ScanName(7, 99), SnapshotObjName(42, 1)} {
		if _, _, ok := ParseSegmentName(n); ok != (n == SegmentName(1, 20)) {
			t.Errorf("parse %s", n)
		}
	}
}

// TestPackMagic: new packs start with "TMBP"; packs under the magic they
// shared with hsm/packvol before ("TMPK") still pass, anything else fails.
func TestPackMagic(t *testing.T) {
	obj := encodePack([][]byte{{0}}, []int64{0}, nil)
	if string(obj[:4]) != "TMBP" {
		t.Fatalf("new pack starts with %q", obj[:4])
	}
	for _, c := range []struct {
		head string
		ok   bool
	}{{"TMBP\x01\x00\x00\x00", true}, {"TMPK\x01\x00\x00\x00", true}, {"TMPV\x02\x00\x00\x00", false}, {"TMBP\x02\x00\x00\x00", false}, {"TMB", false}} {
		if err := checkPackHeader([]byte(c.head)); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrCorrupt)) {
			t.Errorf("%q: %v", c.head, err)
		}
	}
}
