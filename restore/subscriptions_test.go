package restore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine"
)

// subscriptionHistory is a random history with subscription changes in
// it: names without a folder subscribed and unsubscribed, starting folders
// unsubscribed, folders subscribed then renamed and deleted (their names
// stay subscribed).
func subscriptionHistory(t *testing.T, seed uint64) (*rig, *history) {
	r := newRig(t, vfs.NewMem(), "h", nil)
	h := &history{R: r, Rnd: rand.New(rand.NewPCG(seed, 11))}
	e := r.Eng
	h.Run("src@example.org", 20, false)
	sub := func(on bool, names ...string) {
		h.Step("subscriptions", func() error { return e.SetSubscriptions(ctx, h.Acct, names, on) })
	}
	sub(true, "Lists/go-nuts", "Later")
	h.Ops(15)
	sub(false, "Later", "Sent")
	h.Step("create folder", func() error { _, err := e.CreateFolder(ctx, h.Acct, "Keep", ""); return err })
	sub(true, "Keep")
	h.Ops(15)
	if f, err := e.FolderByPath(ctx, h.Acct, "Keep"); err == nil {
		h.Step("rename folder", func() error { return e.RenameFolder(ctx, h.Acct, f.ID, "Kept") })
	}
	if f, err := e.FolderByPath(ctx, h.Acct, "Drafts"); err == nil {
		h.Step("delete folder", func() error { return e.DeleteFolder(ctx, h.Acct, f.ID) })
	}
	sub(true, "INBOX/Later")
	h.Ops(15)
	r.Sync()
	return r, h
}

// TestAccountSubscriptionsAtMatchOracle: restore account as of many
// points in time gives the new account the subscribed names the source
// had then, names without a folder included.
func TestAccountSubscriptionsAtMatchOracle(t *testing.T) {
	for _, seed := range []uint64{21, 22} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r, h := subscriptionHistory(t, seed)
			rs := restorerOf(r)
			compared, nonexistent := 0, 0
			for i, at := range h.Times(40) {
				want, exists := h.At(at)
				if !exists {
					continue
				}
				into := fmt.Sprintf("s%d-%d@example.org", seed, i)
				rep, err := rs.Account(ctx, h.Acct, at, into, AccountOptions{HideInGAL: true})
				if err != nil {
					t.Fatalf("at %s: %v", at.Format(time.RFC3339Nano), err)
				}
				target := rep.Accounts[0].Target
				if d := diff(want, dump(t, r.Eng, target)); d != "" {
					t.Fatalf("at %s: %s", at.Format(time.RFC3339Nano), d)
				}
				got, err := r.Eng.Subscriptions(ctx, target)
				if err != nil {
					t.Fatal(err)
				}
				wantSubs := h.SubscriptionsAt(at)
				if !slices.Equal(got, wantSubs) {
					t.Fatalf("at %s: subscriptions %q, want %q", at.Format(time.RFC3339Nano), got, wantSubs)
				}
				for _, n := range wantSubs {
					if _, ok := want[n]; !ok {
						nonexistent++
					}
				}
				compared++
			}
			if compared == 0 || nonexistent == 0 {
				t.Fatalf("%d restores compared, %d subscribed names without a folder among them", compared, nonexistent)
			}
			// In place, back to the start of the history and to its end.
			for _, at := range []time.Time{h.Snaps[1].At, h.Snaps[len(h.Snaps)-1].At} {
				if _, err := rs.InPlace(ctx, h.Acct, at); err != nil {
					t.Fatal(err)
				}
				got, err := r.Eng.Subscriptions(ctx, h.Acct)
				if err != nil {
					t.Fatal(err)
				}
				if want := h.SubscriptionsAt(at); !slices.Equal(got, want) {
					t.Fatalf("in place at %s: subscriptions %q, want %q", at.Format(time.RFC3339Nano), got, want)
				}
			}
		})
	}
}

// TestServerSubscriptionsAt: a whole-server restore as of a time gives
// every account the subscriptions it had then.
func TestServerSubscriptionsAt(t *testing.T) {
	r, h := subscriptionHistory(t, 23)
	for i, snap := range []int{len(h.Snaps) / 2, len(h.Snaps) - 1} {
		at := h.Snaps[snap].At
		dir := filepath.Join(t.TempDir(), fmt.Sprint(i))
		if _, err := Server(ctx, r.Repo, dir, &ServerOptions{Logger: quiet, At: at}); err != nil {
			t.Fatal(err)
		}
		eng, err := engine.Open(dir, &engine.Options{Logger: quiet, CheckpointInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := eng.Subscriptions(ctx, h.Acct)
		eng.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := h.SubscriptionsAt(at); !slices.Equal(got, want) {
			t.Fatalf("server as of %s: subscriptions %q, want %q", at.Format(time.RFC3339Nano), got, want)
		}
	}
}
