package restore

import (
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
)

// TestCorruptBlobReportedRestOfAccountRestored damages one blob and
// removes another in the repository: both items are reported with their ids
// and reasons, every other item comes back. The two are large enough to be
// stored as objects of their own (small ones share pack chunks, and a
// damaged chunk takes all its messages with it).
func TestCorruptBlobReportedRestOfAccountRestored(t *testing.T) {
	r := newRig(t, vfs.NewMem(), "c", nil)
	a, err := r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "src@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	var items []engine.Item
	for i := 0; i < 10; i++ {
		body := "Subject: " + strings.Repeat("x", i+1) + "\r\n\r\nhi\r\n"
		if i == 3 || i == 7 {
			body += strings.Repeat("large body line\r\n", 80000) // ~1.3 MB: a loose object
		}
		res, err := r.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: []byte(body)})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res[0].Err)
		}
		items = append(items, res[0].Item)
	}
	r.Sync()
	if err := hsm.PutBytes(ctx, r.RepoVol, dedup.BlobName(items[3].Digest), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if err := r.RepoVol.Delete(ctx, dedup.BlobName(items[7].Digest)); err != nil {
		t.Fatal(err)
	}
	rep, err := restorerOf(r).Account(ctx, a.ID, Latest, "copy@example.org", AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ar := rep.Accounts[0]
	if rep.Restored != 8 || rep.Unrestored != 2 || ar.Unrestored[0].Item != items[3].ID || ar.Unrestored[1].Item != items[7].ID {
		t.Fatalf("report %s", rep)
	}
	if !strings.Contains(ar.Unrestored[0].Reason, "corrupt") || !strings.Contains(ar.Unrestored[1].Reason, "missing") {
		t.Fatalf("reasons %+v", ar.Unrestored)
	}
	if n := len(dump(t, r.Eng, ar.Target)["INBOX"]); n != 8 {
		t.Fatalf("inbox holds %d", n)
	}
}
