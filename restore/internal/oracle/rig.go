package oracle

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
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
	"github.com/tidemark/tidemark/hsm/memvol"
)

var (
	ctx = context.Background()
	// Quiet is a logger that discards everything.
	Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// Clock is the fixed clock of a test: it moves only when told.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at 2025-03-01 12:00 UTC.
func NewClock() *Clock { return &Clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Rig is an engine with a running scanner shipping to a repository, as
// `tidemark serve` wires them.
type Rig struct {
	T       testing.TB
	FS      vfs.FS
	Dir     string
	Clk     *Clock
	Eng     *engine.Engine
	RepoVol hsm.Volume
	Repo    *repository.Repository
	Cat     *catalog.Catalog
	Scan    *scanner.Scanner
	stop    context.CancelFunc
	done    chan error
}

// primaryBlobs reads blobs for the scanner from the engine's primary volume.
type primaryBlobs struct{ eng func() *engine.Engine }

func (p primaryBlobs) OpenBlob(ctx context.Context, ref repository.BlobRef) (io.ReadCloser, error) {
	return p.eng().OpenPrimaryBlob(ctx, ref.Digest)
}

// NewRig opens an engine under dir on fs and a scanner shipping to repoVol
// (a new in-memory volume when nil); the test's cleanup closes both.
func NewRig(t testing.TB, fs vfs.FS, dir string, repoVol hsm.Volume) *Rig {
	t.Helper()
	return NewRigWith(t, fs, dir, repoVol, false)
}

// NewRigWith is NewRig whose scanner, with smartScan, has the engine as its
// SmartScan source, as the server's has.
func NewRigWith(t testing.TB, fs vfs.FS, dir string, repoVol hsm.Volume, smartScan bool) *Rig {
	t.Helper()
	if repoVol == nil {
		repoVol = memvol.New(nil)
	}
	r := &Rig{T: t, FS: fs, Dir: dir, Clk: NewClock(), RepoVol: repoVol}
	var running *scanner.Scanner
	var smu sync.Mutex
	safe := func() uint64 {
		smu.Lock()
		defer smu.Unlock()
		if running == nil {
			return 0
		}
		return running.SafeLSN()
	}
	eng, err := engine.Open(dir+"/data", &engine.Options{FS: fs, Now: r.Clk.Now, Logger: Quiet, BcryptCost: 4,
		CheckpointInterval: -1, SafeLSN: safe})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	r.Eng = eng
	repo, err := repository.Init(ctx, repoVol, r.Clk.Now())
	if err != nil {
		t.Fatalf("init repository: %v", err)
	}
	cat, err := catalog.Open(dir+"/data/backup-catalog", &catalog.Options{FS: fs})
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	var src scanner.Source
	if smartScan {
		src = enginesrc.New(eng)
	}
	sc, err := scanner.New(repo, cat, enginesrc.New(eng), primaryBlobs{func() *engine.Engine { return r.Eng }}, src,
		&scanner.Options{Now: r.Clk.Now, Logger: Quiet, ShipInterval: 2 * time.Millisecond, NoCompaction: true, SnapshotInterval: -1})
	if err != nil {
		t.Fatalf("scanner: %v", err)
	}
	smu.Lock()
	running = sc
	smu.Unlock()
	r.Repo, r.Cat, r.Scan = repo, cat, sc
	c, cancel := context.WithCancel(ctx)
	r.stop, r.done = cancel, make(chan error, 1)
	go func() { r.done <- sc.Run(c) }()
	t.Cleanup(r.Close)
	if err := eng.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	return r
}

// Close stops the scanner and closes the catalog and the engine (once).
func (r *Rig) Close() {
	if r.stop != nil {
		r.stop()
		<-r.done
		r.stop = nil
	}
	if r.Cat != nil {
		r.Cat.Close()
		r.Cat = nil
	}
	if r.Eng != nil {
		r.Eng.Close()
		r.Eng = nil
	}
}

// Sync waits until the catalog has every record the engine wrote.
func (r *Rig) Sync() {
	r.T.Helper()
	want := r.Eng.LogLastLSN()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lsn, _, err := r.Cat.Position()
		if err != nil {
			r.T.Fatal(err)
		}
		if lsn >= want {
			return
		}
		if time.Now().After(deadline) {
			r.T.Fatalf("scanner stuck at %d of %d", lsn, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// LastTime returns the commit time of the engine's last record.
func (r *Rig) LastTime() time.Time {
	r.T.Helper()
	last := r.Eng.LogLastLSN()
	rd, err := r.Eng.ReadLog(last)
	if err != nil {
		r.T.Fatal(err)
	}
	defer rd.Close()
	rec, err := rd.Next(ctx)
	if err != nil {
		r.T.Fatal(err)
	}
	return time.Unix(0, rec.Time).UTC()
}

// Msg is an item as the oracle sees it.
type Msg struct {
	ID    uint64
	Sum   [32]byte
	Flags string
	Fl    []string
	Date  int64
}

// Without returns m with flag f removed.
func (m Msg) Without(f string) Msg {
	m.Fl = slices.DeleteFunc(slices.Clone(m.Fl), func(x string) bool { return x == f })
	m.Flags = fmt.Sprint(m.Fl)
	return m
}

// Key is what Diff compares: digest, flags and internal date.
func (m Msg) Key() string { return fmt.Sprintf("%x|%s|%d", m.Sum[:6], m.Flags, m.Date) }

// Mailbox is an account's folders and items in UID order.
type Mailbox map[string][]Msg

// Dump reads acct's folders and items, bytes included, from the engine.
func Dump(t testing.TB, e *engine.Engine, acct uint64) Mailbox {
	t.Helper()
	fs, err := e.ListFolders(ctx, acct)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	out := Mailbox{}
	for _, f := range fs {
		items, err := e.ListItems(ctx, acct, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		list := []Msg{}
		for _, it := range items {
			rc, _, err := e.OpenBlob(ctx, acct, it.ID)
			if err != nil {
				t.Fatalf("open blob of %d: %v", it.ID, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			fl := slices.Clone(it.Flags)
			sort.Strings(fl)
			list = append(list, Msg{ID: it.ID, Sum: sha256.Sum256(b), Flags: fmt.Sprint(fl), Fl: fl, Date: it.InternalDate.UnixNano()})
		}
		out[f.Path] = list
	}
	return out
}

// Diff describes how got differs from want ("" when equal), ignoring ids.
func Diff(want, got Mailbox) string {
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		w, okw := want[p]
		g, okg := got[p]
		if okw != okg {
			return fmt.Sprintf("folder %q: want present=%v, got present=%v", p, okw, okg)
		}
		if len(w) != len(g) {
			return fmt.Sprintf("folder %q: want %d items, got %d", p, len(w), len(g))
		}
		for i := range w {
			if w[i].Key() != g[i].Key() {
				return fmt.Sprintf("folder %q item %d: want %s, got %s", p, i, w[i].Key(), g[i].Key())
			}
		}
	}
	return ""
}
