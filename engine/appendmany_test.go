package engine

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
)

// manyMsgs makes n messages; every blobEvery-th one (if > 0) is larger
// than the inline limit, so it is written blob-first.
func manyMsgs(tag string, n, blobEvery int) []NewMessage {
	out := make([]NewMessage, n)
	for i := range out {
		size := 50 + i%5*40
		if blobEvery > 0 && i%blobEvery == 0 {
			size = DefaultInlineBlobMax + 1000 + i
		}
		out[i] = NewMessage{
			Body:         msg(fmt.Sprintf("%s %d", tag, i), strings.Repeat(fmt.Sprintf("%s%d ", tag, i), size/4)),
			Flags:        []string{fmt.Sprintf("$k%d", i%3)},
			InternalDate: time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC),
		}
	}
	return out
}

// checkAppended asserts that the successful items have increasing UIDs in
// slice order and hold their message's bytes, flags and date.
func checkAppended(t *testing.T, e *Engine, acct uint64, msgs []NewMessage, items []Item, errs []error) {
	t.Helper()
	var last uint32
	for i, it := range items {
		if errs[i] != nil {
			continue
		}
		if it.UID <= last {
			t.Fatalf("message %d: uid %d after %d", i, it.UID, last)
		}
		last = it.UID
		if !it.InternalDate.Equal(msgs[i].InternalDate) || len(it.Flags) != 1 || it.Flags[0] != msgs[i].Flags[0] {
			t.Fatalf("message %d: %+v", i, it)
		}
		rc, _, err := e.OpenBlob(ctx, acct, it.ID)
		must(t, err)
		got, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		if !bytes.Equal(got, msgs[i].Body) {
			t.Fatalf("message %d: body differs", i)
		}
	}
}

func TestAppendManyOrderWithOtherWriters(t *testing.T) {
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID)
	msgs := manyMsgs("m", 300, 17)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var others atomic.Int64
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.Append(ctx, a.ID, inbox.ID, msg(fmt.Sprintf("other %d %d", w, i), "x"), nil, time.Time{}); err != nil {
					t.Error(err)
					return
				}
				others.Add(1)
			}
		}()
	}
	var items []Item
	var errs []error
	for round := 0; round < 3; round++ { // several batches while the others write
		items, errs = e.AppendMany(ctx, a.ID, inbox.ID, msgs, event.AddRestored)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		checkAppended(t, e, a.ID, msgs, items, errs)
	}
	close(stop)
	wg.Wait()
	if others.Load() == 0 {
		t.Fatal("no concurrent appends ran")
	}
	all, err := e.ListItems(ctx, a.ID, inbox.ID)
	must(t, err)
	if len(all) != 3*len(msgs)+int(others.Load()) {
		t.Fatalf("%d items, want %d", len(all), 3*len(msgs)+int(others.Load()))
	}
	must(t, e.Check(ctx))
}

func TestAppendManyPerItemErrors(t *testing.T) {
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID)
	msgs := manyMsgs("q", 40, 0)
	e.opts.MaxMessageSize = 2000
	msgs[5].Body = bytes.Repeat([]byte("y"), 3000) // too large
	msgs[9].Flags = []string{`\Bogus`}             // invalid flag
	msgs[12].InternalDate = time.Time{}            // takes now
	var quota int64
	for i, m := range msgs[:30] {
		if i != 5 && i != 9 {
			quota += int64(len(m.Body))
		}
	}
	_, err := e.ModifyAccount(ctx, a.ID, AccountChange{Quota: &quota})
	must(t, err)
	// The quota is reached by the first 30: each later one fails on its
	// own. (A restore would ignore the quota: restored_test.go.)
	items, errs := e.AppendMany(ctx, a.ID, inbox.ID, msgs, event.AddAppended)
	for i, err := range errs {
		switch {
		case i == 5:
			wantErr(t, err, ErrTooLarge)
		case i == 9:
			wantErr(t, err, ErrInvalid)
		case i >= 30:
			wantErr(t, err, ErrQuotaExceeded)
		case err != nil:
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if items[12].InternalDate.IsZero() {
		t.Fatal("zero internal date kept")
	}
	msgs[12].InternalDate = items[12].InternalDate
	checkAppended(t, e, a.ID, msgs, items, errs)
	all, err := e.ListItems(ctx, a.ID, inbox.ID)
	must(t, err)
	if len(all) != 28 {
		t.Fatalf("%d items stored, want 28", len(all))
	}
	k := 0
	for i := range msgs {
		if errs[i] == nil {
			if all[k].ID != items[i].ID {
				t.Fatalf("folder position %d holds item %d, want %d", k, all[k].ID, items[i].ID)
			}
			k++
		}
	}
	must(t, e.Check(ctx))
}

// syncCounter counts syncs of redo log files.
type syncCounter struct{ n atomic.Int64 }

func (s *syncCounter) MaybeError(op errorfs.Op) error {
	switch op.Kind {
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		if strings.Contains(op.Path, "redolog") {
			s.n.Add(1)
		}
	}
	return nil
}

func (s *syncCounter) String() string { return "syncCounter" }

func TestAppendManyOneFsync(t *testing.T) {
	sc := &syncCounter{}
	e := openTest(t, errorfs.Wrap(vfs.NewMem(), sc), "data")
	defer e.Close()
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "secret"})
	must(t, err)
	inbox := inboxOf(t, e, a.ID)

	// The counter sees the log's syncs: one per single append.
	before := sc.n.Load()
	for i := 0; i < 10; i++ {
		_, err := e.Append(ctx, a.ID, inbox.ID, msg(fmt.Sprint(i), "one"), nil, time.Time{})
		must(t, err)
	}
	if got := sc.n.Load() - before; got != 10 {
		t.Fatalf("10 appends: %d redo syncs", got)
	}

	msgs := manyMsgs("f", 400, 0)
	before = sc.n.Load()
	items, errs := e.AppendMany(ctx, a.ID, inbox.ID, msgs, event.AddRestored)
	if got := sc.n.Load() - before; got != 1 {
		t.Fatalf("AppendMany of %d: %d redo syncs, want 1", len(msgs), got)
	}
	for i, err := range errs {
		must(t, err)
		if i > 0 && items[i].ModSeq != items[i-1].ModSeq+1 {
			t.Fatalf("message %d: lsn %d after %d", i, items[i].ModSeq, items[i-1].ModSeq)
		}
	}
	checkAppended(t, e, a.ID, msgs, items, errs)
}

func TestAppendManyCrashKeepsAnswered(t *testing.T) {
	mem := vfs.NewCrashableMem()
	e := openTest(t, mem, "data")
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "secret"})
	must(t, err)
	inbox := inboxOf(t, e, a.ID)
	msgs := manyMsgs("c", 120, 7)
	items, errs := e.AppendMany(ctx, a.ID, inbox.ID, msgs, event.AddRestored)
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	e.Close()

	e2 := openTest(t, crashed, "data")
	defer e2.Close()
	must(t, e2.Check(ctx))
	all, err := e2.ListItems(ctx, a.ID, inbox.ID)
	must(t, err)
	if len(all) != len(msgs) {
		t.Fatalf("%d items after crash, want %d", len(all), len(msgs))
	}
	for i := range msgs {
		must(t, errs[i])
		if all[i].ID != items[i].ID || all[i].UID != items[i].UID || all[i].Digest != items[i].Digest {
			t.Fatalf("message %d: %+v after crash, answered %+v", i, all[i], items[i])
		}
	}
	checkAppended(t, e2, a.ID, msgs, items, errs)
}

// TestAppendManyBlobCollected makes every blob-first blob of a batch look
// collected between its write and its apply (a collection pass ran, the
// file is gone): the batch is re-run from the first such message, blobs
// rewritten, order kept.
func TestAppendManyBlobCollected(t *testing.T) {
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID)
	msgs := manyMsgs("g", 30, 10) // blob-first at 0, 10, 20
	msgs[0].Body = msg("g inline", "small")
	// Hold the writer so the batch waits in the queue.
	release := make(chan struct{})
	held := make(chan struct{})
	go e.do(ctx, func(tx *txn) (event.Event, any, error) {
		close(held)
		<-release
		return nil, nil, nil
	})
	<-held
	var items []Item
	var errs []error
	done := make(chan struct{})
	go func() {
		items, errs = e.AppendMany(ctx, a.ID, inbox.ID, msgs, event.AddRestored)
		close(done)
	}()
	waitFor(t, "batch queued", func() bool { return len(e.cmds) == len(msgs) })
	for _, i := range []int{10, 20} {
		must(t, e.prim().vol.Delete(ctx, dedup.BlobName(dedup.Sum(msgs[i].Body))))
	}
	e.gcGen.Add(1)
	close(release)
	<-done
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// The bodies read back from the volume: the deleted blobs were
	// rewritten by the re-run.
	checkAppended(t, e, a.ID, msgs, items, errs)
	must(t, e.Check(ctx))
}
