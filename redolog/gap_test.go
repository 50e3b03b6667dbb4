package redolog

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tidemark/tidemark/internal/crashfs"
)

// readWithGaps reads every record from r, collecting the gaps it reports
// on the way.
func readWithGaps(t testing.TB, r *Reader) ([]Record, []Gap) {
	t.Helper()
	defer r.Close()
	var recs []Record
	var gaps []Gap
	for {
		rec, err := r.Next(context.Background())
		var ge *GapError
		switch {
		case errors.Is(err, io.EOF):
			return recs, gaps
		case errors.As(err, &ge):
			gaps = append(gaps, ge.Gap)
		case err != nil:
			t.Fatalf("next after %d records: %v", len(recs), err)
		default:
			recs = append(recs, rec)
		}
	}
}

// checkGapped asserts recs are dense from 1 with payloadFor(lsn), except
// that the LSNs of gaps are skipped, and that times increase.
func checkGapped(t testing.TB, recs []Record, gaps []Gap) {
	t.Helper()
	want := uint64(1)
	gi := 0
	var prev int64
	for _, r := range recs {
		for gi < len(gaps) && gaps[gi].From == want {
			want = gaps[gi].To + 1
			gi++
		}
		if r.LSN != want {
			t.Fatalf("lsn %d, want %d (gaps %+v)", r.LSN, want, gaps)
		}
		if string(r.Payload) != string(payloadFor(int(r.LSN))) {
			t.Fatalf("lsn %d: payload %q", r.LSN, r.Payload)
		}
		if r.Time <= prev {
			t.Fatalf("lsn %d: time %d not after %d", r.LSN, r.Time, prev)
		}
		prev = r.Time
		want++
	}
}

func TestAcceptGap(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, "/log", testOpts(fs))
	appendN(t, l, 5)
	if _, err := l.AcceptGap(5, "x"); err == nil {
		t.Fatal("a gap that does not start after the last lsn was accepted")
	}
	if _, err := l.AppendBatch([]Entry{{Type: TypeGap}}); err == nil {
		t.Fatal("append of the reserved gap type was accepted")
	}
	g, err := l.AcceptGap(8, "tail record damaged; projection applied through 8")
	if err != nil {
		t.Fatal(err)
	}
	if g.From != 6 || g.To != 8 || g.Time.IsZero() {
		t.Fatalf("gap %+v", g)
	}
	if l.LastLSN() != 8 || !l.LastTime().Equal(g.Time) {
		t.Fatalf("after the gap: last lsn %d time %v", l.LastLSN(), l.LastTime())
	}
	lsn, _, err := l.Append(1, payloadFor(9))
	if err != nil || lsn != 9 {
		t.Fatalf("append after the gap: lsn %d, %v", lsn, err)
	}
	check := func(l *Log, last uint64) {
		t.Helper()
		r, err := l.NewReader(0)
		if err != nil {
			t.Fatal(err)
		}
		recs, gaps := readWithGaps(t, r)
		if len(gaps) != 1 || gaps[0].From != 6 || gaps[0].To != 8 || gaps[0].Reason == "" || !gaps[0].Time.Equal(g.Time) {
			t.Fatalf("gaps %+v", gaps)
		}
		checkGapped(t, recs, gaps)
		if recs[len(recs)-1].LSN != last {
			t.Fatalf("last record %d, want %d", recs[len(recs)-1].LSN, last)
		}
		for _, from := range []uint64{6, 7, 8} {
			_, err := l.NewReader(from)
			var ge *GapError
			if !errors.As(err, &ge) || !errors.Is(err, ErrGap) || ge.Gap.From != 6 || ge.Gap.To != 8 {
				t.Fatalf("reader from %d inside the gap: %v", from, err)
			}
			if _, err := ReadDir(fs, "/log", from); !errors.As(err, &ge) || ge.Gap.To != 8 {
				t.Fatalf("ReadDir from %d inside the gap: %v", from, err)
			}
		}
		r, err = l.NewReader(9)
		if err != nil {
			t.Fatal(err)
		}
		if recs, gaps := readWithGaps(t, r); len(gaps) != 0 || recs[0].LSN != 9 {
			t.Fatalf("from 9: %d records, gaps %+v", len(recs), gaps)
		}
	}
	check(l, 9)
	l.Close()
	l = mustOpen(t, "/log", testOpts(fs))
	defer l.Close()
	if l.LastLSN() != 9 {
		t.Fatalf("reopened: last lsn %d", l.LastLSN())
	}
	appendN(t, l, 12)
	check(l, 12)
	r, err := ReadDir(fs, "/log", 0)
	if err != nil {
		t.Fatal(err)
	}
	recs, gaps := readWithGaps(t, r)
	checkGapped(t, recs, gaps)
	if len(recs) != 9 || len(gaps) != 1 {
		t.Fatalf("ReadDir: %d records, gaps %+v", len(recs), gaps)
	}
	rep, err := Verify(fs, "/log")
	if err != nil || rep.Records != 9 || rep.LastLSN != 12 || len(rep.Gaps) != 1 || rep.Gaps[0].To != 8 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// TestAcceptGapWakesTail: a tail reader waiting in the empty active
// segment sees the gap, then the records after it.
func TestAcceptGapWakesTail(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, "/log", testOpts(fs))
	defer l.Close()
	appendN(t, l, 3)
	l.Close()
	l = mustOpen(t, "/log", testOpts(fs)) // active segment empty at 4
	defer l.Close()
	r, err := l.Tail(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := r.Next(ctx)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := l.AcceptGap(5, "test"); err != nil {
		t.Fatal(err)
	}
	var ge *GapError
	if err := <-got; !errors.As(err, &ge) || ge.Gap.From != 4 || ge.Gap.To != 5 {
		t.Fatalf("tail at the gap: %v", err)
	}
	if _, _, err := l.Append(1, payloadFor(6)); err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next(ctx)
	if err != nil || rec.LSN != 6 {
		t.Fatalf("after the gap: %+v %v", rec, err)
	}
}

// TestGapSegmentCorrupt: a damaged gap segment is corruption for Open and
// Verify, never a silent jump.
func TestGapSegmentCorrupt(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, "/log", testOpts(fs))
	appendN(t, l, 3)
	if _, err := l.AcceptGap(4, "test"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 6)
	l.Close()
	path := "/log/archive/" + segmentName(4)
	data, err := readAll(fs, path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0x40
	f, _ := fs.Create(path, vfs.WriteCategoryUnspecified)
	f.Write(data)
	f.Close()
	if _, err := Verify(fs, "/log"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify of a damaged gap segment: %v", err)
	}
	r, err := ReadDir(fs, "/log", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; ; i++ {
		_, err := r.Next(context.Background())
		if errors.Is(err, ErrCorrupt) {
			break
		}
		if err != nil || i > 10 {
			t.Fatalf("reading past a damaged gap segment: %v", err)
		}
	}
}

// gapCrashWorkload appends records, accepts a gap of five LSNs after the
// twelfth, and appends more; it returns what was acknowledged.
func gapCrashWorkload(fs *crashfs.FS) (acked, attempted int, gapAcked bool) {
	o := testOpts(fs)
	o.SegmentSize = 400
	l, err := Open("/log", o)
	if err != nil {
		return 0, 0, false
	}
	defer l.Close()
	lsn := 0
	for i := 1; i <= 24; i++ {
		if i == 13 {
			if _, err := l.AcceptGap(uint64(lsn+5), "crash test"); err != nil {
				return acked, attempted, false
			}
			lsn += 5
			gapAcked = true
		}
		lsn++
		attempted++
		if _, _, err := l.Append(1, payloadFor(lsn)); err != nil {
			return acked, attempted, gapAcked
		}
		acked++
		if i%5 == 0 && l.Seal() != nil {
			return acked, attempted, gapAcked
		}
	}
	return acked, attempted, gapAcked
}

// TestCrashAcceptGap crashes the gap workload at every file operation
// (synced data only, then with torn and unsynced writes kept): every
// acknowledged record and an acknowledged gap survive, a gap is whole or
// absent, records after the gap exist only with it, and the log takes
// appends and verifies clean after recovery.
func TestCrashAcceptGap(t *testing.T) {
	clean := crashfs.New()
	acked, _, gapAcked := gapCrashWorkload(clean)
	total := clean.Ops()
	if acked != 24 || !gapAcked {
		t.Fatalf("workload: %d acked, gap %v", acked, gapAcked)
	}
	for _, torn := range []bool{false, true} {
		for k := 1; k <= total; k++ {
			fs := crashfs.New()
			fs.CrashAt, fs.Torn = k, torn
			acked, attempted, gapAcked := gapCrashWorkload(fs)
			img := fs.Crashed()
			if img == nil {
				t.Fatalf("k=%d: no crash", k)
			}
			l, err := Open("/log", testOpts(img))
			if err != nil {
				t.Fatalf("k=%d torn=%v: reopen: %v", k, torn, err)
			}
			r, err := l.NewReader(0)
			if err != nil {
				t.Fatalf("k=%d torn=%v: %v", k, torn, err)
			}
			recs, gaps := readWithGaps(t, r)
			checkGapped(t, recs, gaps)
			if len(recs) < acked || len(recs) > attempted {
				t.Fatalf("k=%d torn=%v: %d records, acked %d attempted %d", k, torn, len(recs), acked, attempted)
			}
			if gapAcked && len(gaps) != 1 || len(gaps) > 1 {
				t.Fatalf("k=%d torn=%v: gaps %+v, gap acknowledged %v", k, torn, gaps, gapAcked)
			}
			if len(gaps) == 1 && (gaps[0].From != 13 || gaps[0].To != 17 || gaps[0].Reason != "crash test") {
				t.Fatalf("k=%d torn=%v: gap %+v", k, torn, gaps[0])
			}
			if len(gaps) == 0 && len(recs) > 12 {
				t.Fatalf("k=%d torn=%v: records after the gap without it", k, torn)
			}
			next := l.LastLSN() + 1
			if _, _, err := l.Append(1, payloadFor(int(next))); err != nil {
				t.Fatalf("k=%d: append after recovery: %v", k, err)
			}
			l.Close()
			rep, err := Verify(img, "/log")
			if err != nil || rep.LastLSN != next || len(rep.Gaps) != len(gaps) {
				t.Fatalf("k=%d torn=%v: verify after recovery: %+v %v", k, torn, rep, err)
			}
		}
	}
}
