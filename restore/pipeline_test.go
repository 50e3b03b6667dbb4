package restore

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
)

// TestPipelinedFolderKeepsUIDOrder restores folders large enough to take
// several chunks, with messages of very different sizes (inline and
// blob-first, read at different speeds) and one corrupt blob: the items
// come back in their UID order, the bad one is reported, and the restore
// writes one record per restored item straight into its folder: no extra
// folder, no moves.
func TestPipelinedFolderKeepsUIDOrder(t *testing.T) {
	r := newRig(t, vfs.NewMem(), "p", nil)
	a, err := r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "big@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := r.Eng.CreateFolder(ctx, a.ID, "Archive", "")
	if err != nil {
		t.Fatal(err)
	}
	var bad engine.Item
	for i := 0; i < 2*chunkItems-64; i++ {
		size := 100 + i%7*50
		if i%13 == 0 {
			size = 90 << 10 // blob-first: a slower append
		}
		body := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprintf("%d ", i), size/4))
		res, err := r.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: []byte(body),
			InternalDate: time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC), Flags: []string{fmt.Sprintf("$k%d", i%3)}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res[0].Err)
		}
		if i == 40 {
			bad = res[0].Item
		}
		if i%2 == 0 {
			if _, err := r.Eng.Copy(ctx, a.ID, res[0].Item.Folder, []uint64{res[0].Item.ID}, arch.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.Sync()
	want := dump(t, r.Eng, a.ID)
	if err := hsm.PutBytes(ctx, r.RepoVol, dedup.BlobName(bad.Digest), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	lsn0 := r.Eng.AppliedLSN()
	rep, err := restorerOf(r).Account(ctx, a.ID, Latest, "copy@example.org", AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	records := r.Eng.AppliedLSN() - lsn0
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
	if d := diff(want, dump(t, r.Eng, ar.Target)); d != "" {
		t.Fatal(d)
	}
	if rep.Restored != len(want["INBOX"])+len(want["Archive"]) {
		t.Fatalf("restored %d", rep.Restored)
	}
	// The account, its Archive folder and one record per item.
	if extra := int(records) - rep.Restored; extra < 0 || extra > 5 {
		t.Fatalf("%d records for %d restored items", records, rep.Restored)
	}
	// The copy has the source's folders, nothing more.
	paths := func(acct uint64) []string {
		fs, err := r.Eng.ListFolders(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fs {
			out = append(out, f.Path)
		}
		sort.Strings(out)
		return out
	}
	if src, dst := paths(a.ID), paths(ar.Target); fmt.Sprint(src) != fmt.Sprint(dst) {
		t.Fatalf("folders %v, source has %v", dst, src)
	}
	// The catalog holds one version per restored item: created where it
	// stays.
	r.Sync()
	st, err := r.Cat.AccountAt(ctx, ar.Target, Latest)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Items) != rep.Restored {
		t.Fatalf("catalog holds %d items, restored %d", len(st.Items), rep.Restored)
	}
	for _, it := range st.Items {
		vs, err := r.Cat.ItemVersions(ctx, ar.Target, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 || vs[0].Folder != it.Folder {
			t.Fatalf("item %d: versions %+v", it.ID, vs)
		}
	}
}
