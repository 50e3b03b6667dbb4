package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/packvol"
)

// TestPrimaryLayout: a new data directory gets the configured layout; an
// existing one keeps its own whatever the option says.
func TestPrimaryLayout(t *testing.T) {
	fs := vfs.NewMem()
	o := testOptions(fs)
	o.PrimaryLayout = LayoutLocal
	e, err := Open("old", o)
	must(t, err)
	must(t, e.CreateDomain(ctx, "l.example"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "u@l.example"})
	must(t, err)
	res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: []byte("Subject: x\r\n\r\nold layout"), InternalDate: time.Unix(1e9, 0)})
	must(t, err)
	must(t, res[0].Err)
	must(t, e.Close())

	e, err = Open("old", testOptions(fs)) // default layout: packvol
	must(t, err)
	if _, ok := e.prim().vol.(*localvol.Volume); !ok {
		t.Fatalf("existing one-file-per-blob directory opened as %T", e.prim().vol)
	}
	got, err := e.ReadBlobRange(ctx, a.ID, res[0].Item.ID, 0, -1)
	must(t, err)
	if string(got) != "Subject: x\r\n\r\nold layout" {
		t.Fatalf("read %q", got)
	}
	must(t, e.Check(ctx))
	must(t, e.Close())

	e, err = Open("new", testOptions(fs))
	must(t, err)
	if _, ok := e.prim().vol.(*packvol.Volume); !ok {
		t.Fatalf("new directory opened as %T", e.prim().vol)
	}
	must(t, e.Close())

	o = testOptions(fs)
	o.PrimaryLayout = "bogus"
	if _, err := Open("other", o); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown layout: %v", err)
	}
}

// TestPackPrimaryCrash delivers inline messages to a pack primary, lets
// the copies reach the packs unsynced, crashes keeping a random part of
// the unsynced bytes, and checks that recovery rewrites what was lost.
func TestPackPrimaryCrash(t *testing.T) {
	for _, pct := range []int{0, 50, 100} {
		t.Run(fmt.Sprint(pct), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			e, err := Open("data", inlineOpts(fs))
			must(t, err)
			must(t, e.CreateDomain(ctx, "p.example"))
			a, err := e.CreateAccount(ctx, AccountSpec{Address: "u@p.example"})
			must(t, err)
			must(t, e.Checkpoint(ctx))
			for i := range 40 {
				body := fmt.Appendf(nil, "Subject: %d\r\n\r\n%s", i, strings.Repeat("p", 50+i))
				res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body, InternalDate: time.Unix(1e9, 0)})
				must(t, err)
				must(t, res[0].Err)
			}
			want := mailboxDump(t, e)
			must(t, e.copies.barrier())
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(3, uint64(pct)))})
			must(t, e.Close())
			e2, err := Open("data", inlineOpts(crashed))
			must(t, err)
			must(t, e2.Check(ctx))
			checkBlobCopies(t, e2)
			if got := mailboxDump(t, e2); got != want {
				t.Fatalf("after crash:\n%s\nwant\n%s", got, want)
			}
			must(t, e2.Close())
		})
	}
}
