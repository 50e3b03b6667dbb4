package packvol

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// blobName is the name the engine stores a message blob under
// (dedup.BlobName of the SHA-256 of i), spelled out here because packvol
// does not import dedup.
func blobName(i int) string {
	d := sha256.Sum256(fmt.Appendf(nil, "message %d", i))
	h := hex.EncodeToString(d[:])
	return "blobs/" + h[:2] + "/" + h
}

// indexObjects is how many objects BenchmarkIndexMemory puts in the index:
// about a mail server's worth, so map growth steps average out.
const indexObjects = 1_000_000

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fillIndex applies n put entries to v's index through apply, the path New
// and every append take, as if the objects sat in 64 MiB packs of 4 KB
// messages (the packs are placeholders: no file behind them).
func fillIndex(v *Volume, n int, name func(int) string) {
	const perPack = 64 << 20 / 4200
	v.mu.Lock()
	defer v.mu.Unlock()
	base := v.cur.seq + 1
	for i := range n {
		seq := base + uint64(i/perPack)
		if v.packs[seq] == nil {
			v.packs[seq] = &pack{seq: seq, size: 64 << 20}
		}
		nm := name(i)
		size := int64(3000 + i%2000)
		if err := v.apply(kindPut, nm, loc{
			seq: seq, off: packHeaderSize + int64(i%perPack)*4200,
			n: entrySize(nm, int(size)), size: size, mtime: 1_700_000_000_000_000_000 + int64(i),
		}); err != nil {
			panic(err)
		}
	}
}

// dropPlaceholders empties the index and removes fillIndex's packs, so
// that Close neither touches them nor checkpoints the made-up entries.
func dropPlaceholders(v *Volume) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.index.file != nil {
		_ = v.index.file.close()
	}
	v.index = newIndex(v.packExists)
	for seq, p := range v.packs {
		if p.f == nil {
			delete(v.packs, seq)
		}
	}
}

// BenchmarkIndexMemory reports the heap the index keeps per object
// (B/object), for message blob names and for other names, with 1,000,000
// objects: delta-B/object while they are all changes since the
// checkpoint (held in memory as before the checkpoint file held the
// index's bulk), B/object once Checkpoint merged them into the file, and
// ckpt-alloc-B/object, the bytes Checkpoint allocated while merging, and
// ckpt-ms, the time it took (to a file on disk). Run
// with -benchtime=1x: one fill is the measurement.
func BenchmarkIndexMemory(b *testing.B) {
	cases := []struct {
		label string
		name  func(int) string
	}{
		{"blobs", blobName},
		{"other", func(i int) string { return fmt.Sprintf("objects/%02x/%010d", i%256, i) }},
	}
	for _, c := range cases {
		b.Run(c.label, func(b *testing.B) {
			var delta, after, alloc, ckptMS float64
			for b.Loop() {
				v, err := New(vfs.Default, b.TempDir(), &Options{Logger: quiet, IndexDelta: -1})
				if err != nil {
					b.Fatal(err)
				}
				before := heapInUse()
				fillIndex(v, indexObjects, c.name)
				filled := heapInUse()
				if got := v.Stats().Objects; got != indexObjects {
					b.Fatalf("%d objects in the index", got)
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				allocBefore := ms.TotalAlloc
				start := time.Now()
				if err := v.Checkpoint(context.Background()); err != nil {
					b.Fatal(err)
				}
				ckptMS = float64(time.Since(start).Microseconds()) / 1000
				runtime.ReadMemStats(&ms)
				alloc = float64(ms.TotalAlloc-allocBefore) / indexObjects
				merged := heapInUse()
				if got := v.Stats().Objects; got != indexObjects || v.index.delta.len() != 0 {
					b.Fatalf("%d objects, %d changes after the checkpoint", got, v.index.delta.len())
				}
				delta = float64(int64(filled)-int64(before)) / indexObjects
				after = float64(int64(merged)-int64(before)) / indexObjects
				dropPlaceholders(v)
				if err := v.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(delta, "delta-B/object")
			b.ReportMetric(after, "B/object")
			b.ReportMetric(alloc, "ckpt-alloc-B/object")
			b.ReportMetric(ckptMS, "ckpt-ms")
		})
	}
}

// BenchmarkIndexStat times Stat of packed message blobs (an index lookup
// under the read lock) in an index of 1,000,000.
func BenchmarkIndexStat(b *testing.B) {
	v, err := New(vfs.NewMem(), "/vol", &Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	fillIndex(v, indexObjects, blobName)
	names := make([]string, 4096)
	for i := range names {
		names[i] = blobName(i * 241)
	}
	ctx := context.Background()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := v.Stat(ctx, names[i%len(names)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	dropPlaceholders(v)
	if err := v.Close(); err != nil {
		b.Fatal(err)
	}
}
