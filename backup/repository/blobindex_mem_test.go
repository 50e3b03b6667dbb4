package repository

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"

	"github.com/tidemark/tidemark/dedup"
)

// BenchmarkBlobIndexMemory reports the heap a repository's index of packed
// blobs holds per blob once loaded (the in-memory structure alone: packs
// of 1,000 blobs in 16 chunks, as the scanner writes them). A process that
// reads packed blobs (a restore, verify, the scanner's pack merges) keeps
// it for the repository's life.
func BenchmarkBlobIndexMemory(b *testing.B) {
	const packs, perPack = 200, 1000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var x blobIndex
		x.init()
		for p := range packs {
			pi := PackIndex{Chunks: make([]packChunk, 16), Blobs: make([]PackEntry, perPack)}
			for i := range pi.Blobs {
				var d dedup.Digest
				rand.Read(d[:])
				pi.Blobs[i] = PackEntry{Digest: d, Chunk: i % 16, Off: int64(i) * 1000, Len: 1000}
			}
			x.addPack(fmt.Sprintf("packs/%02x/%032x.pack", p%256, p), 16<<20, pi)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(packs*perPack), "B/blob")
		runtime.KeepAlive(&x)
	}
}
