package engine

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// switchBody is a message of the switch tests: inline (small) or
// blob-first (over the inline limit), distinct for each n.
func switchBody(n int, large bool) []byte {
	size := 200 + n
	if large {
		size = DefaultInlineBlobMax + 700 + n
	}
	return fmt.Appendf(nil, "Subject: switch %d\r\n\r\n%s\r\n", n, bytes.Repeat([]byte{'a' + byte(n%26)}, size))
}

// onVolume checks that the state places item id on vol and that vol holds
// its blob whole (read from the volume itself, not the pending copies).
func onVolume(t *testing.T, e *Engine, acct, id uint64, body []byte, vol string) {
	t.Helper()
	_, it, err := loadItem(e.db, acct, id)
	must(t, err)
	d := dedup.Digest(it.Digest)
	loc, err := e.BlobAt(ctx, d)
	if err != nil || loc.Volume != vol {
		t.Fatalf("item %d: on %q (%v), want %s", id, loc.Volume, err, vol)
	}
	v, err := e.rawVolume(ctx, vol)
	must(t, err)
	framed, err := hsm.ReadAll(ctx, v, dedup.BlobName(d))
	if err != nil {
		t.Fatalf("item %d: not on volume %s: %v", id, vol, err)
	}
	raw, err := dedup.Decode(framed)
	if err != nil || !bytes.Equal(raw, body) {
		t.Fatalf("item %d: the copy on %s is not the message: %v", id, vol, err)
	}
}

// TestSetCurrentPrimaryLive: making another volume the current primary
// takes effect at once, while appends of inline and blob-first messages
// run: messages appended before the switch stay on the old primary,
// those appended after it go to the new one (compressed as it says), the
// ones under way land on one of the two and are recorded where they are,
// all read back byte for byte, and the state survives a reopen and a
// rebuild from the redo log.
func TestSetCurrentPrimaryLive(t *testing.T) {
	fs := newMem()
	e := openTest(t, fs, "data")
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "pw"})
	must(t, err)
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	must(t, err)
	must(t, e.CreateVolume(ctx, hsm.Spec{Name: "fast2", Kind: hsm.KindPrimary, Type: hsm.TypeLocal, Compress: true, Threshold: 100}))
	date := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	type msg struct {
		id   uint64
		body []byte
	}
	var mu sync.Mutex
	var before, during, after []msg
	appendOne := func(n int, to *[]msg) {
		b := switchBody(n, n%2 == 1)
		it, err := e.Append(ctx, a.ID, inbox.ID, b, nil, date)
		if err != nil {
			t.Errorf("append %d: %v", n, err)
			return
		}
		mu.Lock()
		*to = append(*to, msg{it.ID, b})
		mu.Unlock()
	}
	for n := range 10 {
		appendOne(n, &before)
	}
	// Four writers append while the switch is made.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				appendOne(1000+w*1000+k, &during)
				if k >= 200 {
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	must(t, e.SetCurrentVolume(ctx, "fast2"))
	if e.PrimaryName() != "fast2" {
		t.Fatalf("primary after set-current: %s", e.PrimaryName())
	}
	for n := 10; n < 20; n++ {
		appendOne(n, &after)
	}
	// Let the writers go on past the switch for a while.
	mu.Lock()
	at := len(during)
	mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(during)
		mu.Unlock()
		if n >= at+20 || n >= 4*200 {
			break
		}
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if len(during) == 0 {
		t.Fatal("no append ran across the switch")
	}
	must(t, e.Checkpoint(ctx))

	check := func(e *Engine, when string) {
		t.Helper()
		for _, m := range before {
			onVolume(t, e, a.ID, m.id, m.body, "primary")
		}
		for _, m := range after {
			onVolume(t, e, a.ID, m.id, m.body, "fast2")
		}
		counts := map[string]int{}
		for _, m := range append(append(append([]msg(nil), before...), during...), after...) {
			got, err := e.ReadBlobRange(ctx, a.ID, m.id, 0, -1)
			if err != nil || !bytes.Equal(got, m.body) {
				t.Fatalf("%s: item %d not read back whole: %v", when, m.id, err)
			}
			_, it, err := loadItem(e.db, a.ID, m.id)
			must(t, err)
			loc, err := e.BlobAt(ctx, dedup.Digest(it.Digest))
			must(t, err)
			onVolume(t, e, a.ID, m.id, m.body, loc.Volume)
			counts[loc.Volume]++
		}
		rep, err := e.CheckBlobs(ctx, CheckOptions{})
		must(t, err)
		if rep.Missing+rep.Corrupt != 0 {
			t.Fatalf("%s: check: %+v", when, rep)
		}
		must(t, e.Check(ctx))
		t.Logf("%s: %d messages, by volume %v", when, len(before)+len(during)+len(after), counts)
	}
	check(e, "live")
	// A new blob on fast2 is compressed (threshold 100): stored smaller.
	cold, err := e.rawVolume(ctx, "fast2")
	must(t, err)
	_, it, err := loadItem(e.db, a.ID, after[1].id)
	must(t, err)
	fi, err := cold.Stat(ctx, dedup.BlobName(dedup.Digest(it.Digest)))
	must(t, err)
	if fi.Size >= int64(len(after[1].body)) {
		t.Fatalf("blob on fast2 stored in %d bytes, message %d: not compressed", fi.Size, len(after[1].body))
	}
	must(t, e.Close())

	e2 := openTest(t, fs, "data")
	if e2.PrimaryName() != "fast2" {
		t.Fatalf("primary after reopening: %s", e2.PrimaryName())
	}
	check(e2, "reopened")
	b := switchBody(99, true)
	it2, err := e2.Append(ctx, a.ID, inbox.ID, b, nil, date)
	must(t, err)
	onVolume(t, e2, a.ID, it2.ID, b, "fast2")
	after = append(after, msg{it2.ID, b})
	must(t, e2.Close())

	// The projection rebuilt from the redo log places every blob alike.
	must(t, fs.RemoveAll("data/meta"))
	e3 := openTest(t, fs, "data")
	defer e3.Close()
	check(e3, "rebuilt from the log")
}

// TestSetCurrentPrimaryBackAndForth: the primary switched back while
// inline copies are pending; the copies go where their records say.
func TestSetCurrentPrimaryBackAndForth(t *testing.T) {
	e, a := newEngine(t)
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	must(t, err)
	must(t, e.CreateVolume(ctx, hsm.Spec{Name: "fast2", Kind: hsm.KindPrimary, Type: hsm.TypeLocal}))
	date := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type msg struct {
		id   uint64
		body []byte
		vol  string
	}
	var msgs []msg
	vols := []string{"primary", "fast2"}
	for round := range 6 {
		vol := vols[round%2]
		if round > 0 {
			must(t, e.SetCurrentVolume(ctx, vol))
		}
		for n := range 6 {
			b := switchBody(round*10+n, n%3 == 0)
			it, err := e.Append(ctx, a.ID, inbox.ID, b, nil, date)
			must(t, err)
			msgs = append(msgs, msg{it.ID, b, vol})
		}
	}
	must(t, e.Checkpoint(ctx))
	for _, m := range msgs {
		onVolume(t, e, a.ID, m.id, m.body, m.vol)
	}
	// The old primary can be deleted only once empty.
	if err := e.DeleteVolume(ctx, "primary"); err == nil {
		t.Fatal("deleted a volume holding blobs")
	}
}

// TestSetCurrentPrimaryCrashAtEveryWrite: a crash at every write of a
// switch of the primary followed by appends and a checkpoint leaves every
// acknowledged message readable byte for byte, on the volume the state
// names, with the messages appended after an acknowledged switch on the
// new primary, and the engine writing to the registry's current primary
// after the reopen.
func TestSetCurrentPrimaryCrashAtEveryWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop; skipped with -short")
	}
	date := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	setup := func(fs vfs.FS) (uint64, uint64) {
		e := openTest(t, fs, "data")
		must(t, e.CreateDomain(ctx, "example.org"))
		a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "pw"})
		must(t, err)
		must(t, e.CreateVolume(ctx, hsm.Spec{Name: "fast2", Kind: hsm.KindPrimary, Type: hsm.TypeLocal}))
		inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
		must(t, err)
		for n := range 4 {
			_, err := e.Append(ctx, a.ID, inbox.ID, switchBody(n, n%2 == 1), nil, date)
			must(t, err)
		}
		must(t, e.Close())
		return a.ID, inbox.ID
	}
	type acked struct {
		switched bool
		bodies   [][]byte
	}
	// work switches and appends; ack is told of every acknowledged step.
	work := func(fs vfs.FS, acct, inbox uint64, ack func(switched bool, body []byte)) {
		e, err := Open("data", testOptions(fs))
		must(t, err)
		must(t, e.SetCurrentVolume(ctx, "fast2"))
		ack(true, nil)
		for n := 10; n < 14; n++ {
			b := switchBody(n, n%2 == 1)
			if _, err := e.Append(ctx, acct, inbox, b, nil, date); err == nil {
				ack(false, b)
			}
		}
		must(t, e.Checkpoint(ctx))
		must(t, e.Close())
	}
	probe := &crashFS{mem: vfs.NewCrashableMem(), k: -1}
	acct, inbox := setup(errorfs.Wrap(probe.mem, probe))
	before := probe.n.Load()
	work(errorfs.Wrap(probe.mem, probe), acct, inbox, func(bool, []byte) {})
	after := probe.n.Load()
	if after-before < 8 {
		t.Fatalf("the workload made only %d writes", after-before)
	}
	crashes, skipped := 0, 0
	for k := before + 1; k <= after; k++ {
		cfs := &crashFS{mem: vfs.NewCrashableMem(), k: -1}
		setup(errorfs.Wrap(cfs.mem, cfs))
		var mu sync.Mutex
		var now, atCrash acked
		cfs.onHit = func() {
			mu.Lock()
			atCrash = acked{now.switched, append([][]byte(nil), now.bodies...)}
			mu.Unlock()
		}
		cfs.k = cfs.n.Load() + (k - before)
		work(errorfs.Wrap(cfs.mem, cfs), acct, inbox, func(sw bool, b []byte) {
			mu.Lock()
			defer mu.Unlock()
			now.switched = now.switched || sw
			if b != nil {
				now.bodies = append(now.bodies, b)
			}
		})
		cfs.mu.Lock()
		clone := cfs.clone
		cfs.mu.Unlock()
		if clone == nil {
			if cfs.n.Load() < cfs.k {
				skipped++
				continue
			}
			t.Fatalf("crash point %d not reached", k)
		}
		crashes++
		e, err := Open("data", testOptions(clone))
		if err != nil {
			t.Fatalf("crash at op %d: reopen: %v", k-before, err)
		}
		mu.Lock()
		got := atCrash
		mu.Unlock()
		if got.switched && e.PrimaryName() != "fast2" {
			t.Fatalf("crash at op %d: acknowledged switch lost: primary %s", k-before, e.PrimaryName())
		}
		items, err := e.ListItems(ctx, acct, inbox)
		must(t, err)
		byBody := map[string]uint64{}
		for _, it := range items {
			b, err := e.ReadBlobRange(ctx, acct, it.ID, 0, -1)
			if err != nil {
				t.Fatalf("crash at op %d: item %d unreadable: %v", k-before, it.ID, err)
			}
			byBody[string(b)] = it.ID
		}
		for _, b := range got.bodies {
			id, ok := byBody[string(b)]
			if !ok {
				t.Fatalf("crash at op %d: an acknowledged message is lost", k-before)
			}
			onVolume(t, e, acct, id, b, "fast2")
		}
		rep, err := e.CheckBlobs(ctx, CheckOptions{})
		must(t, err)
		if rep.Missing+rep.Corrupt != 0 {
			t.Fatalf("crash at op %d: check: %+v", k-before, rep)
		}
		must(t, e.Check(ctx))
		// Writing goes on where the registry says.
		b := switchBody(50, true)
		it, err := e.Append(ctx, acct, inbox, b, nil, date)
		must(t, err)
		onVolume(t, e, acct, it.ID, b, e.PrimaryName())
		must(t, e.Close())
	}
	if skipped > int(after-before)/20 {
		t.Fatalf("%d of %d crash points not reached", skipped, after-before)
	}
	t.Logf("%d crash points of the switch checked (%d past the end of a shorter run)", crashes, skipped)
}
