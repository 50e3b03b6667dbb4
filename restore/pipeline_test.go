package restore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
)

// TestPipelinedFolderKeepsUIDOrder restores folders large enough to go
// through the staging folder, with messages of very different sizes (so
// appends finish out of order) and one corrupt blob: the items come back
// in their UID order, the bad one is reported, and no staging folder is
// left.
func TestPipelinedFolderKeepsUIDOrder(t *testing.T) {
	r := newRig(t, vfs.NewMem(), "p", nil)
	a, err := r.eng.CreateAccount(ctx, engine.AccountSpec{Address: "big@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := r.eng.CreateFolder(ctx, a.ID, "Archive", "")
	if err != nil {
		t.Fatal(err)
	}
	var bad engine.Item
	for i := 0; i < 3*pipelineMin+moveChunk/2; i++ {
		size := 100 + i%7*50
		if i%13 == 0 {
			size = 90 << 10 // blob-first: a slower append
		}
		body := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprintf("%d ", i), size/4))
		res, err := r.eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: []byte(body),
			InternalDate: time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC), Flags: []string{fmt.Sprintf("$k%d", i%3)}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res[0].Err)
		}
		if i == 40 {
			bad = res[0].Item
		}
		if i%2 == 0 {
			if _, err := r.eng.Copy(ctx, a.ID, res[0].Item.Folder, []uint64{res[0].Item.ID}, arch.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.sync()
	want := dump(t, r.eng, a.ID)
	if err := hsm.PutBytes(ctx, r.repoVol, dedup.BlobName(bad.Digest), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	rep, err := r.restorer().Account(ctx, a.ID, Latest, "copy@example.org", AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ar := rep.Accounts[0]
	if rep.Unrestored != 2 || ar.Unrestored[0].Item != bad.ID || !strings.Contains(ar.Unrestored[0].Reason, "corrupt") {
		t.Fatalf("report %s", rep)
	}
	// The corrupt blob is the original in INBOX and its copy in Archive.
	for _, p := range []string{"INBOX", "Archive"} {
		var keep []msg
		for _, m := range want[p] {
			if m.Sum != [32]byte(bad.Digest) {
				keep = append(keep, m)
			}
		}
		want[p] = keep
	}
	if d := diff(want, dump(t, r.eng, ar.Target)); d != "" {
		t.Fatal(d)
	}
	if rep.Restored != len(want["INBOX"])+len(want["Archive"]) {
		t.Fatalf("restored %d", rep.Restored)
	}
}
