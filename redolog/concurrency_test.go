package redolog

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestConcurrentAppendsWithTail has many goroutines append while a tailing
// reader follows the log across rollovers and explicit seals. Every record
// acknowledged must be read exactly once, in LSN order, by the tail and by a
// reader opened afterwards; LSNs must be dense and strictly increasing.
func TestConcurrentAppendsWithTail(t *testing.T) {
	const writers, perWriter = 16, 150
	fs := vfs.NewMem()
	o := testOpts(fs)
	o.SegmentSize = 2048 // a few dozen records per segment: many rollovers
	l := mustOpen(t, "/log", o)
	defer l.Close()

	tail, err := l.Tail(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		recs []Record
		err  error
	}
	tailed := make(chan result, 1)
	go func() {
		var res result
		for len(res.recs) < writers*perWriter {
			rec, err := tail.Next(ctx)
			if err != nil {
				res.err = err
				break
			}
			res.recs = append(res.recs, rec)
		}
		tailed <- res
	}()

	// acked[lsn] is the payload whose Append returned that LSN.
	var mu sync.Mutex
	acked := map[uint64][]byte{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev uint64
			for i := 0; i < perWriter; i++ {
				p := binary.LittleEndian.AppendUint32(nil, uint32(w))
				p = binary.LittleEndian.AppendUint32(p, uint32(i))
				var lsn uint64
				if i%10 == 9 {
					recs, err := l.AppendBatch([]Entry{{Type: 2, Payload: p}})
					if err != nil {
						t.Error(err)
						return
					}
					lsn = recs[0].LSN
				} else {
					var err error
					if lsn, _, err = l.Append(1, p); err != nil {
						t.Error(err)
						return
					}
				}
				if lsn <= prev {
					t.Errorf("writer %d: lsn %d after %d", w, lsn, prev)
				}
				prev = lsn
				mu.Lock()
				acked[lsn] = p
				mu.Unlock()
				if w == 0 && i%40 == 39 {
					if err := l.Seal(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := uint64(writers * perWriter)
	if l.LastLSN() != total || len(acked) != int(total) {
		t.Fatalf("last lsn %d, %d distinct acks, want %d", l.LastLSN(), len(acked), total)
	}
	check := func(who string, recs []Record) {
		t.Helper()
		if uint64(len(recs)) != total {
			t.Fatalf("%s read %d records, want %d", who, len(recs), total)
		}
		var prevTime int64
		for i, r := range recs {
			if r.LSN != uint64(i)+1 {
				t.Fatalf("%s: record %d has lsn %d", who, i, r.LSN)
			}
			if string(r.Payload) != string(acked[r.LSN]) {
				t.Fatalf("%s: lsn %d payload %x, acked %x", who, r.LSN, r.Payload, acked[r.LSN])
			}
			if r.Time <= prevTime {
				t.Fatalf("%s: lsn %d time not increasing", who, r.LSN)
			}
			prevTime = r.Time
		}
	}
	res := <-tailed
	if res.err != nil {
		t.Fatalf("tail: %v", res.err)
	}
	check("tail", res.recs)
	r, err := l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	check("reader", readAllRecords(t, r))
	arch, _ := listSegments(fs, "/log/archive")
	if len(arch) < 10 {
		t.Fatalf("only %d archived segments: rollover not exercised", len(arch))
	}
	// The tail is at the end: it must block, not repeat or invent records.
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if _, err := tail.Next(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("tail at end: %v", err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, ErrClosed) && !errors.Is(err, io.EOF) {
		t.Fatalf("closed reader: %v", err)
	}
}

// TestReadDirWhileAppending reads the directory with ReadDir, as dump and
// backup tools do, while a live log appends and rolls over: every pass must
// see a dense prefix of the log and no error.
func TestReadDirWhileAppending(t *testing.T) {
	fs := vfs.NewMem()
	o := testOpts(fs)
	o.SegmentSize = 1024
	l := mustOpen(t, "/log", o)
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= 600; i++ {
			if _, _, err := l.Append(1, payloadFor(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for pass := 0; ; pass++ {
		var appendErr error
		finished := false
		select {
		case appendErr = <-done:
			finished = true
		default:
		}
		if appendErr != nil {
			t.Fatal(appendErr)
		}
		r, err := ReadDir(fs, "/log", 0)
		if err != nil {
			if !finished {
				<-done
			}
			t.Fatalf("pass %d: %v", pass, err)
		}
		recs := readAllRecords(t, r)
		checkDense(t, recs, 1)
		if finished {
			if len(recs) != 600 {
				t.Fatalf("final pass read %d records", len(recs))
			}
			return
		}
	}
}
