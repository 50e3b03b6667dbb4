package packvol

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

// randomSteps is a seeded workload heavy in deferred puts between syncs and
// ending on a run of them, so the unsynced tail of the newest pack spans
// several 4 KiB blocks.
func randomSteps(rng *rand.Rand) []step {
	return randomStepsNamed(rng, func() string { return fmt.Sprintf("m/%02d", rng.IntN(40)) })
}

// randomStepsNamed is randomSteps with names drawn by name.
func randomStepsNamed(rng *rand.Rand, name func() string) []step {
	var s []step
	for i := range 40 + rng.IntN(120) {
		switch r := rng.IntN(100); {
		case r < 50:
			s = append(s, step{kind: opPutDeferred, name: name(), body: body(i, 50+rng.IntN(2500))})
		case r < 68:
			s = append(s, step{kind: opPut, name: name(), body: body(i, 50+rng.IntN(2500))})
		case r < 78:
			s = append(s, step{kind: opSync})
		case r < 88:
			s = append(s, step{kind: opDelete, name: name()})
		case r < 93:
			// Large, durable: a deferred large object may be left empty or
			// torn (hsm/localvol), which this model does not allow.
			s = append(s, step{kind: opPut, name: name(), body: body(i, 3100+rng.IntN(500))})
		default:
			s = append(s, step{kind: opCompact})
		}
	}
	// End on unsynced writes, so most crashes find a tail to tear.
	for i := range 3 + rng.IntN(12) {
		s = append(s, step{kind: opPutDeferred, name: name(), body: body(1000+i, 50+rng.IntN(2500))})
	}
	return s
}

// newestPack returns the bytes and seq of the highest-numbered pack.
func newestPack(t *testing.T, fs vfs.FS) ([]byte, uint64) {
	t.Helper()
	v := &Volume{fs: fs, packDir: "/vol/packs"}
	seqs, err := v.listPacks()
	if err != nil || len(seqs) == 0 {
		t.Fatalf("list packs: %v %v", seqs, err)
	}
	seq := seqs[len(seqs)-1]
	return readFile(t, fs, v.packPath(seq)), seq
}

// TestCrashOutOfOrder runs seeded workloads, crashes keeping each unsynced
// 4 KiB block with probability one half (so later blocks can survive a lost
// earlier one), and checks that New opens the result, keeps every
// acknowledged durable change and leaves unsynced objects absent or whole.
// It fails unless some seeds produced a hole followed by valid entries
// (what the old rule called corruption).
func TestCrashOutOfOrder(t *testing.T) {
	seeds := 400
	if testing.Short() {
		seeds = 60
	}
	opts := func() *Options { return &Options{SmallMax: 3000, PackSize: 32 << 10, Logger: quiet} }
	ctx := context.Background()
	outOfOrder, torn := 0, 0
	for seed := range uint64(seeds) {
		label := fmt.Sprintf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		fs := vfs.NewCrashableMem()
		v, err := New(fs, "/vol", opts())
		if err != nil {
			t.Fatal(err)
		}
		m := newModel()
		runSteps(t, v, m, randomSteps(rng))
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(seed, 2))})
		v.Close()

		data, seq := newestPack(t, crashed)
		if r := scanPack(data, seq); r.err != nil {
			torn++
			if scanAfter(data, r.end, seq).valid {
				outOfOrder++
			}
		}
		v2, err := New(crashed, "/vol", opts())
		if err != nil {
			t.Fatalf("%s: reopen: %v", label, err)
		}
		check(t, v2, m, label)
		if err := hsm.PutBytes(ctx, v2, "after/crash", []byte("x")); err != nil {
			t.Fatalf("%s: put after reopen: %v", label, err)
		}
		if _, err := v2.Compact(ctx, 0); err != nil {
			t.Fatalf("%s: compact after reopen: %v", label, err)
		}
		v2.Close()
		v3, err := New(crashed, "/vol", opts())
		if err != nil {
			t.Fatalf("%s: second reopen: %v", label, err)
		}
		check(t, v3, m, label+" second reopen")
		expect(t, v3, "after/crash", []byte("x"))
		v3.Close()
	}
	t.Logf("%d seeds: %d torn newest packs, %d with valid entries after the tear", seeds, torn, outOfOrder)
	if outOfOrder == 0 {
		t.Fatalf("no seed left valid entries after a tear: the test does not exercise out-of-order persistence")
	}
}
