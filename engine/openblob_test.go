package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestOpenBlobBytes: OpenBlob's reader hands the whole message over by
// Bytes (what a bulk FETCH uses instead of copying it again), equal to
// what reading it gives, and Close still works.
func TestOpenBlobBytes(t *testing.T) {
	e, a := newEngine(t)
	body := bytes.Repeat([]byte("Subject: bulk\r\n\r\nline of text\r\n"), 100)
	it := deliverOne(t, e, a.ID, body)
	for range 2 { // once from the pending copy, once from the volume
		rc, size, err := e.OpenBlob(ctx, a.ID, it.ID)
		must(t, err)
		whole, ok := rc.(interface{ Bytes() []byte })
		if !ok {
			t.Fatalf("OpenBlob returned %T, without Bytes", rc)
		}
		if !bytes.Equal(whole.Bytes(), body) || size != int64(len(body)) {
			t.Fatalf("Bytes: %d bytes (size %d), want %d", len(whole.Bytes()), size, len(body))
		}
		got, err := io.ReadAll(rc)
		must(t, err)
		if !bytes.Equal(got, body) {
			t.Fatalf("Read: %d bytes, want %d", len(got), len(body))
		}
		must(t, rc.Close())
		must(t, e.copies.barrier())
	}
}

// AppendBlob gives the message bytes after what the buffer held, for
// inline blobs whose copy is pending, for the same once written, for
// blob-first ones and compressed ones; from the pack volume a reused
// buffer reads without allocating the message again.
func TestAppendBlob(t *testing.T) {
	for _, compress := range []bool{false, true} {
		o := testOptions(vfs.NewMem())
		o.InlineBlobMax = 2048
		if compress {
			o.CompressThreshold = 1
		}
		e, err := Open("data", o)
		must(t, err)
		must(t, e.CreateDomain(ctx, "a.example"))
		a, err := e.CreateAccount(ctx, AccountSpec{Address: "a@a.example"})
		must(t, err)
		inbox := inboxOf(t, e, a.ID).ID
		bodies := map[uint64][]byte{}
		for i, n := range []int{100, 1500, 5000, 200000} {
			body := msg(fmt.Sprint("s", i), strings.Repeat(fmt.Sprintf("line %d of the body\r\n", i), n/20))
			it, err := e.Append(ctx, a.ID, inbox, body, nil, time.Time{})
			must(t, err)
			bodies[it.ID] = body
		}
		check := func(what string) {
			buf := []byte("head")
			for id, body := range bodies {
				got, err := e.AppendBlob(ctx, a.ID, id, buf[:4])
				must(t, err)
				if string(got[:4]) != "head" || !bytes.Equal(got[4:], body) {
					t.Fatalf("compress %v, %s: item %d: %d bytes, want %d", compress, what, id, len(got)-4, len(body))
				}
				buf = got
			}
			if _, err := e.AppendBlob(ctx, a.ID, 1<<40, buf[:0]); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing item: %v", err)
			}
		}
		check("pending")
		must(t, e.Checkpoint(ctx))
		check("written")
		if !compress {
			var big uint64
			for id, b := range bodies {
				if len(b) > 100000 {
					big = id
				}
			}
			buf, err := e.AppendBlob(ctx, a.ID, big, nil)
			must(t, err)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := 0; i < 10; i++ {
				buf, err = e.AppendBlob(ctx, a.ID, big, buf[:0])
				must(t, err)
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > uint64(len(bodies[big]))/10 {
				t.Errorf("reused buffer: %d bytes allocated per read of %d", per, len(bodies[big]))
			}
		}
		must(t, e.Close())
	}
}
