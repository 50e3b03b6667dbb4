package redolog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// fixedClock returns a clock that always says the same instant, so record
// times come only from the strictly-increasing rule.
func fixedClock() func() time.Time {
	t := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { return t }
}

// testOpts returns options on fs with a quiet logger.
func testOpts(fs vfs.FS) *Options {
	return &Options{FS: fs, Now: fixedClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func mustOpen(t testing.TB, dir string, o *Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func payloadFor(i int) []byte { return fmt.Appendf(nil, "record-%06d", i) }

// readAllRecords reads every record from r until io.EOF.
func readAllRecords(t testing.TB, r *Reader) []Record {
	t.Helper()
	defer r.Close()
	var out []Record
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("next after %d records: %v", len(out), err)
		}
		out = append(out, rec)
	}
}

// checkDense asserts recs are LSNs first, first+1, ... with payloadFor(lsn).
func checkDense(t testing.TB, recs []Record, first uint64) {
	t.Helper()
	var prevTime int64
	for i, r := range recs {
		if r.LSN != first+uint64(i) {
			t.Fatalf("record %d: lsn %d, want %d", i, r.LSN, first+uint64(i))
		}
		if want := payloadFor(int(r.LSN)); !bytes.Equal(r.Payload, want) {
			t.Fatalf("lsn %d: payload %q, want %q", r.LSN, r.Payload, want)
		}
		if r.Time <= prevTime {
			t.Fatalf("lsn %d: time %d not after %d", r.LSN, r.Time, prevTime)
		}
		prevTime = r.Time
	}
}

// appendN appends payloadFor(lsn) records until the log's last LSN is n.
func appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := int(l.LastLSN()) + 1; i <= n; i++ {
		lsn, _, err := l.Append(uint16(i%7), payloadFor(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if lsn != uint64(i) {
			t.Fatalf("append %d got lsn %d", i, lsn)
		}
	}
}
