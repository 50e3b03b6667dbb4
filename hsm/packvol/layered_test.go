package packvol

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// layeredHarness drives an index with a checkpoint file of its own in a
// MemFS, merging the way the Volume does (freeze, write, swap) but with
// the steps under the test's control.
type layeredHarness struct {
	t     testing.TB
	v     *Volume
	x     *index
	gone  map[uint64]bool
	packs []ckptPack
}

func newLayeredHarness(t testing.TB) *layeredHarness {
	mfs := vfs.NewMem()
	if err := mfs.MkdirAll("/x", 0o755); err != nil {
		t.Fatal(err)
	}
	h := &layeredHarness{t: t, v: &Volume{fs: mfs, dir: "/x"}, gone: map[uint64]bool{}}
	h.x = newIndex(func(seq uint64) bool { return !h.gone[seq] })
	h.v.index = h.x
	// Every pack randLoc places entries in, covering all of them.
	for seq := uint64(1); seq <= 100; seq++ {
		h.packs = append(h.packs, ckptPack{seq: seq, covered: math.MaxInt64 / 2})
	}
	for seq := uint64(math.MaxUint32 + 1); seq <= math.MaxUint32+10; seq++ {
		h.packs = append(h.packs, ckptPack{seq: seq, covered: math.MaxInt64 / 2})
	}
	return h
}

// freeze sets the delta aside and returns the merge of it, to run later.
func (h *layeredHarness) freeze() func() {
	x := h.x
	x.frozen, x.delta = x.delta, newMemIndex(0, 0)
	var packs []ckptPack
	for _, p := range h.packs {
		if !h.gone[p.seq] {
			packs = append(packs, p)
		}
	}
	s := &ckptSnap{base: x.file, frozen: x.frozen, packs: packs}
	return func() {
		nf, err := h.v.writeMerged(s)
		if err != nil {
			h.t.Fatal(err)
		}
		old := x.file
		x.file, x.frozen = nf, nil
		if old != nil {
			old.close()
		}
	}
}

// reload opens the file the last merge wrote, as New does.
func (h *layeredHarness) reload() *ckptFile {
	f, err := h.v.fs.Open(h.v.ckptPath())
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := readCheckpointFile(f)
	if err != nil {
		h.t.Fatal(err)
	}
	return c.file
}

// TestLayeredIndexMatchesMap runs random puts, replacements and removals
// of names of every shape (places past 32 bits included, so some message
// blobs move between the blob records and the name records) against a
// map, with merges into the checkpoint file that run while later changes
// arrive, and a failed merge folded back: lookups, count and listing under
// prefixes must agree throughout, the file read back as New reads it must
// hold the same, and records of a removed pack must be absent.
func TestLayeredIndexMatchesMap(t *testing.T) {
	h := newLayeredHarness(t)
	x := h.x
	rng := rand.New(rand.NewPCG(8, 8))
	names := indexNames()
	for i := range 600 {
		names = append(names, mixedName(i))
	}
	model := map[string]loc{}
	check := func(label string) {
		t.Helper()
		for _, name := range names {
			got, ok, err := x.get(name)
			want, wok := model[name]
			if err != nil || ok != wok || (ok && got != want) {
				t.Fatalf("%s: get %q = %+v, %v, %v; want %+v, %v", label, name, got, ok, err, want, wok)
			}
		}
		if !maps.Equal(indexMap(x), model) {
			t.Fatalf("%s: listing differs", label)
		}
		checkPrefixes(t, label, model,
			[]string{"blobs/", "blobs/" + names[0][6:9], names[0], "blobs/" + names[0][6:8], "m/", "b", names[0] + "x", "blobs/zz"},
			x.withPrefix)
	}
	var pending func()
	for step := range 12000 {
		name := names[rng.IntN(len(names))]
		want, wok := model[name]
		var old loc
		var had bool
		var err error
		if rng.IntN(4) == 0 {
			old, had, err = x.remove(name)
			delete(model, name)
		} else {
			l := randLoc(rng, name)
			old, had, err = x.put(name, l)
			model[name] = l
		}
		if err != nil || had != wok || (had && old != want) {
			t.Fatalf("step %d: %q replaced %+v, %v, %v; want %+v, %v", step, name, old, had, err, want, wok)
		}
		switch step % 1500 {
		case 0:
			pending = h.freeze()
		case 700:
			pending() // 700 changes arrived while it was frozen
		case 1000:
			x.fold() // nothing frozen: no-op
		case 1100:
			h.freeze()
			check(fmt.Sprintf("step %d, frozen", step))
			x.fold() // as after a failed merge
		}
		if step%300 == 0 {
			check(fmt.Sprintf("step %d", step))
		}
	}
	if x.file == nil || len(x.file.fence) < 3 || x.file.wideBlobs == 0 || len(x.file.names) == 0 {
		t.Fatalf("the file never held blocks, wide blobs and names: %+v", x.file)
	}
	h.freeze()()
	check("merged")
	if x.delta.len() != 0 {
		t.Fatal("delta not empty after the merge")
	}
	// The file as New reads it.
	r := newIndex(x.exists)
	r.file = h.reload()
	for _, n := range r.file.perPack {
		r.n += n
	}
	if !maps.Equal(indexMap(r), model) {
		t.Fatal("the file read back differs")
	}
	// A pack removed: its records are absent, in the file and the delta.
	h.gone[7] = true
	maps.DeleteFunc(model, func(_ string, l loc) bool { return l.seq == 7 })
	for _, name := range names {
		got, ok, err := x.get(name)
		want, wok := model[name]
		if err != nil || ok != wok || (ok && got != want) {
			t.Fatalf("pack 7 gone: get %q = %+v, %v, %v; want %+v, %v", name, got, ok, err, want, wok)
		}
	}
	listed := map[string]loc{}
	if err := x.withPrefix("", func(name string, l loc) { listed[name] = l }); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(listed, model) {
		t.Fatal("pack 7 gone: listing differs")
	}
	// The next merge leaves them out.
	h.freeze()()
	if _, ok := x.file.packs[7]; ok {
		t.Fatal("removed pack still listed")
	}
	if n := x.file.entries(); n != int64(len(model)) {
		t.Fatalf("merged file holds %d records, want %d", n, len(model))
	}
}

// resealCkpt recomputes every checksum of a version 2 checkpoint whose
// footer is sane, so that a fuzzer's changes reach the records.
func resealCkpt(b []byte) {
	if len(b) < ckptHeader2+ckptFooter {
		return
	}
	le := binary.LittleEndian
	foot := b[len(b)-ckptFooter:]
	if off := le.Uint64(foot[24:]); off%ckptBlock == 0 && off <= uint64(len(b)-ckptFooter) {
		le.PutUint32(foot[4:], crc32.Checksum(b[:off], castagnoli))
		for blk := int(off); blk+ckptBlock <= len(b)-ckptFooter; blk += ckptBlock {
			le.PutUint32(b[blk+ckptBlock-4:], crc32.Checksum(b[blk:blk+ckptBlock-4], castagnoli))
		}
	}
	le.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
}

// FuzzLoadCheckpoint feeds loadCkptFile arbitrary bytes with correct
// checksums: it must not panic, and what it accepts must answer every
// record it lists by lookup, and survive a merge into a new file and a
// second load unchanged.
func FuzzLoadCheckpoint(f *testing.F) {
	h := newLayeredHarness(f)
	rng := rand.New(rand.NewPCG(4, 4))
	for _, name := range append(indexNames(), mixedName(0), mixedName(2), mixedName(4)) {
		l := randLoc(rng, name)
		h.x.put(name, l)
	}
	h.freeze()()
	b := readAll(f, h.v.fs, h.v.ckptPath())
	f.Add(b)
	empty := newLayeredHarness(f)
	empty.freeze()()
	f.Add(readAll(f, empty.v.fs, empty.v.ckptPath()))
	f.Fuzz(func(t *testing.T, b []byte) {
		resealCkpt(b)
		mfs := vfs.NewMem()
		writeFile(t, mfs, "/c", b)
		fh, err := mfs.Open("/c")
		if err != nil {
			t.Fatal(err)
		}
		c, err := loadCkptFile(fh, int64(len(b)))
		if err != nil {
			fh.Close()
			if !errors.Is(err, errStale) {
				t.Fatalf("error not marked stale: %v", err)
			}
			return
		}
		got := map[string]loc{}
		if err := c.withPrefix("", func(name string, l loc) { got[name] = l }); err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != c.entries() {
			t.Fatalf("lists %d names, holds %d records", len(got), c.entries())
		}
		for name, l := range got {
			if g, ok, err := c.get(name); err != nil || !ok || g != l {
				t.Fatalf("get %q = %+v, %v, %v; listed %+v", name, g, ok, err, l)
			}
		}
		h := newLayeredHarness(t)
		h.x.file = c
		h.packs = slices.Collect(maps.Values(c.packs))
		slices.SortFunc(h.packs, func(a, b ckptPack) int { return cmp.Compare(a.seq, b.seq) })
		h.freeze()() // closes c's file
		again := map[string]loc{}
		if err := h.reload().withPrefix("", func(name string, l loc) { again[name] = l }); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(again, got) {
			t.Fatal("merge and load changed the checkpoint")
		}
	})
}

func readAll(tb testing.TB, fs vfs.FS, path string) []byte {
	tb.Helper()
	f, err := fs.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, st.Size())
	if err := readAt(f, b, 0); err != nil {
		tb.Fatal(err)
	}
	return b
}
