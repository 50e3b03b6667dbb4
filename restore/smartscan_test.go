package restore

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// accountDump is an account as its user sees it: folders with their
// attributes, and items with their ids, UIDs, flags, internal dates and
// content digests, in a stable text form.
func accountDump(t testing.TB, e *engine.Engine, addr string) string {
	t.Helper()
	a, err := e.LookupAccount(ctx, addr)
	if err != nil {
		return "no account: " + err.Error()
	}
	fs, err := e.ListFolders(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	var b strings.Builder
	fmt.Fprintf(&b, "account %d %s cos=%q status=%v\n", a.ID, a.Address, a.COS, a.Status)
	subs, err := e.Subscriptions(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "subscriptions %q\n", subs)
	for _, f := range fs {
		fmt.Fprintf(&b, "folder %d %q special=%q subscribed=%v uidvalidity=%d\n", f.ID, f.Path, f.SpecialUse, f.Subscribed, f.UIDValidity)
		items, err := e.ListItems(ctx, a.ID, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			rc, _, err := e.OpenBlob(ctx, a.ID, it.ID)
			if err != nil {
				t.Fatalf("%s: open blob of item %d: %v", addr, it.ID, err)
			}
			body, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			fl := slices.Clone(it.Flags)
			sort.Strings(fl)
			fmt.Fprintf(&b, "  item %d uid %d flags %v date %d body %x\n", it.ID, it.UID, fl, it.InternalDate.UnixNano(), sha256.Sum256(body))
		}
	}
	return b.String()
}

// smartScanWorld drives a server through the history of issue 9 item 4:
// bob's class of service has backup off while he gets mail, then backup is
// turned on and a SmartScan captures his mailbox, then more mail comes.
// dave is backed up, then excluded for a while (partial content: some
// mail from before, some from the excluded stretch), then backed up again.
// carol is always backed up.
type smartScanWorld struct {
	t    *testing.T
	r    *rig
	ids  map[string]uint64
	n    int
	tick func() time.Time
}

func (w *smartScanWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *smartScanWorld) folder(addr, path string) uint64 {
	w.t.Helper()
	f, err := w.r.Eng.FolderByPath(ctx, w.ids[addr], path)
	if err != nil {
		nf, cerr := w.r.Eng.CreateFolder(ctx, w.ids[addr], path, "")
		w.must(cerr)
		return nf.ID
	}
	return f.ID
}

// add appends a message to addr's folder path, with flags.
func (w *smartScanWorld) add(addr, path string, flags ...string) uint64 {
	w.t.Helper()
	w.n++
	body := fmt.Sprintf("From: s@example.net\r\nTo: %s\r\nSubject: message %d\r\n\r\nbody %d %s\r\n", addr, w.n, w.n, strings.Repeat("z", w.n*13))
	it, err := w.r.Eng.Append(ctx, w.ids[addr], w.folder(addr, path), []byte(body), flags, w.tick())
	w.must(err)
	return it.ID
}

func (w *smartScanWorld) move(addr string, item uint64, from, to string) {
	w.t.Helper()
	_, err := w.r.Eng.Move(ctx, w.ids[addr], w.folder(addr, from), []uint64{item}, w.folder(addr, to))
	w.must(err)
}

func (w *smartScanWorld) flag(addr string, item uint64, in string, flags ...string) {
	w.t.Helper()
	_, err := w.r.Eng.StoreFlags(ctx, w.ids[addr], w.folder(addr, in), []uint64{item}, engine.FlagsAdd, flags, 0)
	w.must(err)
}

func (w *smartScanWorld) expunge(addr string, item uint64, in string) {
	w.t.Helper()
	_, err := w.r.Eng.Expunge(ctx, w.ids[addr], w.folder(addr, in), []uint64{item})
	w.must(err)
}

func (w *smartScanWorld) setCOS(addr, cos string) {
	w.t.Helper()
	_, err := w.r.Eng.ModifyAccount(ctx, w.ids[addr], engine.AccountChange{COS: &cos})
	w.must(err)
}

var smartScanAccounts = []string{"bob@example.org", "carol@example.org", "dave@example.org"}

// TestServerAppliesSmartScanCorrections rebuilds a server whose repository
// holds mail that only SmartScan captured, and compares every account,
// folder, item, UID and flag with the source server: at the end, right
// after the SmartScan, and in the stretch where two accounts had backup off.
func TestServerAppliesSmartScanCorrections(t *testing.T) {
	dir := t.TempDir()
	vol, err := localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, vfs.Default, dir, vol, true)
	w := &smartScanWorld{t: t, r: r, ids: map[string]uint64{}, tick: func() time.Time { return r.Clk.Advance(time.Second) }}
	w.must(r.Eng.CreateCOS(ctx, event.COS{Name: "staff", Backup: true}))
	w.must(r.Eng.CreateCOS(ctx, event.COS{Name: "nobackup", Backup: false}))
	for _, x := range []struct{ addr, cos string }{
		{"bob@example.org", "nobackup"}, {"carol@example.org", "staff"}, {"dave@example.org", "staff"},
	} {
		a, err := r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: x.addr, Password: "pw", COS: x.cos})
		w.must(err)
		w.ids[x.addr] = a.ID
	}

	// Backed up: carol and dave. Not: bob (9 messages, a folder of his own).
	for i := 0; i < 3; i++ {
		w.add("carol@example.org", "INBOX")
	}
	d1 := w.add("dave@example.org", "INBOX")
	d2 := w.add("dave@example.org", "INBOX", `\Seen`)
	d3 := w.add("dave@example.org", "INBOX")
	w.move("dave@example.org", d3, "INBOX", "Old")
	var bob []uint64
	for i := 0; i < 6; i++ {
		bob = append(bob, w.add("bob@example.org", "INBOX"))
	}
	for i := 0; i < 3; i++ {
		bob = append(bob, w.add("bob@example.org", "Work", "$Project"))
	}
	w.flag("bob@example.org", bob[1], "INBOX", `\Flagged`)
	w.move("bob@example.org", bob[2], "INBOX", "Work")

	// dave leaves backup: his later mail reaches the backup only through
	// the SmartScan.
	w.setCOS("dave@example.org", "nobackup")
	d4 := w.add("dave@example.org", "INBOX")
	w.add("dave@example.org", "New", `\Answered`)
	w.expunge("dave@example.org", d1, "INBOX")
	w.move("dave@example.org", d3, "Old", "New")
	w.must(r.Eng.DeleteFolder(ctx, w.ids["dave@example.org"], w.folder("dave@example.org", "Old")))
	w.flag("dave@example.org", d2, "INBOX", `\Flagged`)
	// Subscriptions changed while out of backup reach it only through
	// the SmartScan too.
	w.must(r.Eng.SetSubscriptions(ctx, w.ids["dave@example.org"], []string{"Lists/dave", "New"}, true))
	w.must(r.Eng.SetSubscriptions(ctx, w.ids["dave@example.org"], []string{"Sent"}, false))
	w.must(r.Eng.SetSubscriptions(ctx, w.ids["bob@example.org"], []string{"Bob/only"}, true))
	r.Sync()
	excluded := w.tick()

	// Backup comes back on. Until the SmartScan the log refers to folders
	// and items the backup does not hold.
	r.Scan.SetEnabled(false)
	w.must(r.Eng.ModifyCOS(ctx, event.COS{Name: "nobackup", Backup: true}))
	w.setCOS("dave@example.org", "staff")
	w.add("bob@example.org", "INBOX")
	w.add("bob@example.org", "Work")
	w.flag("bob@example.org", bob[3], "INBOX", `\Seen`)
	w.move("bob@example.org", bob[4], "INBOX", "Trash")
	w.add("dave@example.org", "New")
	w.flag("dave@example.org", d4, "INBOX", `\Seen`)
	sr, err := r.Scan.Scan(ctx, 0)
	w.must(err)
	if sr.Changes == 0 {
		t.Fatal("the SmartScan wrote no corrections: the test does not exercise them")
	}
	r.Scan.SetEnabled(true)
	r.Sync()
	afterScan := w.tick()
	mid := map[string]string{}
	for _, a := range smartScanAccounts {
		mid[a] = accountDump(t, r.Eng, a)
	}

	// More mail, and changes to what only the SmartScan captured.
	w.tick()
	w.add("bob@example.org", "INBOX")
	w.flag("bob@example.org", bob[0], "INBOX", `\Seen`, "$Later")
	w.move("bob@example.org", bob[5], "INBOX", "Work")
	w.expunge("bob@example.org", bob[6], "Work")
	w.add("dave@example.org", "INBOX")
	w.expunge("dave@example.org", d4, "INBOX")
	w.move("dave@example.org", d2, "INBOX", "New")
	w.add("carol@example.org", "INBOX")
	r.Sync()
	end := map[string]string{}
	for _, a := range smartScanAccounts {
		end[a] = accountDump(t, r.Eng, a)
	}
	if !strings.Contains(end["bob@example.org"], "Work") || strings.Count(end["bob@example.org"], "  item ") != 11 {
		t.Fatalf("source server is not as the test means it:\n%s", end["bob@example.org"])
	}
	// The catalog took the corrections too: an account restore of dave
	// has the subscriptions he changed while out of backup.
	rep, err := restorerOf(r).Account(ctx, w.ids["dave@example.org"], Latest, "dave-copy@example.org", AccountOptions{})
	w.must(err)
	wantSubs, err := r.Eng.Subscriptions(ctx, w.ids["dave@example.org"])
	w.must(err)
	if got, err := r.Eng.Subscriptions(ctx, rep.Accounts[0].Target); err != nil || !slices.Equal(got, wantSubs) {
		t.Fatalf("account restore of dave: subscriptions %q (%v), want %q", got, err, wantSubs)
	}
	r.Close()

	repo, err := repository.Open(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, at time.Time, want map[string]string) {
		t.Helper()
		out := filepath.Join(dir, name)
		rep, err := Server(ctx, repo, out, &ServerOptions{Logger: quiet, At: at})
		if err != nil {
			t.Fatalf("restore server %s: %v", name, err)
		}
		if rep.Corrections == 0 && name != "excluded" {
			t.Errorf("restore server %s applied no corrections: %+v", name, rep)
		}
		eng, err := engine.Open(out, &engine.Options{Logger: quiet, CheckpointInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		for _, a := range smartScanAccounts {
			if got := accountDump(t, eng, a); got != want[a] {
				t.Errorf("restore server %s: %s differs from the source\nwant:\n%s\ngot:\n%s", name, a, want[a], got)
			}
		}
	}
	check("end", Latest, end)
	check("after-scan", afterScan, mid)

	// While bob and dave had backup off, the backup holds no mail of
	// theirs: the rebuilt accounts exist with an empty INBOX.
	out := filepath.Join(dir, "excluded")
	if _, err := Server(ctx, repo, out, &ServerOptions{Logger: quiet, At: excluded}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(out, &engine.Options{Logger: quiet, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, a := range []string{"bob@example.org", "dave@example.org"} {
		got := accountDump(t, eng, a)
		if strings.Count(got, "folder ") != 1 || !strings.Contains(got, `"INBOX"`) || strings.Contains(got, "  item ") {
			t.Errorf("%s while excluded: want an empty INBOX alone, got:\n%s", a, got)
		}
	}
	if got := accountDump(t, eng, "carol@example.org"); strings.Count(got, "  item ") != 3 {
		t.Errorf("carol while the others were excluded: want her 3 messages, got:\n%s", got)
	}
}

// TestReplayStateDamagedCorrections feeds the replay state records and
// corrections a damaged or hostile repository could hold: items in folder
// 0, folders that hold themselves or each other. None may panic or give
// the engine an event it cannot apply; the rest still applies.
func TestReplayStateDamagedCorrections(t *testing.T) {
	s := newReplayState()
	acct := event.Account{ID: 1, Address: "x@example.org"}
	if !s.redo(event.AccountCreated{Account: acct, Folders: []event.FolderCreated{{Account: 1, Folder: 1, Name: "INBOX", UIDValidity: 7}}}) {
		t.Fatal("a plain account creation was rewritten")
	}
	d := event.Digest{1}
	s.scan(&repository.ScanItem{Account: 1, Item: 9, Folder: 0, UID: 1, Digest: d})
	s.scan(&repository.ScanFolder{Account: 1, Folder: 5, Parent: 5, Name: "self"})
	s.scan(&repository.ScanFolder{Account: 1, Folder: 0, Name: "zero"})
	s.scan(&repository.ScanItem{Account: 2, Item: 9, Folder: 1, UID: 1, Digest: d}) // no such account
	if ev := s.take(); len(ev) != 0 {
		t.Fatalf("damaged corrections gave events: %+v", ev)
	}
	s.scan(&repository.ScanFolder{Account: 1, Folder: 6, Parent: 7, Name: "a"})
	s.scan(&repository.ScanFolder{Account: 1, Folder: 7, Parent: 6, Name: "b"})
	evs := s.take()
	// Folder 7 comes first as a placeholder, 6 beneath it; 7 cannot then
	// move beneath 6.
	if len(evs) != 2 {
		t.Fatalf("folder loop gave %d events, want 2: %+v", len(evs), evs)
	}
	if s.redo(event.MessageAdded{Digest: d, Size: 1, Targets: []event.Target{{Account: 1, Folder: 0, Item: 3, UID: 1}}}) {
		t.Fatal("a message into folder 0 was kept")
	}
	if ev := s.take(); len(ev) != 0 {
		t.Fatalf("a message into folder 0 gave events: %+v", ev)
	}
	s.scan(&repository.ScanItem{Account: 1, Item: 4, Folder: 1, UID: 3, Digest: d, Size: 1})
	if evs := s.take(); len(evs) != 1 || evs[0].Type() != event.TypeMessageAdded {
		t.Fatalf("a sound correction after damaged ones: %+v", evs)
	}
	if s.redo(event.ItemsMoved{Account: 1, From: 1, To: 0, Pairs: []event.MovePair{{Item: 4, UID: 1}}}) {
		t.Fatal("a move into folder 0 was kept")
	}
	if ev := s.take(); len(ev) != 0 || s.accounts[1].items[4].folder != 1 {
		t.Fatalf("a move into folder 0 gave events %+v or moved the item", ev)
	}
}

// TestServerSmartScanRandomHistory runs random mailbox work on an account
// whose class of service has backup turned off and on again several times,
// with SmartScans (the scanner's own, whenever it runs them, and one
// after each return of backup), and rebuilds the server as of the end and
// of the moment after each SmartScan: every folder, item id, UID and flag
// must be the source's.
func TestServerSmartScanRandomHistory(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			dir := t.TempDir()
			vol, err := localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
			if err != nil {
				t.Fatal(err)
			}
			r := newRigWith(t, vfs.Default, dir, vol, true)
			h := &history{R: r, Rnd: rand.New(rand.NewPCG(seed, 11))}
			if err := r.Eng.CreateCOS(ctx, event.COS{Name: "flip", Backup: true}); err != nil {
				t.Fatal(err)
			}
			const addr = "src@example.org"
			h.Run(addr, 40, false)
			cos := "flip"
			if _, err := r.Eng.ModifyAccount(ctx, h.Acct, engine.AccountChange{COS: &cos}); err != nil {
				t.Fatal(err)
			}
			type point struct {
				at   time.Time
				want string
			}
			var points []point
			for round := 0; round < 3; round++ {
				if err := r.Eng.ModifyCOS(ctx, event.COS{Name: "flip", Backup: false}); err != nil {
					t.Fatal(err)
				}
				h.Ops(30)
				if err := r.Eng.ModifyCOS(ctx, event.COS{Name: "flip", Backup: true}); err != nil {
					t.Fatal(err)
				}
				h.Ops(h.Rnd.IntN(10))
				if _, err := r.Scan.Scan(ctx, 0); err != nil {
					t.Fatal(err)
				}
				r.Sync()
				points = append(points, point{r.Clk.Advance(time.Second), accountDump(t, r.Eng, addr)})
				r.Clk.Advance(time.Second)
				h.Ops(20)
			}
			r.Sync()
			points = append(points, point{Latest, accountDump(t, r.Eng, addr)})
			r.Close()
			repo, err := repository.Open(ctx, vol)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range points {
				out := filepath.Join(dir, fmt.Sprint("rebuilt", i))
				if _, err := Server(ctx, repo, out, &ServerOptions{Logger: quiet, At: p.at}); err != nil {
					t.Fatalf("point %d: %v", i, err)
				}
				eng, err := engine.Open(out, &engine.Options{Logger: quiet, CheckpointInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				got := accountDump(t, eng, addr)
				eng.Close()
				if got != p.want {
					t.Fatalf("point %d (%s): rebuilt account differs\nwant:\n%s\ngot:\n%s", i, p.at, p.want, got)
				}
			}
		})
	}
}
