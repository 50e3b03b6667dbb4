package restore

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/backup"
	"github.com/tidemark/tidemark/engine/backup/enginesrc"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/memvol"
)

var (
	ctx        = context.Background()
	trialsFlag = flag.Int("restore.trials", 0, "point-in-time restore trials of the oracle test (default 300, 60 with -short)")
	quiet      = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// clock is the fixed clock of a test: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// rig is an engine with a running scanner shipping to a repository, as
// `tidemark serve` wires them.
type rig struct {
	t       testing.TB
	fs      vfs.FS
	dir     string
	clk     *clock
	eng     *engine.Engine
	repoVol hsm.Volume
	repo    *backup.Repository
	cat     *backup.Catalog
	scan    *backup.Scanner
	stop    context.CancelFunc
	done    chan error
}

// primaryBlobs reads blobs for the scanner from the engine's primary volume.
type primaryBlobs struct{ eng func() *engine.Engine }

func (p primaryBlobs) OpenBlob(ctx context.Context, ref backup.BlobRef) (io.ReadCloser, error) {
	b, err := hsm.ReadAll(ctx, p.eng().Primary(), dedup.BlobName(ref.Digest))
	if err != nil {
		return nil, err
	}
	raw, err := dedup.Decode(b)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytesReader(raw)), nil
}

func newRig(t testing.TB, fs vfs.FS, dir string, repoVol hsm.Volume) *rig {
	t.Helper()
	return newRigWith(t, fs, dir, repoVol, false)
}

// newRigWith is newRig whose scanner, with smartScan, has the engine as its
// SmartScan source, as the server's has.
func newRigWith(t testing.TB, fs vfs.FS, dir string, repoVol hsm.Volume, smartScan bool) *rig {
	t.Helper()
	if repoVol == nil {
		repoVol = memvol.New(nil)
	}
	r := &rig{t: t, fs: fs, dir: dir, clk: newClock(), repoVol: repoVol}
	var scanner *backup.Scanner
	var smu sync.Mutex
	safe := func() uint64 {
		smu.Lock()
		defer smu.Unlock()
		if scanner == nil {
			return 0
		}
		return scanner.SafeLSN()
	}
	eng, err := engine.Open(dir+"/data", &engine.Options{FS: fs, Now: r.clk.Now, Logger: quiet, BcryptCost: 4,
		CheckpointInterval: -1, SafeLSN: safe})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	r.eng = eng
	repo, err := backup.InitRepository(ctx, repoVol, r.clk.Now())
	if err != nil {
		t.Fatalf("init repository: %v", err)
	}
	cat, err := backup.OpenCatalog(dir+"/data/backup-catalog", &backup.CatalogOptions{FS: fs})
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	var src backup.Source
	if smartScan {
		src = enginesrc.New(eng)
	}
	sc, err := backup.NewScanner(repo, cat, backup.LogOf(eng.Log()), primaryBlobs{func() *engine.Engine { return r.eng }}, src,
		&backup.Options{Now: r.clk.Now, Logger: quiet, ShipInterval: 2 * time.Millisecond, NoCompaction: true, SnapshotInterval: -1})
	if err != nil {
		t.Fatalf("scanner: %v", err)
	}
	smu.Lock()
	scanner = sc
	smu.Unlock()
	r.repo, r.cat, r.scan = repo, cat, sc
	c, cancel := context.WithCancel(ctx)
	r.stop, r.done = cancel, make(chan error, 1)
	go func() { r.done <- sc.Run(c) }()
	t.Cleanup(r.close)
	if err := eng.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) close() {
	if r.stop != nil {
		r.stop()
		<-r.done
		r.stop = nil
	}
	if r.cat != nil {
		r.cat.Close()
		r.cat = nil
	}
	if r.eng != nil {
		r.eng.Close()
		r.eng = nil
	}
}

// sync waits until the catalog has every record the engine wrote.
func (r *rig) sync() {
	r.t.Helper()
	want := r.eng.Log().LastLSN()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lsn, _, err := r.cat.Position()
		if err != nil {
			r.t.Fatal(err)
		}
		if lsn >= want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("scanner stuck at %d of %d", lsn, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (r *rig) restorer() *Restorer {
	return New(r.eng, r.cat, r.repo, &Options{Now: r.clk.Now, Logger: quiet, Location: time.UTC})
}

// lastTime returns the commit time of the engine's last record.
func (r *rig) lastTime() time.Time {
	r.t.Helper()
	last := r.eng.Log().LastLSN()
	rd, err := r.eng.Log().NewReader(last)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rd.Close()
	rec, err := rd.Next(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return time.Unix(0, rec.Time).UTC()
}

// msg is an item as the oracle sees it.
type msg struct {
	ID    uint64
	Sum   [32]byte
	Flags string
	Fl    []string
	Date  int64
}

// without returns m with flag f removed.
func (m msg) without(f string) msg {
	m.Fl = slices.DeleteFunc(slices.Clone(m.Fl), func(x string) bool { return x == f })
	m.Flags = fmt.Sprint(m.Fl)
	return m
}

func (m msg) key() string { return fmt.Sprintf("%x|%s|%d", m.Sum[:6], m.Flags, m.Date) }

// mailbox is an account's folders and items in UID order.
type mailbox map[string][]msg

func dump(t testing.TB, e *engine.Engine, acct uint64) mailbox {
	t.Helper()
	fs, err := e.ListFolders(ctx, acct)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	out := mailbox{}
	for _, f := range fs {
		items, err := e.ListItems(ctx, acct, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		list := []msg{}
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
			list = append(list, msg{ID: it.ID, Sum: sha256.Sum256(b), Flags: fmt.Sprint(fl), Fl: fl, Date: it.InternalDate.UnixNano()})
		}
		out[f.Path] = list
	}
	return out
}

// diff describes how got differs from want ("" when equal), ignoring ids.
func diff(want, got mailbox) string {
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
			if w[i].key() != g[i].key() {
				return fmt.Sprintf("folder %q item %d: want %s, got %s", p, i, w[i].key(), g[i].key())
			}
		}
	}
	return ""
}

var errSkip = errors.New("skip")
