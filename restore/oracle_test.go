package restore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestAccountAtMatchesOracle restores random histories into new accounts at
// many points in time (record times exactly and one nanosecond around them)
// and compares folders, item order, flags, internal dates and bytes with
// the engine's own state recorded after each record.
func TestAccountAtMatchesOracle(t *testing.T) {
	trials := *trialsFlag
	if trials == 0 {
		trials = 300
		if testing.Short() {
			trials = 60
		}
	}
	const perHistory = 50
	histories := (trials + perHistory - 1) / perHistory
	done := 0
	for hi := 0; hi < histories; hi++ {
		t.Run(fmt.Sprintf("history%d", hi), func(t *testing.T) {
			seed := uint64(1000 + hi)
			r := newRig(t, vfs.NewMem(), "h", nil)
			h := &history{R: r, Rnd: rand.New(rand.NewPCG(seed, 7))}
			h.Run("src@example.org", 70, hi%2 == 1)
			r.Sync()
			rs := restorerOf(r)
			n := min(perHistory, trials-done)
			compared, items := 0, 0
			for i, at := range h.Times(n) {
				want, exists := h.At(at)
				into := fmt.Sprintf("r%d-%d@example.org", hi, i)
				rep, err := rs.Account(ctx, h.Acct, at, into, AccountOptions{HideInGAL: true})
				if !exists {
					if !errors.Is(err, ErrNotInBackup) {
						t.Fatalf("seed %d at %s: account absent in oracle, restore gave %v", seed, at.Format(time.RFC3339Nano), err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("seed %d at %s: %v", seed, at.Format(time.RFC3339Nano), err)
				}
				if rep.Unrestored != 0 {
					t.Fatalf("seed %d: unrestored items: %s", seed, rep)
				}
				got := dump(t, r.Eng, rep.Accounts[0].Target)
				if d := diff(want, got); d != "" {
					t.Fatalf("seed %d at %s: %s", seed, at.Format(time.RFC3339Nano), d)
				}
				compared++
				items += rep.Restored
				a, err := r.Eng.GetAccount(ctx, rep.Accounts[0].Target)
				if err != nil || !a.HideInGAL || a.Attrs["displayName"] != "Src" {
					t.Fatalf("restored account %+v %v", a, err)
				}
			}
			done += n
			t.Logf("%d records, %d restores compared, %d items restored", len(h.Snaps), compared, items)
			if compared == 0 || items == 0 {
				t.Fatal("nothing was compared")
			}
			// The source is untouched by all of this.
			if last, ok := h.At(Latest); ok {
				if d := diff(last, dump(t, r.Eng, h.Acct)); d != "" {
					t.Fatalf("source changed: %s", d)
				}
			}
		})
	}
}
