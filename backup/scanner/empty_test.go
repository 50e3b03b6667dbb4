package scanner_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
)

// An empty message (IMAP allows APPEND with a literal of 0 bytes) is a
// message like any other: its blob is shipped, verify finds nothing
// missing and the blob reads back empty.
func TestEmptyMessageIsBackedUp(t *testing.T) {
	for _, format := range []int{1, 2} {
		t.Run(map[int]string{1: "format1", 2: "format2"}[format], func(t *testing.T) {
			defer backuptest.SetNewFormat(format)()
			h := backuptest.NewHarness(t, nil)
			ctx := context.Background()
			e := h.Eng
			if err := e.CreateDomain(ctx, "example.org"); err != nil {
				t.Fatal(err)
			}
			a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "alice@example.org", Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			// Alone in its batch: the pack writer's chunk holds no bytes.
			empty, err := e.Append(ctx, a.ID, inbox.ID, nil, nil, h.Clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			h.WaitShipped()
			check := func(items int) {
				t.Helper()
				raw, err := h.Repo.ReadBlob(ctx, empty.Digest)
				if err != nil || len(raw) != 0 {
					t.Fatalf("read empty blob: %q %v", raw, err)
				}
				st, err := h.Cat.AccountAt(ctx, a.ID, h.Clk.Now().Add(time.Minute))
				if err != nil || len(st.Items) != items {
					t.Fatalf("catalog: %+v %v", st.Items, err)
				}
				vr, err := maint.Verify(ctx, h.Repo, h.Cat, maint.VerifyOptions{ReadData: true})
				if err != nil || !vr.OK() || len(vr.Problems) != 0 {
					t.Fatalf("verify: %+v %v", vr.Problems, err)
				}
			}
			check(1)
			// And beside a message with bytes.
			if _, err := e.Append(ctx, a.ID, inbox.ID, backuptest.Message(1, 300), nil, h.Clk.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Append(ctx, a.ID, inbox.ID, []byte{}, []string{`\Seen`}, h.Clk.Now()); err != nil {
				t.Fatal(err)
			}
			h.WaitShipped()
			if empty.Digest != dedup.Sum(nil) {
				t.Fatalf("empty message digest %x", empty.Digest)
			}
			check(3)
			// A repository opened afresh (its blob index read from the
			// packs) still finds it.
			r2, err := repository.Open(ctx, h.Repo.Volume())
			if err != nil {
				t.Fatal(err)
			}
			if raw, err := r2.ReadBlob(ctx, empty.Digest); err != nil || len(raw) != 0 {
				t.Fatalf("reopened: read empty blob: %q %v", raw, err)
			}
		})
	}
}
