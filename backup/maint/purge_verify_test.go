package maint_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
)

func TestPurgeKeepsRetentionWindow(t *testing.T) {
	defer backuptest.SetNewFormat(1)()  // loose blobs, with a dictionary
	defer backuptest.SetDictSample(3)() // blobs after the third use a dictionary
	purgeRetention(t, 1)
}

// TestPurgePacks purges a packed repository: packs whose blobs are mostly
// dead are rewritten without them.
func TestPurgePacks(t *testing.T) {
	purgeRetention(t, 0)
}

func purgeRetention(t *testing.T, wantDicts int) {
	h := backuptest.NewHarness(t, nil)
	snaps, ids := backuptest.Workload(t, h)
	h.WaitShipped()
	ctx := context.Background()
	alice := ids["alice"]
	end := snaps[len(snaps)-1].At
	before, err := h.Cat.DeletedBetween(ctx, 0, time.Time{}, end)
	if err != nil || len(before) == 0 {
		t.Fatalf("deleted items before purge: %d, %v", len(before), err)
	}
	h.Stop()
	cat, err := catalog.Open(h.Dir+"/data/backup-catalog", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()

	// Retention 0 keeps everything.
	if rep, err := maint.Purge(ctx, h.Repo, cat, maint.PurgeOptions{Now: end.Add(365 * 24 * time.Hour)}); err != nil || rep != (maint.PurgeReport{}) {
		t.Fatalf("purge with retention 0: %+v, %v", rep, err)
	}
	// A copy of the repository taken while purge runs lists blobs and
	// packs before purge deletes any: they must outlive it by the grace
	// period.
	listed := map[string]bool{}
	for _, prefix := range []string{"packs/", "blobs/", "log/", "scan/", "catalog/"} {
		if err := h.Vol.List(ctx, prefix, func(o hsm.ObjectInfo) error { listed[o.Name] = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// 30 days after the workload ended everything deleted is past retention.
	now := end.Add(31 * 24 * time.Hour)
	rep, err := maint.Purge(ctx, h.Repo, cat, maint.PurgeOptions{Retention: maint.DefaultRetention, Now: now,
		Config: repository.ConfigSnapshot{TOML: []byte("# purged\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != len(before) || rep.Segments == 0 || rep.Snapshot == "" {
		t.Fatalf("purge report %+v, want %d items", rep, len(before))
	}
	// Whether the dead blob's pack is rewritten depends on which blobs
	// shipped together (a pack is rewritten once 25% of it is dead).
	if wantDicts == 0 && rep.Blobs == 0 {
		t.Fatalf("purge of a packed repository removed %d blobs, rewrote %d packs", rep.Blobs, rep.Packs)
	}
	if after, _ := cat.DeletedBetween(ctx, 0, time.Time{}, now); len(after) != 0 {
		t.Fatalf("deleted items left after purge: %+v", after)
	}
	// Live items and their blobs stay; every referenced blob is there.
	want := backuptest.EngineView(t, h.Eng, alice)
	got, err := backuptest.CatalogView(t, cat, alice, now)
	if err != nil || len(got.Items) != len(want.Items) {
		t.Fatalf("alice after purge: %v %v, want %v", got, err, want)
	}
	vr, err := maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 || vr.Dicts != wantDicts {
		t.Fatalf("verify after purge (want the dictionary kept): %+v %v", vr, err)
	}
	// The repository alone still rebuilds the same catalog.
	fresh, err := catalog.Rebuild(ctx, h.Repo, "r", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	a, _ := cat.Digest(ctx)
	b, _ := fresh.Digest(ctx)
	if a != b {
		t.Fatal("rebuild after purge differs")
	}
	cfg, _, err := h.Repo.ConfigAt(ctx, now)
	if err != nil || string(cfg.TOML) != "# purged\n" {
		t.Fatalf("ConfigAt: %q %v", cfg.TOML, err)
	}
	for name := range listed {
		if _, err := h.Vol.Stat(ctx, name); err != nil {
			t.Fatalf("%s deleted by purge within the grace period: %v", name, err)
		}
	}
	waiting, err := cat.PendingDeletes()
	if err != nil || (len(waiting) == 0 && (rep.Packs > 0 || wantDicts > 0)) {
		t.Fatalf("purge left nothing waiting for deletion: %v", err)
	}
	// The segments and scans purge folded into its snapshot wait too.
	folded := 0
	for name := range waiting {
		if strings.HasPrefix(name, "log/") || strings.HasPrefix(name, "scan/") {
			folded++
		}
	}
	if folded != rep.Segments {
		t.Fatalf("%d segments and scans waiting for deletion, purge folded %d", folded, rep.Segments)
	}
	// After the grace period the next purge deletes what waited.
	rep, err = maint.Purge(ctx, h.Repo, cat, maint.PurgeOptions{Retention: maint.DefaultRetention, Now: now.Add(11 * time.Minute)})
	if err != nil || rep.Deleted != len(waiting) {
		t.Fatalf("second purge: %+v %v, want %d deleted", rep, err, len(waiting))
	}
	for name := range waiting {
		if _, err := h.Vol.Stat(ctx, name); !hsm.IsNotFound(err) {
			t.Fatalf("%s still there after the grace period: %v", name, err)
		}
	}
	if w, _ := cat.PendingDeletes(); len(w) != 0 {
		t.Fatalf("still waiting: %v", w)
	}
	vr, err = maint.Verify(ctx, backuptest.MustOpenForTest(t, h.Vol), cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify after the grace period: %+v %v", vr, err)
	}
	if _, _, err := h.Repo.ConfigAt(ctx, end.Add(-time.Hour*24*400)); !errors.Is(err, repository.ErrNotFound) {
		t.Fatalf("ConfigAt before any snapshot: %v", err)
	}
}

func TestVerifyFindsAndFixes(t *testing.T) {
	defer backuptest.SetNewFormat(1)() // damages loose blobs; packs: TestVerifyPacks
	h := backuptest.NewHarness(t, nil)
	_, ids := backuptest.Workload(t, h)
	h.WaitShipped()
	ctx := context.Background()
	st, err := h.Cat.AccountAt(ctx, ids["alice"], h.Clk.Now())
	if err != nil || len(st.Items) < 3 {
		t.Fatalf("alice: %d items, %v", len(st.Items), err)
	}
	h.Stop()
	cat, err := catalog.Open(h.Dir+"/data/backup-catalog", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	vol := h.Repo.Volume()
	corrupt, missing := st.Items[0].Digest, st.Items[len(st.Items)-1].Digest
	if corrupt == missing {
		t.Fatal("need two distinct blobs")
	}
	b, err := hsm.ReadAll(ctx, vol, dedup.BlobName(corrupt))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := hsm.PutBytes(ctx, vol, dedup.BlobName(corrupt), b); err != nil {
		t.Fatal(err)
	}
	if err := vol.Delete(ctx, dedup.BlobName(missing)); err != nil {
		t.Fatal(err)
	}
	orphan := dedup.Sum([]byte("nobody references me"))
	if err := hsm.PutBytes(ctx, vol, dedup.BlobName(orphan), dedup.Encode([]byte("nobody references me"), 0)); err != nil {
		t.Fatal(err)
	}
	if err := hsm.PutBytes(ctx, vol, "log/garbage", []byte("x")); err != nil {
		t.Fatal(err)
	}
	segs, err := h.Repo.Segments(ctx)
	if err != nil || len(segs) == 0 {
		t.Fatal(err)
	}

	kinds := func(vr maint.VerifyReport) map[string]int {
		m := map[string]int{}
		for _, p := range vr.Problems {
			m[p.Kind]++
		}
		return m
	}
	// Without --read-data the corrupt blob looks present.
	vr, err := maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(vr); k[maint.ProblemMissingBlob] != 1 || k[maint.ProblemOrphan] != 2 || k[maint.ProblemCorrupt] != 0 || vr.OK() {
		t.Fatalf("verify: %+v", vr.Problems)
	}
	vr, err = maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(vr); k[maint.ProblemMissingBlob] != 1 || k[maint.ProblemOrphan] != 2 || k[maint.ProblemCorrupt] != 1 {
		t.Fatalf("verify --read-data: %+v", vr.Problems)
	}
	// A corrupt segment is found too.
	seg, _ := hsm.ReadAll(ctx, vol, segs[0].Name)
	seg[len(seg)-3] ^= 0x55
	if err := hsm.PutBytes(ctx, vol, segs[0].Name, seg); err != nil {
		t.Fatal(err)
	}
	vr, _ = maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{})
	if kinds(vr)[maint.ProblemCorrupt] != 1 {
		t.Fatalf("corrupt segment not reported: %+v", vr.Problems)
	}
	// Put the segment back (a corrupt segment cannot be refetched) and fix
	// the rest from the mail store.
	seg[len(seg)-3] ^= 0x55
	if err := hsm.PutBytes(ctx, vol, segs[0].Name, seg); err != nil {
		t.Fatal(err)
	}
	vr, err = maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{ReadData: true, Fix: true, Source: enginesrc.New(h.Eng)})
	if err != nil || !vr.OK() {
		t.Fatalf("verify --fix: %+v %v", vr.Problems, err)
	}
	vr, err = maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("second verify: %+v %v", vr.Problems, err)
	}
	// Quarantine keeps what was moved aside.
	var q []string
	_ = vol.List(ctx, "quarantine/", func(o hsm.ObjectInfo) error { q = append(q, o.Name); return nil })
	if len(q) != 3 {
		t.Fatalf("quarantine holds %v", q)
	}
	raw, err := h.Repo.ReadBlob(ctx, corrupt)
	if err != nil || dedup.Sum(raw) != corrupt {
		t.Fatalf("refetched blob: %v", err)
	}
	_ = engine.FlagsAdd
}

func TestVerifyMissingDictionary(t *testing.T) {
	defer backuptest.SetNewFormat(1)() // dictionaries compress loose blobs only
	defer backuptest.SetDictSample(2)()
	h := backuptest.NewHarness(t, nil)
	backuptest.Workload(t, h)
	h.WaitShipped()
	h.Stop()
	ctx := context.Background()
	cat, err := catalog.Open(h.Dir+"/data/backup-catalog", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	vol := h.Repo.Volume()
	var dicts []string
	if err := vol.List(ctx, "dict/", func(o hsm.ObjectInfo) error { dicts = append(dicts, o.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(dicts) != 1 {
		t.Fatalf("dictionaries: %v", dicts)
	}
	saved, err := hsm.ReadAll(ctx, vol, dicts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := vol.Delete(ctx, dicts[0]); err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Open(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := maint.Verify(ctx, repo, cat, maint.VerifyOptions{ReadData: true, Fix: true})
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, p := range vr.Problems {
		if p.Kind != maint.ProblemMissingDict || p.Fixed {
			t.Errorf("unexpected problem %+v", p)
		}
		missing++
	}
	if missing == 0 {
		t.Fatal("verify --read-data did not notice the missing dictionary")
	}
	// --fix moved no blob: with the dictionary back, all is well.
	if err := hsm.PutBytes(ctx, vol, dicts[0], saved); err != nil {
		t.Fatal(err)
	}
	if vr, err := maint.Verify(ctx, repo, cat, maint.VerifyOptions{ReadData: true}); err != nil || !vr.OK() {
		t.Fatalf("verify with the dictionary back: %+v %v", vr, err)
	}
}

// TestVerifyPacks damages one chunk of a pack: verify --read-data reports
// the pack, --fix stores its intact blobs in a new pack, moves it to
// quarantine and fetches the damaged chunk's blobs again from the mail
// store; a second verify is clean and every blob reads back.
func TestVerifyPacks(t *testing.T) {
	defer backuptest.SetPackSizes(256, 1<<20)() // several chunks per pack
	h := backuptest.NewHarness(t, nil)
	_, ids := backuptest.Workload(t, h)
	h.WaitShipped()
	ctx := context.Background()
	st, err := h.Cat.AccountAt(ctx, ids["alice"], h.Clk.Now())
	if err != nil || len(st.Items) < 3 {
		t.Fatalf("alice: %d items, %v", len(st.Items), err)
	}
	h.Stop()
	cat, err := catalog.Open(h.Dir+"/data/backup-catalog", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	vol := h.Repo.Volume()
	var packs []hsm.ObjectInfo
	if err := vol.List(ctx, "packs/", func(o hsm.ObjectInfo) error { packs = append(packs, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(packs) == 0 {
		t.Fatal("no packs written")
	}
	if vr, err := maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{ReadData: true}); err != nil || len(vr.Problems) != 0 || vr.Packs != len(packs) {
		t.Fatalf("verify of a sound repository: %+v %v", vr, err)
	}
	big := packs[0]
	for _, p := range packs {
		if p.Size > big.Size {
			big = p
		}
	}
	b, err := hsm.ReadAll(ctx, vol, big.Name)
	if err != nil {
		t.Fatal(err)
	}
	b[12] ^= 0xff // inside the first chunk
	if err := hsm.PutBytes(ctx, vol, big.Name, b); err != nil {
		t.Fatal(err)
	}
	// Without --read-data only the index is checked: still sound.
	if vr, err := maint.Verify(ctx, backuptest.MustOpenForTest(t, vol), cat, maint.VerifyOptions{}); err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify without data: %+v %v", vr, err)
	}
	vr, err := maint.Verify(ctx, backuptest.MustOpenForTest(t, vol), cat, maint.VerifyOptions{ReadData: true})
	if err != nil || vr.OK() || vr.Problems[0].Kind != maint.ProblemCorrupt || vr.Problems[0].Object != big.Name {
		t.Fatalf("verify --read-data of a damaged pack: %+v %v", vr, err)
	}
	vr, err = maint.Verify(ctx, backuptest.MustOpenForTest(t, vol), cat, maint.VerifyOptions{ReadData: true, Fix: true, Source: enginesrc.New(h.Eng)})
	if err != nil || !vr.OK() {
		t.Fatalf("verify --fix: %+v %v", vr.Problems, err)
	}
	if _, err := vol.Stat(ctx, "quarantine/"+big.Name); err != nil {
		t.Fatalf("damaged pack not in quarantine: %v", err)
	}
	repo := backuptest.MustOpenForTest(t, vol)
	if vr, err := maint.Verify(ctx, repo, cat, maint.VerifyOptions{ReadData: true}); err != nil || len(vr.Problems) != 0 {
		t.Fatalf("second verify: %+v %v", vr, err)
	}
	for _, it := range st.Items {
		if raw, err := repo.ReadBlob(ctx, it.Digest); err != nil || dedup.Sum(raw) != it.Digest {
			t.Fatalf("item %d after fix: %v", it.ID, err)
		}
	}
}
