package packvol

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lookupObjects is how many message blobs BenchmarkIndexLookup stores.
const lookupObjects = 200_000

// BenchmarkIndexLookup times Stat (the index lookup alone) and Get (the
// lookup and the read of the entry) of random stored message blobs of
// 1 KB among 200,000 on disk, and PutDeferred of new 100-byte blobs (whose
// index update looks the name up first), with the page cache warm: index=memory has
// every place in memory (the volume opened by the full scan with
// background checkpoints off: the layout before the checkpoint file held
// the bulk), index=file has them in the checkpoint file (opened from the
// checkpoint Close wrote: each lookup a search of the fence and a pread).
func BenchmarkIndexLookup(b *testing.B) {
	dir := b.TempDir()
	o := &Options{Logger: quiet, IndexDelta: -1}
	path, ckpt := fillOnDisk(b, dir, o, lookupObjects, 1000)
	ctx := context.Background()
	msg := bytes.Repeat([]byte("y"), 100)
	var err error
	rng := rand.New(rand.NewPCG(1, 1))
	names := make([]string, 1<<16)
	for i := range names {
		names[i] = blobName(rng.IntN(lookupObjects))
	}
	for _, where := range []string{"memory", "file"} {
		if where == "memory" {
			err = os.Remove(path)
		} else {
			err = os.WriteFile(path, ckpt, 0o600)
		}
		if err != nil {
			b.Fatal(err)
		}
		v, err := New(vfs.Default, dir, o)
		if err != nil {
			b.Fatal(err)
		}
		fresh := lookupObjects
		for _, op := range []string{"stat", "get", "put"} {
			b.Run(fmt.Sprintf("index=%s/%s", where, op), func(b *testing.B) {
				i := 0
				for b.Loop() {
					name := names[i%len(names)]
					i++
					if op == "put" {
						fresh++
						err = v.PutDeferred(ctx, blobName(fresh), bytes.NewReader(msg[:100]), 100)
					} else if op == "stat" {
						_, err = v.Stat(ctx, name)
					} else {
						var rc interface{ Close() error }
						rc, err = v.Get(ctx, name)
						if err == nil {
							rc.Close()
						}
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		if err := v.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
