package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// gatedVolume is a local volume whose deferred writes wait until the gate
// opens (or fail with fail), and which records how many deferred writes
// had completed at each SyncDeferred.
type gatedVolume struct {
	*localvol.Volume
	gate    chan struct{}
	entered atomic.Int64
	fail    error

	mu        sync.Mutex
	done      int
	syncsSeen []int
	written   map[string]bool // names of copies written, even if deleted since
}

func newGated(t *testing.T, fs vfs.FS) *gatedVolume {
	t.Helper()
	v, err := localvol.New(fs, "vol", nil)
	must(t, err)
	return &gatedVolume{Volume: v, gate: make(chan struct{})}
}

func (g *gatedVolume) open() { close(g.gate) }

func (g *gatedVolume) PutDeferred(ctx context.Context, name string, r io.Reader, size int64) error {
	g.entered.Add(1)
	<-g.gate
	if g.fail != nil {
		return g.fail
	}
	err := g.Volume.PutDeferred(ctx, name, r, size)
	g.mu.Lock()
	g.done++
	if err == nil {
		if g.written == nil {
			g.written = map[string]bool{}
		}
		g.written[name] = true
	}
	g.mu.Unlock()
	return err
}

func (g *gatedVolume) SyncDeferred(ctx context.Context) error {
	g.mu.Lock()
	g.syncsSeen = append(g.syncsSeen, g.done)
	g.mu.Unlock()
	return g.Volume.SyncDeferred(ctx)
}

// wrote reports whether d's copy was written, whether or not it was
// collected since.
func (g *gatedVolume) wrote(d dedup.Digest) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.written[dedup.BlobName(d)]
}

func (g *gatedVolume) onDisk(d dedup.Digest) bool {
	_, err := g.Volume.Stat(ctx, dedup.BlobName(d))
	return err == nil
}

var _ hsm.DeferredSyncer = (*gatedVolume)(nil)

// gatedEngine opens an engine whose primary is g, with one account.
func gatedEngine(t *testing.T, fs vfs.FS, g *gatedVolume, backlog int64) (*Engine, Account) {
	t.Helper()
	o := inlineOpts(fs)
	o.Primary = g
	o.InlineBacklog = backlog
	e, err := Open("data", o)
	must(t, err)
	must(t, e.CreateDomain(ctx, "g.example"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "u@g.example"})
	must(t, err)
	return e, a
}

// waitFor polls cond (a state the test drives to, not a timing) for up
// to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 10000 && !cond(); i++ {
		time.Sleep(time.Millisecond)
	}
	if !cond() {
		t.Fatalf("never reached: %s", what)
	}
}

func deliverOne(t *testing.T, e *Engine, acct uint64, body []byte) Item {
	t.Helper()
	res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{acct}, Body: body})
	must(t, err)
	must(t, res[0].Err)
	return res[0].Item
}

// TestReadWhileCopyPending: a delivery is answered while its volume copy
// cannot be written, and every read path serves it from memory.
func TestReadWhileCopyPending(t *testing.T) {
	fs := vfs.NewMem()
	g := newGated(t, fs)
	e, a := gatedEngine(t, fs, g, 0)
	body := []byte("Subject: pending\r\nFrom: x@y\r\n\r\nthe needle is here\r\n")
	it := deliverOne(t, e, a.ID, body)
	if g.onDisk(it.Digest) {
		t.Fatal("copy on disk although its write is blocked")
	}
	if n, _ := e.copies.backlog(); n != 1 {
		t.Fatalf("%d copies pending, want 1", n)
	}

	rc, size, err := e.OpenBlob(ctx, a.ID, it.ID)
	must(t, err)
	got, err := io.ReadAll(rc)
	must(t, err)
	if string(got) != string(body) || size != int64(len(body)) {
		t.Fatalf("OpenBlob: %q (%d)", got, size)
	}
	part, err := e.ReadBlobRange(ctx, a.ID, it.ID, 9, 7)
	must(t, err)
	if string(part) != "pending" {
		t.Fatalf("ReadBlobRange: %q", part)
	}
	part[0] = 'X' // the caller owns what it got
	inbox := inboxOf(t, e, a.ID)
	ids, err := e.Search(ctx, a.ID, inbox.ID, &SearchCriteria{Body: []string{"needle"},
		Header: []HeaderMatch{{Key: "Subject", Value: "pending"}}})
	must(t, err)
	if len(ids) != 1 || ids[0] != it.ID {
		t.Fatalf("Search: %v", ids)
	}
	// Readers of the volume (the backup scanner) see it too.
	name := dedup.BlobName(it.Digest)
	framed, err := hsm.ReadAll(ctx, e.primaryView(), name)
	must(t, err)
	if raw, err := dedup.Decode(framed); err != nil || string(raw) != string(body) {
		t.Fatalf("Primary().Get: %q %v", raw, err)
	}
	rc, err = e.primaryView().GetRange(ctx, name, 1, 7)
	must(t, err)
	got, err = io.ReadAll(rc)
	must(t, err)
	if string(got) != "Subject" {
		t.Fatalf("Primary().GetRange: %q", got)
	}
	if fi, err := e.primaryView().Stat(ctx, name); err != nil || fi.Size != int64(len(body))+1 {
		t.Fatalf("Primary().Stat: %+v %v", fi, err)
	}
	must(t, e.Check(ctx))

	g.open()
	must(t, e.Checkpoint(ctx))
	if !g.onDisk(it.Digest) {
		t.Fatal("copy not written after the checkpoint")
	}
	if n, _ := e.copies.backlog(); n != 0 {
		t.Fatalf("%d copies pending after the checkpoint", n)
	}
	checkBlobCopies(t, e)
	must(t, e.Close())
}

// TestCopyBacklogBounded: with copies blocked, deliveries stop being
// answered once the pending bytes pass InlineBacklog, and the pending map
// holds no more than the bound plus one round; opening the gate lets
// every delivery finish.
func TestCopyBacklogBounded(t *testing.T) {
	fs := vfs.NewMem()
	g := newGated(t, fs)
	const bound, msgSize, total = 4000, 1000, 20
	e, a := gatedEngine(t, fs, g, bound)
	var answered atomic.Int64
	errc := make(chan error, 1)
	go func() {
		for i := range total {
			body := fmt.Appendf(nil, "Subject: %03d\r\n\r\n%s", i, strings.Repeat("b", msgSize-15))
			res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body})
			if err == nil {
				err = res[0].Err
			}
			if err != nil {
				errc <- err
				return
			}
			answered.Add(1)
		}
		errc <- nil
	}()
	waitFor(t, "a round waiting for room", func() bool { return e.copies.stalls.Load() > 0 })
	n, bytes := e.copies.backlog()
	if bytes > bound+msgSize {
		t.Fatalf("%d bytes pending (%d copies), bound %d plus one %d-byte round", bytes, n, bound, msgSize)
	}
	if got := answered.Load(); got >= total || got > int64(bound/msgSize+1) {
		t.Fatalf("%d deliveries answered with the backlog full (bound allows %d)", got, bound/msgSize+1)
	}
	g.open()
	must(t, <-errc)
	must(t, e.copies.barrier())
	if n, bytes := e.copies.backlog(); n != 0 || bytes != 0 {
		t.Fatalf("backlog %d copies, %d bytes after draining", n, bytes)
	}
	checkBlobCopies(t, e)
	must(t, e.Close())
}

// TestCheckpointWaitsForCopies: a checkpoint does not sync, record
// "blobsynced" or move the checkpoint LSN while a copy of a record it
// covers is unwritten.
func TestCheckpointWaitsForCopies(t *testing.T) {
	fs := vfs.NewMem()
	g := newGated(t, fs)
	e, a := gatedEngine(t, fs, g, 0)
	before := e.CheckpointLSN()
	for i := range 5 {
		deliverOne(t, e, a.ID, fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i))
	}
	waitFor(t, "a worker blocked on the gate", func() bool { return g.entered.Load() >= 1 })
	done := make(chan error, 1)
	go func() { done <- e.Checkpoint(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("checkpoint returned (%v) with 5 copies unwritten", err)
	case <-time.After(100 * time.Millisecond):
	}
	g.mu.Lock()
	syncs := len(g.syncsSeen)
	g.mu.Unlock()
	if syncs != 0 || e.CheckpointLSN() != before {
		t.Fatalf("checkpoint went ahead: %d syncs, checkpoint lsn %d (was %d)", syncs, e.CheckpointLSN(), before)
	}
	g.open()
	must(t, <-done)
	g.mu.Lock()
	seen := g.syncsSeen
	g.mu.Unlock()
	if len(seen) != 1 || seen[0] != 5 {
		t.Fatalf("SyncDeferred saw %v copies written, want [5]", seen)
	}
	if e.CheckpointLSN() != e.AppliedLSN() {
		t.Fatalf("checkpoint lsn %d, applied %d", e.CheckpointLSN(), e.AppliedLSN())
	}
	must(t, e.Close())
}

// TestCollectSkipsPendingCopy: a blob whose count dropped to zero is not
// collected while its copy is pending (which would let the copy re-create
// it), and is collected, for good, once written and checkpointed.
func TestCollectSkipsPendingCopy(t *testing.T) {
	fs := vfs.NewMem()
	g := newGated(t, fs)
	e, a := gatedEngine(t, fs, g, 0)
	it := deliverOne(t, e, a.ID, []byte("Subject: doomed\r\n\r\nbye\r\n"))
	_, err := e.Expunge(ctx, a.ID, it.Folder, []uint64{it.ID})
	must(t, err)
	// Pretend a checkpoint passed the drop (a real one waits for the
	// copy): collection must still leave the blob alone.
	e.checkpoint.Store(e.AppliedLSN())
	must(t, e.collect(ctx))
	if ok, err := getVal(e.db, blobKey(it.Digest), &blobRec{}); err != nil || !ok {
		t.Fatalf("blob record collected while its copy is pending (%v)", err)
	}
	if _, ok := e.copies.lookup(it.Digest); !ok {
		t.Fatal("copy no longer pending")
	}

	g.open()
	must(t, e.Checkpoint(ctx))
	// The checkpoint also wakes collection on the writer, which may
	// already have deleted the written copy: ask whether it was written.
	if !g.wrote(it.Digest) {
		t.Fatal("copy not written before the checkpoint returned")
	}
	must(t, e.collect(ctx))
	if ok, err := getVal(e.db, blobKey(it.Digest), &blobRec{}); err != nil || ok {
		t.Fatalf("blob record still there after collection (%v)", err)
	}
	must(t, e.Close())
	if g.onDisk(it.Digest) {
		t.Fatal("collected blob re-created")
	}
	e2, err := Open("data", &Options{FS: fs, Primary: g, BcryptCost: 4, CheckpointInterval: -1,
		InlineBlobMax: 1024, Logger: testOptions(fs).Logger})
	must(t, err)
	must(t, e2.Check(ctx))
	must(t, e2.Close())
}

// TestCopyWriteFailure: a copy that cannot be written leaves the delivery
// answered and readable, stops further writes, and is rewritten from the
// redo log when the engine is reopened.
func TestCopyWriteFailure(t *testing.T) {
	fs := vfs.NewMem()
	g := newGated(t, fs)
	g.fail = errors.New("disk on fire")
	e, a := gatedEngine(t, fs, g, 0)
	if err := e.Err(); err != nil {
		t.Fatalf("Err of a healthy engine: %v", err)
	}
	body := []byte("Subject: survivor\r\n\r\nstill here\r\n")
	it := deliverOne(t, e, a.ID, body)
	g.open()
	if err := e.copies.barrier(); err == nil {
		t.Fatal("barrier reports no error for a failed copy")
	}
	got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
	must(t, err)
	if string(got) != string(body) {
		t.Fatalf("read %q", got)
	}
	if _, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: []byte("x")}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("deliver after a failed copy: %v, want ErrReadOnly", err)
	}
	if err := e.Err(); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Err after a failed copy: %v, want ErrReadOnly naming the cause", err)
	}
	e.Close()
	if g.onDisk(it.Digest) {
		t.Fatal("failed copy on disk")
	}

	g2 := newGated(t, fs)
	g2.open()
	o := inlineOpts(fs)
	o.Primary = g2
	e2, err := Open("data", o)
	must(t, err)
	if !g2.onDisk(it.Digest) {
		t.Fatal("recovery did not rewrite the copy")
	}
	checkBlobCopies(t, e2)
	must(t, e2.Check(ctx))
	must(t, e2.Close())
}
