package packvol

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
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
