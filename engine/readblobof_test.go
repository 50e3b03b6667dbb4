package engine

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestReadBlobOf: a message read by its digest is the message read by
// its item, for small (inline) and large messages, through a buffer too
// small, one large enough (reused: what it held before is not part of the
// answer) and none; an unknown digest, and the digest of a message
// expunged and collected, are ErrNotFound, which IMAP FETCH takes for
// "expunged by another session".
func TestReadBlobOf(t *testing.T) {
	e, a, inbox := oneInbox(t)
	var items []Item
	for _, size := range []int{10, 3000, 200 << 10} {
		body := []byte("Subject: size\r\n\r\n" + strings.Repeat("x", size) + "\r\n")
		it, err := e.Append(ctx, a.ID, inbox, body, nil, time.Time{})
		must(t, err)
		items = append(items, it)
		byItem, err := e.AppendBlob(ctx, a.ID, it.ID, nil)
		must(t, err)
		if !bytes.Equal(byItem, body) {
			t.Fatalf("size %d: by item: %d bytes, want %d", size, len(byItem), len(body))
		}
		for _, buf := range [][]byte{nil, make([]byte, 5, 8), bytes.Repeat([]byte("z"), 300<<10)} {
			got, next, err := e.ReadBlobOf(ctx, it.Digest, buf)
			must(t, err)
			if !bytes.Equal(got, body) {
				t.Fatalf("size %d, buffer of %d: ReadBlobOf gave %d bytes, want %d", size, cap(buf), len(got), len(body))
			}
			if cap(next) < cap(buf) {
				t.Fatalf("size %d: the buffer came back smaller (%d) than given (%d)", size, cap(next), cap(buf))
			}
			// Reading another message through next leaves got's owner
			// free to reuse it: got is only read before that.
			if _, _, err := e.ReadBlobOf(ctx, items[0].Digest, next); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := e.ReadBlobOf(ctx, Digest{9, 9, 9}, nil); !errors.Is(err, ErrNotFound) {
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
			if _, _, err := e.ReadBlobOf(ctx, it.Digest, nil); errors.Is(err, ErrNotFound) {
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
