package engine

import (
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

var crashAll = flag.Bool("engine.crashall", false, "crash at every write of the crash workload (slow); default steps through a sample")

// crashFS counts mutating file-system operations and, at operation k,
// takes a crash clone of the underlying MemFS: exactly the synced state,
// as if power failed right before that operation.
type crashFS struct {
	mem   *vfs.MemFS
	n     atomic.Int64
	k     int64
	mu    sync.Mutex
	clone *vfs.MemFS
	onHit func()
}

func (c *crashFS) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	if c.n.Add(1) == c.k {
		c.mu.Lock()
		c.clone = c.mem.CrashClone(vfs.CrashCloneCfg{})
		if c.onHit != nil {
			c.onHit()
		}
		c.mu.Unlock()
	}
	return nil
}

func (c *crashFS) String() string { return "crashFS" }

// crashWorkload delivers (inline and blob-first), flags, moves and
// expunges, one command at a time, and after each acknowledged command
// records the expected mailbox picture. It stops early once stop reports
// true.
func crashWorkload(t *testing.T, e *Engine, stop func() bool, ack func(string)) {
	must(t, e.CreateDomain(ctx, "c.example"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "u@c.example"})
	must(t, err)
	inbox := inboxOf(t, e, a.ID)
	arch, err := e.CreateFolder(ctx, a.ID, "Archive", "")
	must(t, err)
	ack(crashPicture(t, e))
	for i := 0; i < 24 && !stop(); i++ {
		n := 100
		if i%3 == 0 {
			n = 2000 // above the test's inline limit: blob-first
		}
		body := []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s", i%5, strings.Repeat("x", n)))
		var err error
		switch i % 4 {
		case 0, 1:
			_, err = e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body, InternalDate: time.Unix(1e9, 0)})
		case 2:
			items, _ := e.ListItems(ctx, a.ID, inbox.ID)
			if len(items) > 0 {
				_, err = e.StoreFlags(ctx, a.ID, inbox.ID, []uint64{items[0].ID}, FlagsAdd, []string{`\Seen`, `\Deleted`}, 0)
				if err == nil {
					ack(crashPicture(t, e))
					_, err = e.Move(ctx, a.ID, inbox.ID, []uint64{items[len(items)-1].ID}, arch.ID)
				}
			}
		case 3:
			_, err = e.Expunge(ctx, a.ID, inbox.ID, nil)
			if err == nil {
				ack(crashPicture(t, e))
				err = e.Checkpoint(ctx)
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		ack(crashPicture(t, e))
	}
}

// crashPicture is the mailbox state as a string: every item with its
// folder, UID, flags and content check.
func crashPicture(t *testing.T, e *Engine) string {
	accts, err := e.ListAccounts(ctx, "")
	if err != nil || len(accts) == 0 {
		return ""
	}
	return mailboxDump(t, e)
}

func TestCrashAtEveryWrite(t *testing.T) {
	opts := func(fs vfs.FS) *Options {
		o := testOptions(fs)
		o.InlineBlobMax = 1024
		return o
	}
	// Dry run: count the operations.
	probe := &crashFS{mem: vfs.NewCrashableMem(), k: -1}
	e, err := Open("data", opts(errorfs.Wrap(probe.mem, probe)))
	must(t, err)
	crashWorkload(t, e, func() bool { return false }, func(string) {})
	must(t, e.Close())
	total := probe.n.Load()
	step := int64(1)
	if !*crashAll {
		step = total/400 + 1
		if testing.Short() {
			step = total/30 + 1
		}
	}
	t.Logf("%d write operations, crashing at every %d", total, step)
	crashes := 0
	defer func() { t.Logf("%d crash points checked", crashes) }()
	for k := int64(1); k <= total; k += step {
		cfs := &crashFS{mem: vfs.NewCrashableMem(), k: k}
		var acked []string
		var mu sync.Mutex
		var hitAcked int = -1
		cfs.onHit = func() {
			mu.Lock()
			hitAcked = len(acked)
			mu.Unlock()
		}
		e, err := Open("data", opts(errorfs.Wrap(cfs.mem, cfs)))
		if err == nil {
			stop := func() bool {
				// Lock order as in MaybeError: cfs.mu, then mu.
				cfs.mu.Lock()
				defer cfs.mu.Unlock()
				mu.Lock()
				defer mu.Unlock()
				return cfs.clone != nil && len(acked) > hitAcked+1
			}
			crashWorkload(t, e, stop, func(p string) {
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
			})
			e.Close()
		}
		if cfs.clone == nil {
			// Pebble's background work makes the count vary by a few
			// operations between runs; the last points may not come.
			if k < total*9/10 {
				t.Fatalf("k=%d: crash point not reached", k)
			}
			continue
		}
		crashes++
		// Reopen the crashed state.
		e2, err := Open("data", opts(cfs.clone))
		if err != nil {
			t.Fatalf("k=%d: reopen after crash: %v", k, err)
		}
		if err := e2.Check(ctx); err != nil {
			t.Fatalf("k=%d: check after crash: %v", k, err)
		}
		// Inline copies are written without fsync until a checkpoint:
		// recovery must have repaired any the crash lost or tore.
		checkBlobCopies(t, e2)
		got := crashPicture(t, e2)
		// Everything acknowledged before the crash must be there; the one
		// command in flight may or may not have happened.
		var allowed []string
		if hitAcked > 0 {
			allowed = append(allowed, acked[hitAcked-1])
		} else {
			allowed = append(allowed, "")
		}
		if hitAcked < len(acked) {
			allowed = append(allowed, acked[hitAcked])
		}
		okState := false
		for _, a := range allowed {
			if got == a {
				okState = true
			}
		}
		if !okState {
			sort.Strings(allowed)
			t.Fatalf("k=%d (acked %d): state after crash\n%s\nnot one of\n%s", k, hitAcked, got, strings.Join(allowed, "\n----\n"))
		}
		must(t, e2.Close())
	}
}
