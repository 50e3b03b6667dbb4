package backuptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// Quiet is a logger that drops everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Clock is a fixed clock the test moves by hand. As a scanner.Pacer its
// timers fire when Add moves it past their time.
type Clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*clockTimer
}

type clockTimer struct {
	at   time.Time
	f    func()
	done bool
}

var _ scanner.Pacer = (*Clock)(nil)

func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *Clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	keep := c.timers[:0]
	for _, tm := range c.timers {
		switch {
		case tm.done:
		case !tm.at.After(c.t):
			tm.done = true
			go tm.f()
		default:
			keep = append(keep, tm)
		}
	}
	c.timers = keep
	return c.t
}

func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &clockTimer{at: c.t.Add(d), f: f}
	if d <= 0 {
		tm.done = true
		go f()
	} else {
		c.timers = append(c.timers, tm)
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		stopped := !tm.done
		tm.done = true
		return stopped
	}
}

// HarnessOpen, when set, is how harnesses create and open their
// repository (a password makes it encrypted).
var HarnessOpen *repository.OpenOptions

// Harness is an engine with a scanner shipping to a repository.
type Harness struct {
	t       *testing.T
	Dir     string
	Clk     *Clock
	Eng     *engine.Engine
	Vol     hsm.Volume // what the scanner writes through
	Repo    *repository.Repository
	Cat     *catalog.Catalog
	Scanner *scanner.Scanner
	Cancel  context.CancelFunc
	Done    chan error
	// paced: the scanner measures its ship interval (1 s) on clk, so a
	// segment ships when the test moves the Clock, not after real time.
	Paced bool
	fs    vfs.FS // of the engine, catalog and repository directory
}

// NewHarness starts an engine with a scanner shipping to a new
// repository; wrap, when set, wraps the repository volume.
func NewHarness(t *testing.T, wrap func(hsm.Volume) hsm.Volume) *Harness {
	t.Helper()
	return NewHarnessOpts(t, wrap, nil)
}

// NewPacedHarness is a harness whose scanner ships on the test's Clock
// (Harness.Paced); fs holds its directories (nil: the disk).
func NewPacedHarness(t *testing.T, fs vfs.FS) *Harness {
	t.Helper()
	return newHarnessWith(t, nil, func(o *engine.Options) { o.FS = fs }, true)
}

// NewHarnessOpts is NewHarness with a hook to change the engine options.
func NewHarnessOpts(t *testing.T, wrap func(hsm.Volume) hsm.Volume, edit func(*engine.Options)) *Harness {
	t.Helper()
	return newHarnessWith(t, wrap, edit, false)
}

func newHarnessWith(t *testing.T, wrap func(hsm.Volume) hsm.Volume, edit func(*engine.Options), paced bool) *Harness {
	t.Helper()
	dir := t.TempDir()
	h := &Harness{t: t, Dir: dir, Clk: &Clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, Paced: paced}
	var safe func() uint64
	eo := &engine.Options{Now: h.Clk.Now, InlineBlobMax: 512,
		SafeLSN: func() uint64 {
			if safe == nil {
				return 0
			}
			return safe()
		}}
	if edit != nil {
		edit(eo)
	}
	h.fs = eo.FS
	if h.fs == nil {
		h.fs = vfs.Default
	} else if err := h.fs.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	base, err := localvol.New(h.fs, filepath.Join(dir, "repo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Vol = base
	if wrap != nil {
		h.Vol = wrap(base)
	}
	h.Eng, err = engine.Open(filepath.Join(dir, "data"), eo)
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	safe = func() uint64 { return h.Scanner.SafeLSN() }
	t.Cleanup(func() { h.Stop(); h.Eng.Close() })
	return h
}

// start opens repository and catalog and runs a scanner.
func (h *Harness) start() {
	t := h.t
	ctx := context.Background()
	repo, err := repository.InitWith(ctx, h.Vol, h.Clk.Now(), HarnessOpen)
	if err != nil {
		t.Fatal(err)
	}
	h.Repo = repo
	h.Cat, err = catalog.Open(filepath.Join(h.Dir, "data", "backup-catalog"), &catalog.Options{FS: h.fs})
	if err != nil {
		t.Fatal(err)
	}
	src := enginesrc.New(h.Eng)
	o := &scanner.Options{
		Now: h.Clk.Now, ShipInterval: 2 * time.Millisecond, NoCompaction: true, SnapshotInterval: -1,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: Quiet,
	}
	if h.Paced {
		o.Pacer, o.ShipInterval = h.Clk, time.Second
	}
	h.Scanner, err = scanner.New(repo, h.Cat, enginesrc.New(h.Eng), src, src, o)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	h.Cancel, h.Done = cancel, make(chan error, 1)
	go func() { h.Done <- h.Scanner.Run(rctx) }()
}

// Stop stops the scanner and waits for it.
func (h *Harness) Stop() {
	if h.Cancel == nil {
		return
	}
	h.Cancel()
	if err := <-h.Done; err != nil && !errors.Is(err, context.Canceled) {
		h.t.Errorf("scanner: %v", err)
	}
	h.Cancel = nil
	h.Cat.Close()
}

// WaitShipped waits until the scanner has shipped the log's last record.
func (h *Harness) WaitShipped() {
	h.t.Helper()
	want := h.Eng.LogLastLSN()
	if h.Paced {
		// Once the scanner holds the last record, a second on the Clock
		// makes its segment due.
		if !Poll(func() bool { return h.Scanner.ProcessedLSN() >= want }) {
			h.t.Fatalf("scanner processed %d, log at %d", h.Scanner.ProcessedLSN(), want)
		}
		h.Clk.Add(time.Second)
	}
	if !Poll(func() bool { return h.Scanner.Live().ShippedLSN >= want }) {
		h.t.Fatalf("scanner stuck at %d, log at %d (%+v)", h.Scanner.Live().ShippedLSN, want, h.Scanner.Live())
	}
}

// Poll reports whether cond holds within 15 s, checking at once and then
// at growing intervals up to 5 ms.
func Poll(cond func() bool) bool {
	deadline := time.Now().Add(15 * time.Second)
	for wait := 50 * time.Microsecond; ; wait = min(2*wait, 5*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
}

// AccountView is an account's folders and items in a comparable form.
type AccountView struct {
	folders []string
	Items   []string
}

func (v AccountView) String() string {
	return fmt.Sprintf("folders %v\nitems %v", v.folders, v.Items)
}

func itemLine(id uint64, path string, uid uint32, flags []string, digest [32]byte) string {
	fl := append([]string(nil), flags...)
	sort.Strings(fl)
	return fmt.Sprintf("%d %s/%d %s %x", id, path, uid, strings.Join(fl, ","), digest[:4])
}

// EngineView reads an account from the engine.
func EngineView(t *testing.T, e *engine.Engine, acct uint64) AccountView {
	ctx := context.Background()
	var v AccountView
	fs, err := e.ListFolders(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		v.folders = append(v.folders, f.Path)
		items, err := e.ListItems(ctx, acct, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			v.Items = append(v.Items, itemLine(it.ID, f.Path, it.UID, it.Flags, it.Digest))
		}
	}
	sort.Strings(v.folders)
	sort.Strings(v.Items)
	return v
}

// CatalogView reads an account as of t from the catalog.
func CatalogView(t *testing.T, c *catalog.Catalog, acct uint64, at time.Time) (AccountView, error) {
	st, err := c.AccountAt(context.Background(), acct, at)
	if err != nil {
		return AccountView{}, err
	}
	var v AccountView
	for _, f := range st.Folders {
		v.folders = append(v.folders, f.Path)
	}
	for _, it := range st.Items {
		v.Items = append(v.Items, itemLine(it.ID, it.FolderPath, it.UID, it.Flags, it.Digest))
	}
	sort.Strings(v.folders)
	sort.Strings(v.Items)
	return v, nil
}

// Snap is the engine's view of the accounts right after one operation.
type Snap struct {
	At    time.Time // between this operation's records and the next's
	What  string
	Views map[uint64]AccountView // absent: the account does not exist
}

// Message returns test message i of about size bytes.
func Message(i int, size int) []byte {
	body := strings.Repeat(fmt.Sprintf("line %d of a test message body\r\n", i), size/32+1)
	return []byte(fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: m%d\r\n\r\n%s", i, body))
}

// Workload runs every kind of change against h's engine, recording the
// engine's own view after each as the model the catalog must reproduce.
func Workload(t *testing.T, h *Harness) ([]Snap, map[string]uint64) {
	ctx := context.Background()
	e := h.Eng
	var snaps []Snap
	ids := map[string]uint64{}
	record := func(what string) {
		at := h.Clk.Now().Add(30 * time.Second)
		s := Snap{At: at, What: what, Views: map[uint64]AccountView{}}
		for _, id := range ids {
			if _, err := e.GetAccount(ctx, id); err == nil {
				s.Views[id] = EngineView(t, e, id)
			}
		}
		snaps = append(snaps, s)
		h.Clk.Add(time.Minute)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.CreateDomain(ctx, "example.org"))
	for _, name := range []string{"alice", "bob"} {
		a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: name + "@example.org", Password: "pw"})
		must(err)
		ids[name] = a.ID
		record("create " + name)
	}
	alice, bob := ids["alice"], ids["bob"]
	inbox, err := e.FolderByPath(ctx, alice, "INBOX")
	must(err)
	var delivered []engine.Item
	for i := 0; i < 6; i++ {
		res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{alice, bob}, Body: Message(i, 200+i*400)})
		must(err)
		delivered = append(delivered, res[0].Item)
		record(fmt.Sprintf("deliver %d", i))
	}
	_, err = e.StoreFlags(ctx, alice, inbox.ID, []uint64{delivered[0].ID, delivered[1].ID}, engine.FlagsAdd, []string{`\Seen`, "$Work"}, 0)
	must(err)
	record("flag")
	proj, err := e.CreateFolder(ctx, alice, "Projects", "")
	must(err)
	sub, err := e.CreateFolder(ctx, alice, "Projects/2026", "")
	must(err)
	record("create folders")
	_, err = e.Move(ctx, alice, inbox.ID, []uint64{delivered[2].ID}, sub.ID)
	must(err)
	record("move")
	_, err = e.Copy(ctx, alice, inbox.ID, []uint64{delivered[3].ID, delivered[0].ID}, proj.ID)
	must(err)
	record("copy")
	_, err = e.StoreFlags(ctx, alice, inbox.ID, []uint64{delivered[4].ID}, engine.FlagsAdd, []string{`\Deleted`}, 0)
	must(err)
	_, err = e.Expunge(ctx, alice, inbox.ID, nil)
	must(err)
	record("expunge")
	must(e.RenameFolder(ctx, alice, proj.ID, "Archive"))
	record("rename parent")
	must(e.RenameFolder(ctx, alice, sub.ID, "Old"))
	record("rename child out")
	_, err = e.Append(ctx, alice, sub.ID, Message(99, 70000), []string{`\Seen`}, h.Clk.Now())
	must(err)
	record("append large")
	must(e.DeleteFolder(ctx, alice, proj.ID))
	record("delete folder")
	must(e.DeleteAccount(ctx, bob))
	record("delete bob")
	return snaps, ids
}

// WaitView waits until the catalog's view of acct equals the engine's.
func WaitView(t *testing.T, h *Harness, acct uint64) {
	t.Helper()
	want := EngineView(t, h.Eng, acct)
	var got AccountView
	var err error
	for i := 0; i < 1000; i++ {
		got, err = CatalogView(t, h.Cat, acct, h.Clk.Now().Add(time.Hour))
		if err == nil && reflect.DeepEqual(got, want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("catalog never matched the engine (%v):\ngot  %v\nwant %v", err, got, want)
}
