package oracle

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// Snap is the oracle's view of the source account after one record.
type Snap struct {
	At   time.Time
	Box  Mailbox  // nil: the account does not exist
	Subs []string // its subscribed names (engine.Subscriptions)
	What string
}

// History drives a random workload against one account, recording the
// account's state after every record it writes.
type History struct {
	R     *Rig
	Rnd   *rand.Rand
	Acct  uint64
	Snaps []Snap
	N     int
}

// Body makes the i-th random message: mostly small, one in twelve 70 KiB.
func (h *History) Body(i int) []byte {
	size := 40 + h.Rnd.IntN(400)
	if h.Rnd.IntN(12) == 0 {
		size = 70 << 10 // beyond the inline limit: the blob goes to the volume first
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: a%d@example.net\r\nSubject: message %d\r\n\r\n", h.Rnd.IntN(5), i)
	for b.Len() < size {
		fmt.Fprintf(&b, "line %d of message %d %x\r\n", b.Len(), i, h.Rnd.Uint64())
	}
	return []byte(b.String())
}

// Step runs op under a fresh clock tick and records the state if a record
// was written.
func (h *History) Step(what string, op func() error) {
	t := h.R.T
	t.Helper()
	d := time.Duration(1+h.Rnd.IntN(3)) * time.Nanosecond
	if h.Rnd.IntN(3) > 0 {
		d = time.Duration(h.Rnd.IntN(2000)) * time.Millisecond
	}
	h.R.Clk.Advance(d)
	before := h.R.Eng.LogLastLSN()
	err := op()
	after := h.R.Eng.LogLastLSN()
	if after > before+1 {
		h.onlySubscriptions(what, before+1, after)
	}
	if after == before {
		return
	}
	if err != nil {
		t.Fatalf("%s: wrote a record and failed: %v", what, err)
	}
	s := Snap{At: h.R.LastTime(), What: what}
	if _, gerr := h.R.Eng.GetAccount(ctx, h.Acct); gerr == nil {
		s.Box = Dump(t, h.R.Eng, h.Acct)
		subs, err := h.R.Eng.Subscriptions(ctx, h.Acct)
		if err != nil {
			t.Fatal(err)
		}
		s.Subs = subs
	}
	h.Snaps = append(h.Snaps, s)
}

// onlySubscriptions checks that the records [from, to) a step wrote before
// its last one are SubscriptionsChanged records. A rename or delete of a
// folder that carries its own subscription flag writes one first (the
// flag becomes a name); it changes neither the folders nor the list of
// subscribed names, so the state before the step holds until the last
// record and one snapshot per step stays exact.
func (h *History) onlySubscriptions(what string, from, to uint64) {
	t := h.R.T
	t.Helper()
	rd, err := h.R.Eng.ReadLog(from)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for lsn := from; lsn < to; lsn++ {
		rec, err := rd.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if event.Type(rec.Type) != event.TypeSubscriptionsChanged {
			t.Fatalf("%s wrote %d records, record %d a %v; the oracle needs one per step", what, to-from+1, rec.LSN, event.Type(rec.Type))
		}
	}
}

// SubscriptionsAt returns the oracle's subscribed names at t (nil when the
// account did not exist then).
func (h *History) SubscriptionsAt(t time.Time) []string {
	var cur []string
	for _, s := range h.Snaps {
		if s.At.After(t) {
			break
		}
		cur = s.Subs
	}
	return cur
}

// Folders lists the account's folders now.
func (h *History) Folders() []engine.Folder {
	fs, err := h.R.Eng.ListFolders(ctx, h.Acct)
	if err != nil {
		h.R.T.Fatal(err)
	}
	return fs
}

// PickFolder picks one of the account's folders at random.
func (h *History) PickFolder() engine.Folder {
	fs := h.Folders()
	return fs[h.Rnd.IntN(len(fs))]
}

// PickItems picks a random non-empty subset of f's items (nil when f is empty).
func (h *History) PickItems(f engine.Folder) []uint64 {
	items, err := h.R.Eng.ListItems(ctx, h.Acct, f.ID)
	if err != nil || len(items) == 0 {
		return nil
	}
	var out []uint64
	for _, it := range items {
		if h.Rnd.IntN(3) == 0 {
			out = append(out, it.ID)
		}
	}
	if len(out) == 0 {
		out = append(out, items[h.Rnd.IntN(len(items))].ID)
	}
	return out
}

// Keywords are the flags histories set.
var Keywords = []string{`\Seen`, `\Flagged`, `\Answered`, `\Deleted`, `$Label1`, `Work`}

// Flags picks a random set of Keywords.
func (h *History) Flags() []string {
	var out []string
	for _, k := range Keywords {
		if h.Rnd.IntN(4) == 0 {
			out = append(out, k)
		}
	}
	return out
}

// Run makes the account and applies n random operations; with del the
// account is deleted at the end.
func (h *History) Run(addr string, n int, del bool) {
	t := h.R.T
	e := h.R.Eng
	h.Step("create account", func() error {
		a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: addr, Password: "pw", Attrs: map[string]string{"displayName": "Src"}})
		h.Acct = a.ID
		return err
	})
	h.Ops(n)
	if del {
		h.Step("delete account", func() error { return e.DeleteAccount(ctx, h.Acct) })
	}
	if len(h.Snaps) < 2 {
		t.Fatalf("History wrote %d records", len(h.Snaps))
	}
}

// Ops applies n random operations to the account.
func (h *History) Ops(n int) {
	e := h.R.Eng
	for i := 0; i < n; i++ {
		h.N++
		switch k := h.Rnd.IntN(100); {
		case k < 25:
			h.Step("deliver", func() error {
				res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{h.Acct}, Body: h.Body(h.N), Flags: h.Flags(),
					InternalDate: h.R.Clk.Now().Add(-time.Duration(h.Rnd.IntN(1e6)) * time.Second)})
				if err == nil && res[0].Err != nil {
					err = res[0].Err
				}
				return err
			})
		case k < 38:
			f := h.PickFolder()
			h.Step("append", func() error {
				_, err := e.Append(ctx, h.Acct, f.ID, h.Body(h.N), h.Flags(), h.R.Clk.Now().Add(-time.Hour))
				return err
			})
		case k < 53:
			f := h.PickFolder()
			if ids := h.PickItems(f); ids != nil {
				op := engine.FlagOp(h.Rnd.IntN(3))
				h.Step("flags", func() error {
					_, err := e.StoreFlags(ctx, h.Acct, f.ID, ids, op, h.Flags(), 0)
					return err
				})
			}
		case k < 61, k < 69:
			f, g := h.PickFolder(), h.PickFolder()
			ids := h.PickItems(f)
			if ids == nil {
				continue
			}
			if k < 61 {
				if f.ID == g.ID {
					continue
				}
				h.Step("move", func() error { _, err := e.Move(ctx, h.Acct, f.ID, ids, g.ID); return err })
			} else {
				h.Step("copy", func() error { _, err := e.Copy(ctx, h.Acct, f.ID, ids, g.ID); return err })
			}
		case k < 79:
			f := h.PickFolder()
			if ids := h.PickItems(f); ids != nil {
				h.Step("expunge", func() error { _, err := e.Expunge(ctx, h.Acct, f.ID, ids); return err })
			}
		case k < 88:
			name := fmt.Sprintf("f%d", h.N)
			if p := h.PickFolder(); h.Rnd.IntN(2) == 0 && p.Path != "INBOX" {
				name = p.Path + "/" + name
			}
			h.Step("create folder", func() error { _, err := e.CreateFolder(ctx, h.Acct, name, ""); return err })
		case k < 94:
			f := h.PickFolder()
			if f.Path == "INBOX" {
				continue
			}
			np := fmt.Sprintf("r%d", h.N)
			if p := h.PickFolder(); h.Rnd.IntN(2) == 0 && p.Path != "INBOX" && !strings.HasPrefix(p.Path, f.Path) {
				np = p.Path + "/" + np
			}
			h.Step("rename folder", func() error { return e.RenameFolder(ctx, h.Acct, f.ID, np) })
		default:
			f := h.PickFolder()
			hasChild := false
			for _, g := range h.Folders() {
				if g.Parent == f.ID {
					hasChild = true
				}
			}
			if f.Path == "INBOX" || hasChild {
				continue
			}
			h.Step("delete folder", func() error { return e.DeleteFolder(ctx, h.Acct, f.ID) })
		}
	}
}

// At returns the oracle's state at t: ok false when the account did not
// exist then.
func (h *History) At(t time.Time) (Mailbox, bool) {
	var cur Mailbox
	for _, s := range h.Snaps {
		if s.At.After(t) {
			break
		}
		cur = s.Box
	}
	return cur, cur != nil
}

// Times picks n points: every record time exactly, one nanosecond on each
// side, and random points between, in random order.
func (h *History) Times(n int) []time.Time {
	var out []time.Time
	first, last := h.Snaps[0].At, h.Snaps[len(h.Snaps)-1].At
	for len(out) < n {
		s := h.Snaps[h.Rnd.IntN(len(h.Snaps))].At
		switch h.Rnd.IntN(4) {
		case 0:
			out = append(out, s)
		case 1:
			out = append(out, s.Add(-time.Nanosecond))
		case 2:
			out = append(out, s.Add(time.Nanosecond))
		default:
			span := last.Sub(first) + 2*time.Second
			out = append(out, first.Add(-time.Second+time.Duration(h.Rnd.Int64N(int64(span)))))
		}
	}
	return out
}
