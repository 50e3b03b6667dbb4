package restore

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/memvol"
)

// source is a backed-up server with a random history on src@example.org,
// and carol@other.org (in a class of service, with an alias and a
// subfolder), a system account and a deleted account beside it.
type source struct {
	r     *rig
	h     *history
	carol engine.Account
	items []engine.Item // carol's, delivery order
}

func newSource(t *testing.T) *source {
	r := newRig(t, vfs.NewMem(), "src", nil)
	h := &history{R: r, Rnd: rand.New(rand.NewPCG(21, 4))}
	h.Run("src@example.org", 90, false)
	e := r.Eng
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A subscribed name without a folder travels with the account.
	must(e.SetSubscriptions(ctx, h.Acct, []string{"Lists/announce"}, true))
	must(e.CreateDomain(ctx, "other.org"))
	must(e.CreateCOS(ctx, event.COS{Name: "staff", DefaultQuota: 1 << 30, Backup: true}))
	carol, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "carol@other.org", Password: "carolpw", COS: "staff",
		Attrs: map[string]string{"displayName": "Carol"}})
	must(err)
	must(e.AddAlias(ctx, carol.ID, "c@other.org"))
	_, err = e.CreateFolder(ctx, carol.ID, "Projects", "")
	must(err)
	proj, err := e.CreateFolder(ctx, carol.ID, "Projects/2025", "")
	must(err)
	s := &source{r: r, h: h, carol: carol}
	for i := 0; i < 12; i++ {
		body := []byte("Subject: carol " + strings.Repeat("y", i) + "\r\n\r\nbody\r\n")
		if i == 5 {
			body = []byte("Subject: twice\r\n\r\nthe same bytes\r\n") // delivered twice: two items, one blob
		}
		if i == 6 {
			body = []byte("Subject: twice\r\n\r\nthe same bytes\r\n")
		}
		res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{carol.ID}, Body: body, InternalDate: r.Clk.Now()})
		must(err)
		must(res[0].Err)
		s.items = append(s.items, res[0].Item)
		r.Clk.Advance(1e9)
	}
	inbox, err := e.FolderByPath(ctx, carol.ID, "INBOX")
	must(err)
	_, err = e.Move(ctx, carol.ID, inbox.ID, []uint64{s.items[1].ID, s.items[3].ID}, proj.ID)
	must(err)
	_, err = e.StoreFlags(ctx, carol.ID, inbox.ID, []uint64{s.items[0].ID}, engine.FlagsAdd, []string{`\Seen`, "$Work"}, 0)
	must(err)
	must(e.SetSubscribed(ctx, carol.ID, proj.ID, false))
	_, err = e.CreateAccount(ctx, engine.AccountSpec{Address: "galsync@other.org", Password: "x"})
	must(err)
	gone, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "gone@other.org", Password: "gonepw"})
	must(err)
	res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{gone.ID}, Body: []byte("Subject: last\r\n\r\nbye\r\n")})
	must(err)
	must(res[0].Err)
	r.Clk.Advance(1e9)
	must(e.DeleteAccount(ctx, gone.ID))
	r.Clk.Advance(1e9)
	r.Sync()
	return s
}

// newTarget opens an empty engine: the server migrated to.
func newTarget(t *testing.T, fs vfs.FS, dir string) *engine.Engine {
	eng, err := engine.Open(dir, &engine.Options{FS: fs, Logger: quiet, BcryptCost: 4, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// sameAccount checks that acct on got holds what want's account holds:
// folders, items in UID order with bytes, flags and dates, subscriptions.
func sameAccount(t *testing.T, want *engine.Engine, wantID uint64, got *engine.Engine, gotID uint64) {
	t.Helper()
	if d := diff(dump(t, want, wantID), dump(t, got, gotID)); d != "" {
		t.Fatal(d)
	}
	wf, err := want.ListFolders(ctx, wantID)
	if err != nil {
		t.Fatal(err)
	}
	gf, err := got.ListFolders(ctx, gotID)
	if err != nil {
		t.Fatal(err)
	}
	sub := map[string]bool{}
	for _, f := range gf {
		sub[f.Path] = f.Subscribed
	}
	for _, f := range wf {
		if sub[f.Path] != f.Subscribed {
			t.Fatalf("folder %s subscribed=%v, want %v", f.Path, sub[f.Path], f.Subscribed)
		}
	}
	ws, err := want.Subscriptions(ctx, wantID)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := got.Subscriptions(ctx, gotID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ws, gs) {
		t.Fatalf("subscriptions %q, want %q", gs, ws)
	}
}

func lookup(t *testing.T, e *engine.Engine, addr string) engine.Account {
	t.Helper()
	a, err := e.LookupAccount(ctx, addr)
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return a
}

// TestExternalRestoreTwice imports a whole repository into another server:
// every account as it is, aliases, classes of service and password hashes;
// a second run restores nothing and skips every item.
func TestExternalRestoreTwice(t *testing.T) {
	s := newSource(t)
	tgt := newTarget(t, vfs.NewMem(), "tgt")
	rs := New(tgt, s.r.Cat, s.r.Repo, &Options{Now: s.r.Clk.Now, Logger: quiet})
	opts := ExternalOptions{Source: s.r.Repo.ID(), SkipSystemAccounts: true, Concurrency: 2}
	rep, err := rs.External(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	total := rep.Restored
	if rep.Unrestored != 0 || rep.Skipped != 0 || len(rep.Accounts) != 2 || total == 0 {
		t.Fatalf("first run: %s", rep)
	}
	src := lookup(t, tgt, "src@example.org")
	carol := lookup(t, tgt, "carol@other.org")
	sameAccount(t, s.r.Eng, s.h.Acct, tgt, src.ID)
	sameAccount(t, s.r.Eng, s.carol.ID, tgt, carol.ID)
	if carol.COS != "staff" || carol.Attrs["displayName"] != "Carol" || len(carol.Aliases) != 1 || carol.Aliases[0] != "c@other.org" {
		t.Fatalf("carol on the target: %+v", carol)
	}
	if carol.Attrs[AttrMigratedFrom] != s.r.Repo.ID()+"/"+strconv.FormatUint(s.carol.ID, 10) {
		t.Fatalf("%s = %q", AttrMigratedFrom, carol.Attrs[AttrMigratedFrom])
	}
	if _, err := tgt.Authenticate(ctx, "c@other.org", "carolpw"); err != nil {
		t.Fatalf("login through the alias: %v", err)
	}
	for _, a := range []string{"galsync@other.org", "gone@other.org"} {
		if _, err := tgt.LookupAccount(ctx, a); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("%s imported (system or deleted account): %v", a, err)
		}
	}
	before, err := tgt.StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = rs.External(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Restored != 0 || rep.Skipped != total || rep.Unrestored != 0 {
		t.Fatalf("second run: %s (want 0 restored, %d skipped)", rep, total)
	}
	sameAccount(t, s.r.Eng, s.h.Acct, tgt, src.ID)
	sameAccount(t, s.r.Eng, s.carol.ID, tgt, carol.ID)
	after, err := tgt.StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatal("the second run changed the target's state")
	}
	// Deleted accounts come back on request, as they were before deletion.
	rep, err = rs.External(ctx, ExternalOptions{Source: "x", IncludeDeleted: true, Accounts: []string{"GONE@other.org"}})
	if err != nil {
		t.Fatal(err)
	}
	gone := lookup(t, tgt, "gone@other.org")
	if rep.Restored != 1 || len(dump(t, tgt, gone.ID)["INBOX"]) != 1 {
		t.Fatalf("deleted account: %s", rep)
	}
}

// TestExternalProvisioningOnly creates the accounts, which can log in at
// once, and no items; a full run afterwards brings the items.
func TestExternalProvisioningOnly(t *testing.T) {
	s := newSource(t)
	tgt := newTarget(t, vfs.NewMem(), "tgt")
	rs := New(tgt, s.r.Cat, s.r.Repo, &Options{Logger: quiet})
	rep, err := rs.External(ctx, ExternalOptions{Source: "r", ProvisioningOnly: true, Domains: []string{"other.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Restored != 0 || len(rep.Accounts) != 2 { // carol and galsync: system accounts are kept unless skipped
		t.Fatalf("provisioning only: %s", rep)
	}
	a, err := tgt.Authenticate(ctx, "carol@other.org", "carolpw")
	if err != nil {
		t.Fatalf("login after phase 1: %v", err)
	}
	fs, err := tgt.ListFolders(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Messages != 0 {
			t.Fatalf("folder %s holds %d items after a provisioning-only run", f.Path, f.Messages)
		}
	}
	if _, err := tgt.LookupAccount(ctx, "src@example.org"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("--domains other.org imported src@example.org: %v", err)
	}
	// Mail can be delivered to the account before its items arrive.
	if res, err := tgt.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: []byte("Subject: new\r\n\r\nhello\r\n")}); err != nil || res[0].Err != nil {
		t.Fatalf("deliver after phase 1: %v %v", err, res)
	}
	rep, err = rs.External(ctx, ExternalOptions{Source: "r", Accounts: []string{"carol@other.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Restored != len(s.items) || rep.Skipped != 0 || rep.Unrestored != 0 {
		t.Fatalf("full run after provisioning: %s", rep)
	}
	if n := len(dump(t, tgt, a.ID)["INBOX"]); n != len(s.items)-2+1 {
		t.Fatalf("INBOX holds %d", n)
	}
}

// TestExternalCorruptBlob damages one blob of the source: its item is
// reported unrestored with the reason, everything else is imported.
func TestExternalCorruptBlob(t *testing.T) {
	s := newSource(t)
	bad := s.items[8]
	if err := hsm.PutBytes(ctx, s.r.RepoVol, dedup.BlobName(bad.Digest), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	tgt := newTarget(t, vfs.NewMem(), "tgt")
	rep, err := New(tgt, s.r.Cat, s.r.Repo, &Options{Logger: quiet}).External(ctx, ExternalOptions{Source: "r", Accounts: []string{"carol@other.org"}})
	if err != nil {
		t.Fatal(err)
	}
	ar := rep.Accounts[0]
	if rep.Restored != len(s.items)-1 || rep.Unrestored != 1 || ar.Unrestored[0].Item != bad.ID || !strings.Contains(ar.Unrestored[0].Reason, "corrupt") {
		t.Fatalf("report %s", rep)
	}
	if n := len(dump(t, tgt, ar.Target)["INBOX"]); n != len(s.items)-2-1 {
		t.Fatalf("INBOX holds %d", n)
	}
}

// TestExportThenRestore exports one domain, rebuilds a whole server from
// the export and imports the export into another server: both hold the
// domain's accounts as the source had them, and nothing of other domains.
func TestExportThenRestore(t *testing.T) {
	s := newSource(t)
	dst := memvol.New(nil)
	var progress int
	rep, err := Export(ctx, s.r.Cat, s.r.Repo, dst, &ExportOptions{Domains: []string{"Example.org"}, Now: s.r.Clk.Now, Logger: quiet,
		Progress: func(done, total int) { progress = done }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Accounts) != 1 || rep.Accounts[0] != "src@example.org" || rep.Items == 0 || len(rep.Unrestored) != 0 || progress != rep.Blobs {
		t.Fatalf("export: %+v (progress %d)", rep, progress)
	}
	if _, err := Export(ctx, s.r.Cat, s.r.Repo, dst, nil); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("export into a non-empty destination: %v", err)
	}
	repo, err := repository.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	// Whole server from the export.
	fs := vfs.NewMem()
	if _, err := Server(ctx, repo, "srv", &ServerOptions{FS: fs, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	srv := newTarget(t, fs, "srv")
	sameAccount(t, s.r.Eng, s.h.Acct, srv, s.h.Acct)
	if _, err := srv.Authenticate(ctx, "src@example.org", "pw"); err != nil {
		t.Fatalf("login on the server rebuilt from the export: %v", err)
	}
	if _, err := srv.LookupAccount(ctx, "carol@other.org"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("--domains example.org exported carol@other.org: %v", err)
	}
	wantF, _ := s.r.Eng.ListFolders(ctx, s.h.Acct)
	gotF, _ := srv.ListFolders(ctx, s.h.Acct)
	for i := range wantF {
		if gotF[i].Path != wantF[i].Path || gotF[i].UIDValidity != wantF[i].UIDValidity {
			t.Fatalf("folder %d: %+v, want %+v", i, gotF[i], wantF[i])
		}
		wi, _ := s.r.Eng.ListItems(ctx, s.h.Acct, wantF[i].ID)
		gi, _ := srv.ListItems(ctx, s.h.Acct, gotF[i].ID)
		for j := range wi {
			if gi[j].UID != wi[j].UID || gi[j].ID != wi[j].ID {
				t.Fatalf("%s item %d: uid %d id %d, want uid %d id %d", wantF[i].Path, j, gi[j].UID, gi[j].ID, wi[j].UID, wi[j].ID)
			}
		}
	}
	// External restore from the export, twice.
	cat, err := catalog.Rebuild(ctx, repo, "expcat", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	tgt := newTarget(t, vfs.NewMem(), "tgt")
	rs := New(tgt, cat, repo, &Options{Logger: quiet})
	er, err := rs.External(ctx, ExternalOptions{Source: repo.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if er.Restored != rep.Items || er.Unrestored != 0 {
		t.Fatalf("external from export: %s, export held %d items", er, rep.Items)
	}
	sameAccount(t, s.r.Eng, s.h.Acct, tgt, lookup(t, tgt, "src@example.org").ID)
	if er, err = rs.External(ctx, ExternalOptions{Source: repo.ID()}); err != nil || er.Restored != 0 || er.Skipped != rep.Items {
		t.Fatalf("second external from export: %s %v", er, err)
	}
}
