package backup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
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

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a fixed clock the test moves by hand. As a scanner.Pacer its
// timers fire when Add moves it past their time.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*clockTimer
}

type clockTimer struct {
	at   time.Time
	f    func()
	done bool
}

var _ scanner.Pacer = (*clock)(nil)

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) time.Time {
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

func (c *clock) AfterFunc(d time.Duration, f func()) func() bool {
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

// harnessOpen, when set, is how harnesses create and open their
// repository (a password makes it encrypted).
var harnessOpen *repository.OpenOptions

// harness is an engine with a scanner shipping to a repository.
type harness struct {
	t       *testing.T
	dir     string
	clk     *clock
	eng     *engine.Engine
	vol     hsm.Volume // what the scanner writes through
	repo    *repository.Repository
	cat     *catalog.Catalog
	sc      *scanner.Scanner
	cancel  context.CancelFunc
	done    chan error
	scanner *scanner.Scanner
	// paced: the scanner measures its ship interval (1 s) on clk, so a
	// segment ships when the test moves the clock, not after real time.
	paced bool
	fs    vfs.FS // of the engine, catalog and repository directory
}

func newHarness(t *testing.T, wrap func(hsm.Volume) hsm.Volume) *harness {
	t.Helper()
	return newHarnessOpts(t, wrap, nil)
}

// newPacedHarness is a harness whose scanner ships on the test's clock
// (harness.paced); fs holds its directories (nil: the disk).
func newPacedHarness(t *testing.T, fs vfs.FS) *harness {
	t.Helper()
	return newHarnessWith(t, nil, func(o *engine.Options) { o.FS = fs }, true)
}

// newHarnessOpts is newHarness with a hook to change the engine options.
func newHarnessOpts(t *testing.T, wrap func(hsm.Volume) hsm.Volume, edit func(*engine.Options)) *harness {
	t.Helper()
	return newHarnessWith(t, wrap, edit, false)
}

func newHarnessWith(t *testing.T, wrap func(hsm.Volume) hsm.Volume, edit func(*engine.Options), paced bool) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, clk: &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, paced: paced}
	var safe func() uint64
	eo := &engine.Options{Now: h.clk.Now, InlineBlobMax: 512,
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
	h.vol = base
	if wrap != nil {
		h.vol = wrap(base)
	}
	h.eng, err = engine.Open(filepath.Join(dir, "data"), eo)
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	safe = func() uint64 { return h.sc.SafeLSN() }
	t.Cleanup(func() { h.stop(); h.eng.Close() })
	return h
}

// start opens repository and catalog and runs a scanner.
func (h *harness) start() {
	t := h.t
	ctx := context.Background()
	repo, err := repository.InitRepositoryWith(ctx, h.vol, h.clk.Now(), harnessOpen)
	if err != nil {
		t.Fatal(err)
	}
	h.repo = repo
	h.cat, err = catalog.OpenCatalog(filepath.Join(h.dir, "data", "backup-catalog"), &catalog.CatalogOptions{FS: h.fs})
	if err != nil {
		t.Fatal(err)
	}
	src := enginesrc.New(h.eng)
	o := &scanner.Options{
		Now: h.clk.Now, ShipInterval: 2 * time.Millisecond, NoCompaction: true, SnapshotInterval: -1,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: quiet,
	}
	if h.paced {
		o.Pacer, o.ShipInterval = h.clk, time.Second
	}
	h.sc, err = scanner.New(repo, h.cat, enginesrc.New(h.eng), src, src, o)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.sc.Run(rctx) }()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil && !errors.Is(err, context.Canceled) {
		h.t.Errorf("scanner: %v", err)
	}
	h.cancel = nil
	h.cat.Close()
}

// waitShipped waits until the scanner has shipped the log's last record.
func (h *harness) waitShipped() {
	h.t.Helper()
	want := h.eng.LogLastLSN()
	if h.paced {
		// Once the scanner holds the last record, a second on the clock
		// makes its segment due.
		if !poll(func() bool { return h.sc.ProcessedLSN() >= want }) {
			h.t.Fatalf("scanner processed %d, log at %d", h.sc.ProcessedLSN(), want)
		}
		h.clk.Add(time.Second)
	}
	if !poll(func() bool { return h.sc.Live().ShippedLSN >= want }) {
		h.t.Fatalf("scanner stuck at %d, log at %d (%+v)", h.sc.Live().ShippedLSN, want, h.sc.Live())
	}
}

// poll reports whether cond holds within 15 s, checking at once and then
// at growing intervals up to 5 ms.
func poll(cond func() bool) bool {
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

// accountView is an account's folders and items in a comparable form.
type accountView struct {
	folders []string
	items   []string
}

func (v accountView) String() string {
	return fmt.Sprintf("folders %v\nitems %v", v.folders, v.items)
}

func itemLine(id uint64, path string, uid uint32, flags []string, digest [32]byte) string {
	fl := append([]string(nil), flags...)
	sort.Strings(fl)
	return fmt.Sprintf("%d %s/%d %s %x", id, path, uid, strings.Join(fl, ","), digest[:4])
}

// engineView reads an account from the engine.
func engineView(t *testing.T, e *engine.Engine, acct uint64) accountView {
	ctx := context.Background()
	var v accountView
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
			v.items = append(v.items, itemLine(it.ID, f.Path, it.UID, it.Flags, it.Digest))
		}
	}
	sort.Strings(v.folders)
	sort.Strings(v.items)
	return v
}

// catalogView reads an account as of t from the catalog.
func catalogView(t *testing.T, c *catalog.Catalog, acct uint64, at time.Time) (accountView, error) {
	st, err := c.AccountAt(context.Background(), acct, at)
	if err != nil {
		return accountView{}, err
	}
	var v accountView
	for _, f := range st.Folders {
		v.folders = append(v.folders, f.Path)
	}
	for _, it := range st.Items {
		v.items = append(v.items, itemLine(it.ID, it.FolderPath, it.UID, it.Flags, it.Digest))
	}
	sort.Strings(v.folders)
	sort.Strings(v.items)
	return v, nil
}
