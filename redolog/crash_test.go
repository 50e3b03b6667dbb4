package redolog

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/tidemark/tidemark/internal/crashfs"
)

// crashWorkload drives a log on fs through appends, batches, seals and
// size rollovers from one goroutine, stopping at the first error (the crash).
// It returns how many records were acknowledged and how many were attempted;
// record j (1-based, in attempt order) gets LSN j and payloadFor(j).
func crashWorkload(fs *crashfs.FS) (acked, attempted int) {
	o := testOpts(fs)
	o.SegmentSize = 400
	l, err := Open("/log", o)
	if err != nil {
		return 0, 0
	}
	defer l.Close()
	for i := 1; i <= 30; i++ {
		switch {
		case i%11 == 0:
			if l.Seal() != nil {
				return acked, attempted
			}
		case i%7 == 0:
			var es []Entry
			for j := 1; j <= 3; j++ {
				es = append(es, Entry{Type: 3, Payload: payloadFor(attempted + j)})
			}
			attempted += 3
			if _, err := l.AppendBatch(es); err != nil {
				return acked, attempted
			}
			acked += 3
		default:
			attempted++
			if _, _, err := l.Append(1, payloadFor(attempted)); err != nil {
				return acked, attempted
			}
			acked++
		}
	}
	return acked, attempted
}

// TestCrashAtEveryOperation crashes the workload at every mutating file
// operation k, once keeping only synced data and once also keeping a
// half-finished write and everything unsynced, then reopens the crash image:
// every acknowledged record must be there intact, nothing but attempted
// records may appear, LSNs stay dense, and the log must take new appends.
func TestCrashAtEveryOperation(t *testing.T) {
	clean := crashfs.New()
	acked, _ := crashWorkload(clean)
	total := clean.Ops()
	if acked < 30 || total < 50 {
		t.Fatalf("workload too small: %d acked, %d ops", acked, total)
	}
	t.Logf("%d acknowledged records, %d file operations", acked, total)
	for _, torn := range []bool{false, true} {
		for k := 1; k <= total; k++ {
			fs := crashfs.New()
			fs.CrashAt, fs.Torn = k, torn
			acked, attempted := crashWorkload(fs)
			if fs.Crashed() == nil {
				t.Fatalf("k=%d: no crash", k)
			}
			img := fs.Crashed()
			l, err := Open("/log", testOpts(img))
			if err != nil {
				t.Fatalf("k=%d torn=%v: reopen: %v", k, torn, err)
			}
			r, err := l.NewReader(1)
			if err != nil {
				t.Fatal(err)
			}
			var recs []Record
			for {
				rec, err := r.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("k=%d torn=%v: read: %v", k, torn, err)
				}
				recs = append(recs, rec)
			}
			checkDense(t, recs, 1)
			if len(recs) < acked || len(recs) > attempted {
				t.Fatalf("k=%d torn=%v: %d records after crash, acked %d, attempted %d",
					k, torn, len(recs), acked, attempted)
			}
			if _, _, err := l.Append(1, payloadFor(len(recs)+1)); err != nil {
				t.Fatalf("k=%d: append after recovery: %v", k, err)
			}
			l.Close()
			if rep, err := Verify(img, "/log"); err != nil || rep.LastLSN != uint64(len(recs)+1) {
				t.Fatalf("k=%d torn=%v: verify after recovery: %+v %v", k, torn, rep, err)
			}
		}
	}
}
