package engine

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestAppendBlobOf: a message read by its digest is the message read by
// its item, appended after what the buffer held, for small (inline) and
// large messages; an unknown digest, and the digest of a message expunged
// and collected, are ErrNotFound, which IMAP FETCH takes for "expunged by
// another session".
func TestAppendBlobOf(t *testing.T) {
	e, a, inbox := oneInbox(t)
	var items []Item
	for _, size := range []int{10, 3000, 200 << 10} {
		body := []byte("Subject: size\r\n\r\n" + strings.Repeat("x", size) + "\r\n")
		it, err := e.Append(ctx, a.ID, inbox, body, nil, time.Time{})
		must(t, err)
		items = append(items, it)
		for _, prefix := range [][]byte{nil, []byte("kept")} {
			got, err := e.AppendBlobOf(ctx, it.Digest, prefix)
			must(t, err)
			want := append(append([]byte(nil), prefix...), body...)
			if !bytes.Equal(got, want) {
				t.Fatalf("size %d: AppendBlobOf gave %d bytes, want %d", size, len(got), len(want))
			}
			byItem, err := e.AppendBlob(ctx, a.ID, it.ID, prefix)
			must(t, err)
			if !bytes.Equal(byItem, got) {
				t.Fatalf("size %d: by digest and by item differ", size)
			}
		}
	}
	if _, err := e.AppendBlobOf(ctx, Digest{9, 9, 9}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown digest: %v, want ErrNotFound", err)
	}
	must(t, e.Checkpoint(ctx))
	ids := []uint64{items[0].ID, items[1].ID, items[2].ID}
	_, err := e.Expunge(ctx, a.ID, inbox, ids)
	must(t, err)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		must(t, e.Checkpoint(ctx))
		gone := 0
		for _, it := range items {
			if _, err := e.AppendBlobOf(ctx, it.Digest, nil); errors.Is(err, ErrNotFound) {
				gone++
			} else if err != nil {
				t.Fatalf("expunged message: %v, want its bytes or ErrNotFound", err)
			}
		}
		if gone == len(items) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d expunged messages still readable by digest after collection", len(items)-gone, len(items))
		}
	}
}

// oneInbox is an engine on an in-memory file system with one account,
// a@example.com, and its INBOX's id; the engine closes with the test.
func oneInbox(t *testing.T) (*Engine, Account, uint64) {
	t.Helper()
	e := openTest(t, vfs.NewMem(), "data")
	t.Cleanup(func() { e.Close() })
	must(t, e.CreateDomain(ctx, "example.com"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "a@example.com"})
	must(t, err)
	return e, a, inboxOf(t, e, a.ID).ID
}
