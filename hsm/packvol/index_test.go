package packvol

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

// indexMap returns a volume's index as a plain map, for comparisons.
func indexMap(x *index) map[string]loc {
	m := map[string]loc{}
	if err := x.withPrefix("", func(name string, l loc) { m[name] = l }); err != nil {
		panic(err)
	}
	if len(m) != x.len() {
		panic(fmt.Sprintf("index lists %d names, len %d", len(m), x.len()))
	}
	return m
}

// memMap returns an in-memory index as a plain map.
func memMap(x *memIndex) map[string]loc {
	m := map[string]loc{}
	x.withPrefix("", func(name string, l loc) { m[name] = l })
	if len(m) != x.len() {
		panic(fmt.Sprintf("index lists %d names, len %d", len(m), x.len()))
	}
	return m
}

// getLoc returns name's place in v's index (zero if absent).
func getLoc(v *Volume, name string) loc {
	v.mu.RLock()
	defer v.mu.RUnlock()
	l, _, err := v.index.get(name)
	if err != nil {
		panic(err)
	}
	return l
}

// mixedName returns, for even i, a message blob name and for odd i another
// name, so that tests cover both halves of the index.
func mixedName(i int) string {
	if i%2 == 0 {
		return blobName(i)
	}
	return fmt.Sprintf("m/%02d", i)
}

// indexNames are names of every shape the index tells apart.
func indexNames() []string {
	b := blobName(1)
	digest := b[len("blobs/xx/"):]
	other := blobName(2)
	return []string{
		b,                                    // a message blob
		other,                                // another
		"blobs/" + strings.ToUpper(b[6:]),    // upper-case digits
		b[:9] + strings.ToUpper(b[9:]),       // upper case after the fan-out
		"blobs/" + other[6:8] + "/" + digest, // fan-out not of its digest
		digest,                               // the bare digest
		"blobs/" + digest[:2] + "/" + digest[:63], // one digit short
		b + "0",          // one digit too many
		"blobz/" + b[6:], // another prefix
		"blobs/" + digest[:2] + "/" + digest[:62] + "g0", // a non-hex digit
		"m/1",
		"a",
	}
}

func TestParseBlobName(t *testing.T) {
	for i, name := range indexNames() {
		k, ok := parseBlobName(name)
		kb, okb := parseBlobName([]byte(name))
		if ok != okb || k != kb {
			t.Fatalf("%q: string and bytes parse differently", name)
		}
		if want := i < 2; ok != want {
			t.Fatalf("%q: parsed as a blob name: %v, want %v", name, ok, want)
		}
		if ok {
			if got := string(k.appendName(nil)); got != name {
				t.Fatalf("%q: rebuilt as %q", name, got)
			}
			if err := hsm.CheckName(name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// randLoc returns a place for name, with fields past 32 bits now and then.
func randLoc(rng *rand.Rand, name string) loc {
	l := loc{
		seq:   1 + uint64(rng.IntN(100)),
		off:   packHeaderSize + rng.Int64N(64<<20),
		size:  rng.Int64N(256 << 10),
		mtime: rng.Int64() - math.MaxInt64/2,
	}
	switch rng.IntN(10) {
	case 0:
		l.seq = math.MaxUint32 + 1 + uint64(rng.IntN(10))
	case 1:
		l.off = math.MaxUint32 + rng.Int64N(1<<20)
	case 2:
		l.off = math.MaxUint32 // the last offset that fits
	}
	l.n = entrySize(name, int(l.size))
	return l
}

// TestIndexMatchesMap runs random puts, replacements and removals of names
// of every shape, with places that do and do not fit the compact form,
// against a plain map: lookups, lengths, listing under prefixes, clones
// and dropping packs must agree.
func TestIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	names := indexNames()
	for i := range 30 {
		names = append(names, mixedName(100+i))
	}
	x := newMemIndex(0, 0)
	model := map[string]loc{}
	check := func(step int) {
		t.Helper()
		for _, name := range names {
			got, ok := x.get(name)
			want, wok := model[name]
			if ok != wok || got != want {
				t.Fatalf("step %d: get %q = %+v, %v; want %+v, %v", step, name, got, ok, want, wok)
			}
		}
		if !maps.Equal(memMap(x), model) {
			t.Fatalf("step %d: listing differs", step)
		}
		checkPrefixes(t, fmt.Sprintf("step %d", step), model,
			[]string{"blobs/", "blobs/" + names[0][6:9], names[0], "m/", "b", names[0] + "x"},
			func(prefix string, fn func(string, loc)) error { x.withPrefix(prefix, fn); return nil })
	}
	for step := range 3000 {
		name := names[rng.IntN(len(names))]
		want, wok := model[name]
		var old loc
		var had bool
		if rng.IntN(4) == 0 {
			old, had = x.remove(name)
			delete(model, name)
		} else {
			l := randLoc(rng, name)
			old, had = x.put(name, l)
			model[name] = l
		}
		if had != wok || old != want {
			t.Fatalf("step %d: %q replaced %+v, %v; want %+v, %v", step, name, old, had, want, wok)
		}
		if step%100 == 0 {
			check(step)
		}
	}
	check(-1)
	c := x.clone()
	gone := func(seq uint64) bool { return seq%3 == 0 }
	c.dropPacks(gone)
	maps.DeleteFunc(model, func(_ string, l loc) bool { return gone(l.seq) })
	if !maps.Equal(memMap(c), model) {
		t.Fatal("dropPacks of a clone differs from the model")
	}
	x = c
	check(-2)
}

// refEncodeNames encodes name records as doc.go lays them out, written
// independently of encode.
func refEncode(packs []ckptPack, m map[string]loc) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString(ckptMagic)
	b.Write(make([]byte, 4))
	_ = binary.Write(&b, le, struct {
		Version, Rsvd uint16
		Npacks        uint32
		Nnames        uint64
	}{ckptVersion, 0, uint32(len(packs)), uint64(len(m))})
	for _, p := range packs {
		_ = binary.Write(&b, le, [3]uint64{p.seq, uint64(p.covered), uint64(p.live)})
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		l := m[name]
		_ = binary.Write(&b, le, struct {
			Nlen  uint16
			Seq   uint64
			Off   uint64
			N     uint32
			Mtime int64
			Size  uint32
		}{uint16(len(name)), l.seq, uint64(l.off), uint32(l.n), l.mtime, uint32(l.size)})
		b.WriteString(name)
	}
	out := b.Bytes()
	le.PutUint32(out[4:], crc32.Checksum(out[8:], castagnoli))
	return out
}

// refDecodeNames reads the name records of a checkpoint as doc.go lays
// them out.
func refDecodeNames(t *testing.T, b []byte) map[string]loc {
	t.Helper()
	le := binary.LittleEndian
	np, nn := int(le.Uint32(b[12:])), int(le.Uint64(b[16:]))
	rest := b[ckptHeader+np*ckptPackRec:]
	m := map[string]loc{}
	for range nn {
		nlen := int(le.Uint16(rest))
		name := string(rest[34 : 34+nlen])
		m[name] = loc{
			seq: le.Uint64(rest[2:]), off: int64(le.Uint64(rest[10:])), n: int64(le.Uint32(rest[18:])),
			mtime: int64(le.Uint64(rest[22:])), size: int64(le.Uint32(rest[30:])),
		}
		rest = rest[34+nlen:]
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the name records", len(rest))
	}
	return m
}

// TestCheckpointIndexFormat checks that the checkpoint of an index of every
// name shape, places past 32 bits included, is the documented layout both
// ways: what encode writes a reference reader reads back, and what a
// reference writer writes decodeCheckpoint reads back.
func TestCheckpointIndexFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	model := map[string]loc{}
	x := newMemIndex(0, 0)
	for _, name := range indexNames() {
		l := randLoc(rng, name)
		model[name] = l
		x.put(name, l)
	}
	packs := map[uint64]ckptPack{}
	var plist []ckptPack
	for _, l := range model {
		if _, ok := packs[l.seq]; !ok {
			p := ckptPack{seq: l.seq, covered: math.MaxInt64 / 2, live: 0}
			packs[l.seq] = p
			plist = append(plist, p)
		}
	}
	enc := (&checkpoint{packs: packs, index: x}).encode()
	if got := refDecodeNames(t, enc); !maps.Equal(got, model) {
		t.Fatalf("encode wrote %+v, want %+v", got, model)
	}
	c, err := decodeCheckpoint(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(memMap(c.index), model) {
		t.Fatal("decode of encode differs")
	}
	ref := refEncode(plist, model)
	if len(ref) != len(enc) {
		t.Fatalf("encode wrote %d bytes, the layout %d", len(enc), len(ref))
	}
	c, err = decodeCheckpoint(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(memMap(c.index), model) {
		t.Fatal("decode of the reference encoding differs")
	}
	if c.index.len() != len(model) || c.index.blobs.len() != 2 {
		t.Fatalf("%d names, %d keyed by digest", c.index.len(), c.index.blobs.len())
	}
}

// TestIndexNamesThroughVolume stores objects under names of every shape,
// replaces, deletes and moves some between tiers, and checks Stat, Get and
// List (names exactly as stored) on the live handle, after reopening from
// the checkpoint Close wrote and after the full scan.
func TestIndexNamesThroughVolume(t *testing.T) {
	ctx := context.Background()
	mfs := vfs.NewMem()
	clock := time.Unix(1_700_000_000, 123456789)
	o := &Options{SmallMax: 1000, PackSize: 2048, Logger: quiet, Now: func() time.Time {
		clock = clock.Add(time.Millisecond + 7)
		return clock
	}}
	v := newVol(t, mfs, "/vol", o)
	want := map[string][]byte{}
	for round := range 3 {
		for i, name := range indexNames() {
			switch (i + round) % 4 {
			case 0, 1:
				b := body(i+10*round, 100+100*i)
				mustPut(t, v, name, b)
				want[name] = b
			case 2:
				if err := v.Delete(ctx, name); err != nil {
					t.Fatal(err)
				}
				delete(want, name)
			case 3:
				b := body(i+10*round, 1500) // large: leaves the packs
				mustPut(t, v, name, b)
				want[name] = b
			}
		}
	}
	if _, err := v.Compact(ctx, 0); err != nil {
		t.Fatal(err)
	}
	infos := func(v *Volume) []hsm.ObjectInfo {
		var out []hsm.ObjectInfo
		if err := v.List(ctx, "", func(oi hsm.ObjectInfo) error {
			out = append(out, oi)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(v *Volume, label string) {
		t.Helper()
		got := infos(v)
		names := slices.Sorted(maps.Keys(want))
		if len(got) != len(names) {
			t.Fatalf("%s: listed %d objects, want %d", label, len(got), len(names))
		}
		for i, oi := range got {
			if oi.Name != names[i] || oi.Size != int64(len(want[oi.Name])) {
				t.Fatalf("%s: listed %q (%d bytes), want %q (%d)", label, oi.Name, oi.Size, names[i], len(want[names[i]]))
			}
			st, err := v.Stat(ctx, oi.Name)
			if err != nil || st.Size != oi.Size || !st.ModTime.Equal(oi.ModTime) {
				t.Fatalf("%s: stat %q: %+v, %v; listed %+v", label, oi.Name, st, err, oi)
			}
			rc, err := v.Get(ctx, oi.Name)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(b, want[oi.Name]) {
				t.Fatalf("%s: %q read back wrong", label, oi.Name)
			}
		}
	}
	check(v, "live")
	live := infos(v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ckpt := range []bool{true, false} {
		if !ckpt {
			dropCheckpoint(t, mfs, "/vol")
		}
		r := newVol(t, mfs, "/vol", o)
		label := fmt.Sprintf("reopened, checkpoint=%v", ckpt)
		check(r, label)
		if got := infos(r); !slices.EqualFunc(got, live, func(a, b hsm.ObjectInfo) bool {
			return a.Name == b.Name && a.Size == b.Size && a.ModTime.Equal(b.ModTime)
		}) {
			t.Fatalf("%s: list %+v, live handle %+v", label, got, live)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBlobTableMatchesMap grows a table through several bucket splits with
// random inserts, replacements and removals, checking it against a map:
// lookups, count, digest order, dropping packs and clones.
func TestBlobTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]blobKey, 40000)
	for i := range keys {
		keys[i], _ = parseBlobName(blobName(i))
	}
	keys[1] = blobKey{}        // the smallest key
	keys[2] = *blobKeyAt(1, 9) // the first key of a bucket after a split
	keys[3] = blobKey{0: 0xff, 31: 0xff}
	tab := newBlobTable(0)
	model := map[blobKey]blobLoc{}
	check := func(tab *blobTable, label string) {
		t.Helper()
		if tab.len() != len(model) {
			t.Fatalf("%s: %d records, want %d", label, tab.len(), len(model))
		}
		var prev *blobKey
		n := 0
		for k, l := range tab.all() {
			if prev != nil && bytes.Compare(prev[:], k[:]) >= 0 {
				t.Fatalf("%s: %x listed after %x", label, k[:], prev[:])
			}
			kk := *k
			prev = &kk
			if model[kk] != l {
				t.Fatalf("%s: %x: %+v, want %+v", label, k[:], l, model[kk])
			}
			n++
		}
		if n != len(model) {
			t.Fatalf("%s: listed %d, want %d", label, n, len(model))
		}
		for _, k := range keys[:200] {
			l, ok := tab.get(&k)
			want, wok := model[k]
			if ok != wok || l != want {
				t.Fatalf("%s: get %x = %+v, %v; want %+v, %v", label, k[:], l, ok, want, wok)
			}
		}
	}
	for step := range 120000 {
		// Mostly inserts early, so the table splits; removals later.
		k := keys[rng.IntN(len(keys))]
		want, wok := model[k]
		var old blobLoc
		var had bool
		if rng.IntN(100) < 10+step/3000 {
			old, had = tab.remove(&k)
			delete(model, k)
		} else {
			l := blobLoc{seq: rng.Uint32N(50), off: rng.Uint32(), n: rng.Uint32(), mtimeLo: uint32(step), mtimeHi: 7}
			old, had = tab.put(&k, l)
			model[k] = l
		}
		if had != wok || old != want {
			t.Fatalf("step %d: %x replaced %+v, %v; want %+v, %v", step, k[:], old, had, want, wok)
		}
		if step%10000 == 0 {
			check(tab, fmt.Sprintf("step %d", step))
		}
	}
	if tab.bits < minBucketBits+2 {
		t.Fatalf("the table never split (%d bucket bits)", tab.bits)
	}
	check(tab, "end")
	c := tab.clone()
	gone := func(seq uint64) bool { return seq%4 == 1 }
	c.dropPacks(gone)
	check(tab, "after clone") // the original is untouched
	maps.DeleteFunc(model, func(_ blobKey, l blobLoc) bool { return gone(uint64(l.seq)) })
	check(c, "clone after dropPacks")
	sized := newBlobTable(len(model))
	for k, l := range c.all() {
		sized.put(k, l)
	}
	check(sized, "presized")
}

// FuzzDecodeCheckpoint feeds decodeCheckpoint arbitrary bytes with a
// correct checksum (so that the fuzzer reaches the records): it must not
// panic, and what it accepts must be what a reference reader of the
// layout reads, and survive encode and decode again.
func FuzzDecodeCheckpoint(f *testing.F) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := newMemIndex(0, 0)
	packs := map[uint64]ckptPack{}
	for _, name := range indexNames() {
		l := randLoc(rng, name)
		l.seq = 1 + l.seq%3
		l.off %= 1 << 20
		x.put(name, l)
		packs[l.seq] = ckptPack{seq: l.seq, covered: 1 << 40}
	}
	f.Add((&checkpoint{packs: packs, index: x}).encode())
	f.Add((&checkpoint{packs: packs, index: newMemIndex(0, 0)}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 8 {
			binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
		}
		c, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		got := memMap(c.index)
		if want := refDecodeNames(t, b); !maps.Equal(got, want) {
			t.Fatalf("decoded %+v, the layout says %+v", got, want)
		}
		again, err := decodeCheckpoint(c.encode())
		if err != nil {
			t.Fatalf("re-encoded checkpoint: %v", err)
		}
		if !maps.Equal(memMap(again.index), got) || len(again.packs) != len(c.packs) {
			t.Fatal("encode and decode changed the checkpoint")
		}
	})
}

// checkPrefixes checks that list(prefix) gives, for each of prefixes,
// the names of model under it.
func checkPrefixes(t *testing.T, label string, model map[string]loc, prefixes []string, list func(prefix string, fn func(string, loc)) error) {
	t.Helper()
	for _, prefix := range prefixes {
		var got []string
		if err := list(prefix, func(name string, _ loc) { got = append(got, name) }); err != nil {
			t.Fatal(err)
		}
		var want []string
		for name := range model {
			if strings.HasPrefix(name, prefix) {
				want = append(want, name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: prefix %q lists %d names %q, want %d %q", label, prefix, len(got), got, len(want), want)
		}
	}
}
