package redolog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// BenchmarkAppend measures durable appends on the real disk under the test's
// temporary directory: records/s and p50/p99 Append latency for each payload
// size and number of concurrent writers, fsync on (SyncAlways). Each writer
// goroutine appends in a loop; b.N appends are shared among them.
//
//	go test -run XXX -bench 'Append|Fdatasync' -benchtime 3s ./redolog
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{200, 4096} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("payload=%d/writers=%d", size, writers), func(b *testing.B) {
				benchAppend(b, size, writers)
			})
		}
	}
}

func benchAppend(b *testing.B, size, writers int) {
	l, err := Open(b.TempDir(), &Options{FS: vfs.Default})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payload := make([]byte, size)
	lat := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	per := b.N / writers
	extra := b.N % writers
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		n := per
		if w < extra {
			n++
		}
		lat[w] = make([]time.Duration, 0, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				t0 := time.Now()
				if _, _, err := l.Append(1, payload); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "rec/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkFdatasync is the physical limit the group commit works against:
// one small write plus fdatasync per operation, on the same disk.
func BenchmarkFdatasync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 226)
	var off int64
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(buf))
		if err := fdatasync(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "syncs/s")
}
