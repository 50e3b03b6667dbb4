package engine

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/klauspost/compress/zstd"

	"github.com/tidemark/tidemark/hsm/memvol"
)

var (
	benchOnce sync.Once
	benchMsgs [][]byte
)

// loadRealistic unpacks the realistic corpus tarballs (maildirs) into
// memory, at most 20,000 messages.
func loadRealistic(b *testing.B) [][]byte {
	dir := corpusDir(b, "realistic")
	benchOnce.Do(func() {
		tars, _ := filepath.Glob(filepath.Join(dir, "*.tar.zst"))
		for _, name := range tars {
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			zr, err := zstd.NewReader(f)
			if err != nil {
				b.Fatal(err)
			}
			tr := tar.NewReader(zr)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if h.Typeflag != tar.TypeReg || h.Size == 0 {
					continue
				}
				body, err := io.ReadAll(tr)
				if err != nil {
					b.Fatal(err)
				}
				benchMsgs = append(benchMsgs, body)
			}
			zr.Close()
			f.Close()
		}
	})
	if len(benchMsgs) == 0 {
		b.Skip("realistic corpus is empty")
	}
	return benchMsgs
}

// peakRSS reads the process's peak resident set (VmHWM) in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkDeliver measures engine-level deliveries with fsync on, on the
// real disk (t.TempDir), for blob-inline (default 64 KiB limit) and
// blob-first (every blob written to the volume before its record), with
// 1, 8 and 32 concurrent deliverers, each delivering to its own account.
// "inline-memvol" keeps the primary volume in memory: the redo log on disk
// is then the only I/O, which shows what the log path alone sustains.
// msg/s counts answered deliveries; written-msg/s also waits for the
// background writer to put every inline copy on the volume.
// BENCH_WRITERS=n sets Options.InlineWriters; BENCH_LAYOUT=localvol|packvol
// the primary volume's layout (default packvol).
func BenchmarkDeliver(b *testing.B) {
	msgs := loadRealistic(b)
	for _, mode := range []string{"inline", "first", "inline-memvol"} {
		for _, conc := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/deliverers=%d", mode, conc), func(b *testing.B) {
				o := &Options{FS: vfs.Default, CheckpointInterval: -1, BcryptCost: 4}
				if l := os.Getenv("BENCH_LAYOUT"); l != "" {
					o.PrimaryLayout = l
				}
				if n, err := strconv.Atoi(os.Getenv("BENCH_WRITERS")); err == nil {
					o.InlineWriters = n
				}
				switch mode {
				case "first":
					o.InlineBlobMax = -1
				case "inline-memvol":
					o.Primary = memvol.New(nil)
				}
				e, err := Open(b.TempDir(), o)
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				must(b, e.CreateDomain(ctx, "bench.example"))
				accts := make([]uint64, conc)
				for i := range accts {
					a, err := e.CreateAccount(ctx, AccountSpec{Address: fmt.Sprintf("u%d@bench.example", i)})
					must(b, err)
					accts[i] = a.ID
				}
				var next atomic.Int64
				var bytes atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for w := 0; w < conc; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1) - 1
							if i >= int64(b.N) {
								return
							}
							body := msgs[int(i)%len(msgs)]
							res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{accts[w]}, Body: body})
							if err != nil || res[0].Err != nil {
								b.Errorf("deliver: %v %v", err, res)
								return
							}
							bytes.Add(int64(len(body)))
						}
					}()
				}
				wg.Wait()
				el := time.Since(start).Seconds()
				// Answered is not yet on the volume: also time until every
				// inline copy is written (not synced), the sustained rate.
				if err := e.copies.barrier(); err != nil {
					b.Fatal(err)
				}
				drained := time.Since(start).Seconds()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/el, "msg/s")
				b.ReportMetric(float64(b.N)/drained, "written-msg/s")
				b.ReportMetric(float64(bytes.Load())/el/1e6, "MB/s")
				b.ReportMetric(peakRSS(), "peakRSS-MiB")
			})
		}
	}
}
