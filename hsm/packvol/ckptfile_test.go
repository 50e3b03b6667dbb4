package packvol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

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
