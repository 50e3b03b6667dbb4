package engine

import (
	"bytes"
	"io"
	"testing"
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
