package packvol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

func TestCompact(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	o := &Options{PackSize: 4096}
	v := newVol(t, fs, "/vol", o)
	want := map[string][]byte{}
	for i := range 60 {
		name := fmt.Sprintf("c/%02d", i)
		want[name] = bytes.Repeat([]byte{byte(i)}, 300+i)
		mustPut(t, v, name, want[name])
	}
	for i := 0; i < 60; i += 2 {
		name := fmt.Sprintf("c/%02d", i)
		if i%4 == 0 {
			if err := v.Delete(ctx, name); err != nil {
				t.Fatal(err)
			}
			delete(want, name)
		} else {
			want[name] = []byte("replaced " + name)
			mustPut(t, v, name, want[name])
		}
	}
	before := v.Stats()
	st, err := v.Compact(ctx, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	after := v.Stats()
	if st.Packs == 0 || after.PackBytes >= before.PackBytes || after.Packs >= before.Packs {
		t.Fatalf("compact did nothing useful: %+v, before %+v, after %+v", st, before, after)
	}
	if after.LiveBytes != before.LiveBytes {
		t.Fatalf("live bytes changed: %d → %d", before.LiveBytes, after.LiveBytes)
	}
	check := func(v *Volume) {
		t.Helper()
		if n := len(listAll(t, v)); n != len(want) {
			t.Fatalf("%d objects, want %d", n, len(want))
		}
		for name, b := range want {
			expect(t, v, name, b)
		}
	}
	check(v)
	// Compaction's copies are durable before the old packs go.
	check(newVol(t, fs.CrashClone(vfs.CrashCloneCfg{}), "/vol", o))
	v.Close()
	check(newVol(t, fs, "/vol", o))
}

// TestCompactKeepsTombstone: a tombstone in a compacted pack is carried
// forward while an older pack still holds the deleted object, so the
// object does not come back at the next open.
func TestCompactKeepsTombstone(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	o := &Options{PackSize: 2048}
	v := newVol(t, fs, "/vol", o)
	mustPut(t, v, "gone", bytes.Repeat([]byte("g"), 100))
	for i := range 5 { // fill pack 1 with live objects: it is not worth compacting
		mustPut(t, v, fmt.Sprintf("live/%d", i), bytes.Repeat([]byte("l"), 300))
	}
	rollNow(t, v)
	if err := v.Delete(ctx, "gone"); err != nil { // the tombstone lands in pack 2
		t.Fatal(err)
	}
	for i := range 5 { // pack 2: objects replaced at once, so mostly dead
		mustPut(t, v, fmt.Sprintf("dead/%d", i), bytes.Repeat([]byte("d"), 300))
	}
	for i := range 5 {
		if err := v.Delete(ctx, fmt.Sprintf("dead/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	rollNow(t, v)
	if loc := getLoc(v, "live/0"); loc.seq != 1 {
		t.Fatalf("layout assumption: live/0 in pack %d", loc.seq)
	}
	st, err := v.Compact(ctx, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.packs[1]; !ok || st.Packs == 0 {
		t.Fatalf("want pack 1 kept and a later one compacted: %+v", st)
	}
	v.Close()
	v2 := newVol(t, fs, "/vol", o)
	if _, err := v2.Stat(ctx, "gone"); !errors.Is(err, hsm.ErrNotFound) {
		t.Fatalf("deleted object back after compaction: %v", err)
	}
	for i := range 5 {
		expect(t, v2, fmt.Sprintf("live/%d", i), bytes.Repeat([]byte("l"), 300))
	}
	// With every older pack compacted away, tombstones are dropped.
	if _, err := v2.Compact(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Compact(ctx, 0); err != nil {
		t.Fatal(err)
	}
	v2.Close()
	v3 := newVol(t, fs, "/vol", o)
	if _, err := v3.Stat(ctx, "gone"); !errors.Is(err, hsm.ErrNotFound) {
		t.Fatalf("deleted object back after full compaction: %v", err)
	}
	if n := len(listAll(t, v3)); n != 5 {
		t.Fatalf("%d objects after full compaction, want 5", n)
	}
}

func rollNow(t *testing.T, v *Volume) {
	t.Helper()
	v.wmu.Lock()
	defer v.wmu.Unlock()
	if err := v.roll(); err != nil {
		t.Fatal(err)
	}
}
