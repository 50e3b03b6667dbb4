package packvol

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

// ckptSteps is a workload of message blobs (digest-keyed, so the
// checkpoint holds them in blocks) and a few other names: a first part
// that fills several blocks and checkpoints, and a second that replaces,
// deletes, adds, compacts and checkpoints again, several times.
func ckptSteps() (setup, rest []step) {
	name := func(i int) string {
		if i%17 == 5 {
			return fmt.Sprintf("m/%02d", i%40)
		}
		return blobName(i)
	}
	for i := range 400 {
		setup = append(setup, step{kind: opPutDeferred, name: name(i), body: body(i, 40+i%60)})
	}
	setup = append(setup, step{kind: opSync}, step{kind: opCheckpoint})
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 4 {
		for j := range 12 {
			i := rng.IntN(460) // some replace, some are new
			switch j % 4 {
			case 0:
				rest = append(rest, step{kind: opDelete, name: name(i)})
			case 1:
				rest = append(rest, step{kind: opPutDeferred, name: name(i), body: body(1000*round+j, 50)})
			default:
				rest = append(rest, step{kind: opPut, name: name(i), body: body(1000*round+j, 70)})
			}
		}
		if round%2 == 1 {
			rest = append(rest, step{kind: opCompact})
		}
		rest = append(rest, step{kind: opSync}, step{kind: opCheckpoint})
	}
	return setup, rest
}

// TestCrashCheckpointRewrite crashes at every file operation after a
// first checkpoint of several blocks, with and without torn writes: inside
// each rewrite (its temp file written one block per write), at its fsync,
// rename and directory fsync, between the rewrite and the swap, and in the
// puts, deletes and compactions between rewrites. After reopening, every
// acknowledged object is found with its bytes, no deleted one comes back,
// and unsynced ones are absent or whole; then again after a compaction and
// a second reopen.
func TestCrashCheckpointRewrite(t *testing.T) {
	old := ckptWriteBuf
	ckptWriteBuf = ckptBlock
	defer func() { ckptWriteBuf = old }()
	opts := func() *Options { return &Options{SmallMax: 1500, PackSize: 8192, Logger: quiet, IndexDelta: -1} }
	setup, rest := ckptSteps()
	clean := newCrashFS(0, false, 0)
	v, err := New(clean, "/vol", opts())
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, v, newModel(), setup)
	start := clean.Ops()
	runSteps(t, v, newModel(), rest)
	total := clean.Ops()
	if v.index.file == nil || len(v.index.file.fence) < 4 {
		t.Fatalf("checkpoint too small to test: %+v", v.index.file)
	}
	t.Logf("crashing at each of operations %d..%d; the last checkpoint holds %d blocks", start+1, total, len(v.index.file.fence))
	v.Close()
	step := 1
	if testing.Short() {
		step = 5
	}
	ctx := context.Background()
	for _, torn := range []bool{false, true} {
		for k := start + 1; k <= total; k += step {
			label := fmt.Sprintf("torn=%v crash at op %d (%d..%d)", torn, k, start+1, total)
			ffs := newCrashFS(k, torn, uint64(k))
			m := newModel()
			v, err := New(ffs, "/vol", opts())
			if err != nil {
				t.Fatal(err)
			}
			runSteps(t, v, m, setup)
			runSteps(t, v, m, rest)
			if ffs.Crashed() == nil {
				t.Fatalf("%s: no crash happened", label)
			}
			v2, err := New(ffs.Crashed(), "/vol", opts())
			if err != nil {
				t.Fatalf("%s: reopen: %v", label, err)
			}
			check(t, v2, m, label)
			if _, err := v2.Compact(ctx, 0); err != nil {
				t.Fatalf("%s: compact after reopen: %v", label, err)
			}
			check(t, v2, m, label+" after compact")
			if err := v2.Close(); err != nil {
				t.Fatalf("%s: close: %v", label, err)
			}
			v3, err := New(ffs.Crashed(), "/vol", opts())
			if err != nil {
				t.Fatalf("%s: second reopen: %v", label, err)
			}
			check(t, v3, m, label+" second reopen")
			v3.Close()
		}
	}
}

// TestCheckpointConcurrent writes, deletes, reads and lists from several
// goroutines while background checkpoints (a threshold of 40 changes)
// and explicit ones swap the file: no read may see a missing or wrong
// object, and the final state, live and reopened, is the writers'.
func TestCheckpointConcurrent(t *testing.T) {
	ctx := context.Background()
	mfs := vfs.NewMem()
	o := &Options{PackSize: 16 << 10, Logger: quiet, IndexDelta: 40}
	v := newVol(t, mfs, "/vol", o)
	const writers, perWriter = 4, 300
	// Names stable for the whole test: written first, read throughout.
	stable := map[string][]byte{}
	for i := range 200 {
		stable[blobName(-1-i)] = body(i, 80)
		mustPut(t, v, blobName(-1-i), stable[blobName(-1-i)])
	}
	var wg sync.WaitGroup
	final := make([]map[string][]byte, writers)
	errc := make(chan error, 16)
	for w := range writers {
		final[w] = map[string][]byte{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for i := range perWriter {
				name := blobName(w*100000 + rng.IntN(150))
				if rng.IntN(5) == 0 {
					if err := v.Delete(ctx, name); err != nil {
						errc <- err
						return
					}
					delete(final[w], name)
					continue
				}
				b := body(w*1000+i, 30+rng.IntN(200))
				if err := v.PutDeferred(ctx, name, bytes.NewReader(b), int64(len(b))); err != nil {
					errc <- err
					return
				}
				final[w][name] = b
				// The writer's own last write is what it reads back.
				got, err := hsm.ReadAll(ctx, v, name)
				if err != nil || !bytes.Equal(got, b) {
					errc <- fmt.Errorf("read back %s: %v", name, err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(2)
	go func() { // reader of the stable names
		defer rwg.Done()
		names := slices.Sorted(maps.Keys(stable))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := names[i%len(names)]
			got, err := hsm.ReadAll(ctx, v, name)
			if err != nil || !bytes.Equal(got, stable[name]) {
				errc <- fmt.Errorf("stable %s: %v", name, err)
				return
			}
			if i%50 == 0 {
				n := 0
				if err := v.List(ctx, "blobs/", func(oi hsm.ObjectInfo) error {
					if _, ok := stable[oi.Name]; ok {
						n++
					}
					return nil
				}); err != nil || n != len(stable) {
					errc <- fmt.Errorf("list found %d of %d stable names: %v", n, len(stable), err)
					return
				}
			}
		}
	}()
	go func() { // explicit checkpoints and compactions
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := v.Checkpoint(ctx); err != nil {
				errc <- err
				return
			}
			if _, err := v.Compact(ctx, 0.5); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	want := maps.Clone(stable)
	for _, m := range final {
		maps.Copy(want, m)
	}
	checkExactly := func(v *Volume, label string) {
		t.Helper()
		got := listAll(t, v)
		if !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
			t.Fatalf("%s: lists %d names, want %d", label, len(got), len(want))
		}
		if v.Stats().Objects != len(want) {
			t.Fatalf("%s: Stats counts %d objects, want %d", label, v.Stats().Objects, len(want))
		}
		for name, b := range want {
			expect(t, v, name, b)
		}
	}
	checkExactly(v, "live")
	v.mu.RLock()
	swapped := v.index.file != nil
	v.mu.RUnlock()
	if !swapped {
		t.Fatal("no checkpoint file was swapped in")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	r := newVol(t, mfs, "/vol", o)
	checkExactly(r, "reopened")
	if r.index.delta.len() != 0 {
		t.Fatalf("reopened after Close with %d changes outside the checkpoint", r.index.delta.len())
	}
}

// TestCheckpointDamageAtRead: a block of the checkpoint damaged after New
// verified it is reported on read as ErrCorrupt, never as a wrong or
// missing object; the next New finds the damage and rebuilds the index
// from the packs.
func TestCheckpointDamageAtRead(t *testing.T) {
	ctx := context.Background()
	mfs := vfs.NewMem()
	o := &Options{Logger: quiet}
	v := newVol(t, mfs, "/vol", o)
	for i := range 300 {
		mustPut(t, v, blobName(i), body(i, 100))
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v = newVol(t, mfs, "/vol", o)
	if v.index.file == nil || len(v.index.file.fence) != 4 {
		t.Fatal("expected a checkpoint of 4 blocks")
	}
	// Damage block 1 in place, under the open handle.
	f, err := mfs.OpenReadWrite("/vol/"+CheckpointFile, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	off := v.index.file.blobsOff + ckptBlock + 60
	var one [1]byte
	if _, err := f.ReadAt(one[:], off); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0x40
	if _, err := f.WriteAt(one[:], off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	damaged := 0
	for i := range 300 {
		got, err := hsm.ReadAll(ctx, v, blobName(i))
		switch {
		case errors.Is(err, ErrCorrupt):
			damaged++
		case err != nil || !bytes.Equal(got, body(i, 100)):
			t.Fatalf("%s: %v", blobName(i), err)
		}
	}
	if damaged != ckptBlockRecs {
		t.Fatalf("%d reads failed, want the %d of block 1", damaged, ckptBlockRecs)
	}
	if err := v.List(ctx, "", func(hsm.ObjectInfo) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("list over the damaged block: %v", err)
	}
	// A write whose old place is in the damaged block fails the handle.
	var name string
	for i := range 300 {
		if _, err := v.Stat(ctx, blobName(i)); errors.Is(err, ErrCorrupt) {
			name = blobName(i)
			break
		}
	}
	if err := hsm.PutBytes(ctx, v, name, []byte("new")); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrFailed) {
		t.Fatalf("put over a damaged record: %v", err)
	}
	_ = v.Close() // a failed handle writes no checkpoint
	r := newVol(t, mfs, "/vol", o)
	if r.index.file != nil {
		t.Fatal("the damaged checkpoint was used")
	}
	for i := range 300 {
		want := body(i, 100)
		if blobName(i) == name {
			want = []byte("new") // written, then the handle failed
		}
		expect(t, r, blobName(i), want)
	}
}

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
		for _, prefix := range []string{"blobs/", "blobs/" + names[0][6:9], names[0], "blobs/" + names[0][6:8], "m/", "b", names[0] + "x", "blobs/zz"} {
			var got []string
			if err := x.withPrefix(prefix, func(name string, _ loc) { got = append(got, name) }); err != nil {
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
				t.Fatalf("%s: prefix %q lists %d names, want %d", label, prefix, len(got), len(want))
			}
		}
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

// TestCloseUnchangedKeepsCheckpoint: New then Close with nothing written
// leaves the checkpoint as it was (no rewrite of the whole file), and a
// write makes Close write a new one.
func TestCloseUnchangedKeepsCheckpoint(t *testing.T) {
	mfs := vfs.NewMem()
	o := &Options{Logger: quiet}
	v := newVol(t, mfs, "/vol", o)
	for i := range 100 {
		mustPut(t, v, blobName(i), body(i, 50))
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	path := "/vol/" + CheckpointFile
	before := readFile(t, mfs, path)
	for range 2 {
		v = newVol(t, mfs, "/vol", o)
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readFile(t, mfs, path), before) {
			t.Fatal("Close rewrote an unchanged checkpoint")
		}
	}
	v = newVol(t, mfs, "/vol", o)
	mustPut(t, v, blobName(100), body(100, 50))
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(readFile(t, mfs, path), before) {
		t.Fatal("Close after a put kept the old checkpoint")
	}
	v = newVol(t, mfs, "/vol", o)
	expect(t, v, blobName(100), body(100, 50))
	if v.index.delta.len() != 0 {
		t.Fatalf("%d changes outside the checkpoint", v.index.delta.len())
	}
	v.Close()
}

// TestCrashDuringBackgroundMerge runs seeded workloads of message blobs
// and other names with a background merge every 10 changes, and takes
// the crash image at the end while merges may be running (the image is
// taken between two file operations, whichever goroutine made them;
// unsynced blocks kept with probability one half). New must open every
// image, keep every acknowledged change and leave unsynced objects absent
// or whole.
func TestCrashDuringBackgroundMerge(t *testing.T) {
	seeds := 120
	if testing.Short() {
		seeds = 25
	}
	opts := func() *Options {
		return &Options{SmallMax: 3000, PackSize: 32 << 10, Logger: quiet, IndexDelta: 10}
	}
	ctx := context.Background()
	fromFile := 0
	for seed := range uint64(seeds) {
		label := fmt.Sprintf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 7))
		fs := vfs.NewCrashableMem()
		v, err := New(fs, "/vol", opts())
		if err != nil {
			t.Fatal(err)
		}
		m := newModel()
		runSteps(t, v, m, randomStepsNamed(rng, func() string {
			if i := rng.IntN(80); i >= 60 {
				return fmt.Sprintf("m/%02d", i)
			}
			return blobName(rng.IntN(60))
		}))
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(seed, 8))})
		v.Close()
		v2, err := New(crashed, "/vol", opts())
		if err != nil {
			t.Fatalf("%s: reopen: %v", label, err)
		}
		v2.mu.RLock()
		if v2.index.file != nil {
			fromFile++
		}
		v2.mu.RUnlock()
		check(t, v2, m, label)
		if _, err := v2.Compact(ctx, 0); err != nil {
			t.Fatalf("%s: compact after reopen: %v", label, err)
		}
		check(t, v2, m, label+" after compact")
		v2.Close()
		v3, err := New(crashed, "/vol", opts())
		if err != nil {
			t.Fatalf("%s: second reopen: %v", label, err)
		}
		check(t, v3, m, label+" second reopen")
		v3.Close()
	}
	t.Logf("%d of %d crash images opened from a checkpoint a background merge wrote", fromFile, seeds)
	if fromFile == 0 {
		t.Fatal("no background merge reached the disk")
	}
}
