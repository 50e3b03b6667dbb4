package restore

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// snap is the oracle's view of the source account after one record.
type snap struct {
	at   time.Time
	box  mailbox // nil: the account does not exist
	what string
}

// history drives a random workload against one account, recording the
// account's state after every record it writes.
type history struct {
	r     *rig
	rnd   *rand.Rand
	acct  uint64
	snaps []snap
	n     int
}

func (h *history) body(i int) []byte {
	size := 40 + h.rnd.IntN(400)
	if h.rnd.IntN(12) == 0 {
		size = 70 << 10 // beyond the inline limit: the blob goes to the volume first
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: a%d@example.net\r\nSubject: message %d\r\n\r\n", h.rnd.IntN(5), i)
	for b.Len() < size {
		fmt.Fprintf(&b, "line %d of message %d %x\r\n", b.Len(), i, h.rnd.Uint64())
	}
	return []byte(b.String())
}

// step runs op under a fresh clock tick and records the state if a record
// was written.
func (h *history) step(what string, op func() error) {
	t := h.r.t
	t.Helper()
	d := time.Duration(1+h.rnd.IntN(3)) * time.Nanosecond
	if h.rnd.IntN(3) > 0 {
		d = time.Duration(h.rnd.IntN(2000)) * time.Millisecond
	}
	h.r.clk.Advance(d)
	before := h.r.eng.Log().LastLSN()
	err := op()
	after := h.r.eng.Log().LastLSN()
	if after > before+1 {
		t.Fatalf("%s wrote %d records; the oracle needs one per step", what, after-before)
	}
	if after == before {
		return
	}
	if err != nil {
		t.Fatalf("%s: wrote a record and failed: %v", what, err)
	}
	s := snap{at: h.r.lastTime(), what: what}
	if _, gerr := h.r.eng.GetAccount(ctx, h.acct); gerr == nil {
		s.box = dump(t, h.r.eng, h.acct)
	}
	h.snaps = append(h.snaps, s)
}

func (h *history) folders() []engine.Folder {
	fs, err := h.r.eng.ListFolders(ctx, h.acct)
	if err != nil {
		h.r.t.Fatal(err)
	}
	return fs
}

func (h *history) pickFolder() engine.Folder {
	fs := h.folders()
	return fs[h.rnd.IntN(len(fs))]
}

func (h *history) pickItems(f engine.Folder) []uint64 {
	items, err := h.r.eng.ListItems(ctx, h.acct, f.ID)
	if err != nil || len(items) == 0 {
		return nil
	}
	var out []uint64
	for _, it := range items {
		if h.rnd.IntN(3) == 0 {
			out = append(out, it.ID)
		}
	}
	if len(out) == 0 {
		out = append(out, items[h.rnd.IntN(len(items))].ID)
	}
	return out
}

var keywords = []string{`\Seen`, `\Flagged`, `\Answered`, `\Deleted`, `$Label1`, `Work`}

func (h *history) flags() []string {
	var out []string
	for _, k := range keywords {
		if h.rnd.IntN(4) == 0 {
			out = append(out, k)
		}
	}
	return out
}

// run makes the account and applies n random operations; with del the
// account is deleted at the end.
func (h *history) run(addr string, n int, del bool) {
	t := h.r.t
	e := h.r.eng
	h.step("create account", func() error {
		a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: addr, Password: "pw", Attrs: map[string]string{"displayName": "Src"}})
		h.acct = a.ID
		return err
	})
	h.ops(n)
	if del {
		h.step("delete account", func() error { return e.DeleteAccount(ctx, h.acct) })
	}
	if len(h.snaps) < 2 {
		t.Fatalf("history wrote %d records", len(h.snaps))
	}
}

// ops applies n random operations to the account.
func (h *history) ops(n int) {
	e := h.r.eng
	for i := 0; i < n; i++ {
		h.n++
		switch k := h.rnd.IntN(100); {
		case k < 25:
			h.step("deliver", func() error {
				res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{h.acct}, Body: h.body(h.n), Flags: h.flags(),
					InternalDate: h.r.clk.Now().Add(-time.Duration(h.rnd.IntN(1e6)) * time.Second)})
				if err == nil && res[0].Err != nil {
					err = res[0].Err
				}
				return err
			})
		case k < 38:
			f := h.pickFolder()
			h.step("append", func() error {
				_, err := e.Append(ctx, h.acct, f.ID, h.body(h.n), h.flags(), h.r.clk.Now().Add(-time.Hour))
				return err
			})
		case k < 53:
			f := h.pickFolder()
			if ids := h.pickItems(f); ids != nil {
				op := engine.FlagOp(h.rnd.IntN(3))
				h.step("flags", func() error {
					_, err := e.StoreFlags(ctx, h.acct, f.ID, ids, op, h.flags(), 0)
					return err
				})
			}
		case k < 61, k < 69:
			f, g := h.pickFolder(), h.pickFolder()
			ids := h.pickItems(f)
			if ids == nil {
				continue
			}
			if k < 61 {
				if f.ID == g.ID {
					continue
				}
				h.step("move", func() error { _, err := e.Move(ctx, h.acct, f.ID, ids, g.ID); return err })
			} else {
				h.step("copy", func() error { _, err := e.Copy(ctx, h.acct, f.ID, ids, g.ID); return err })
			}
		case k < 79:
			f := h.pickFolder()
			if ids := h.pickItems(f); ids != nil {
				h.step("expunge", func() error { _, err := e.Expunge(ctx, h.acct, f.ID, ids); return err })
			}
		case k < 88:
			name := fmt.Sprintf("f%d", h.n)
			if p := h.pickFolder(); h.rnd.IntN(2) == 0 && p.Path != "INBOX" {
				name = p.Path + "/" + name
			}
			h.step("create folder", func() error { _, err := e.CreateFolder(ctx, h.acct, name, ""); return err })
		case k < 94:
			f := h.pickFolder()
			if f.Path == "INBOX" {
				continue
			}
			np := fmt.Sprintf("r%d", h.n)
			if p := h.pickFolder(); h.rnd.IntN(2) == 0 && p.Path != "INBOX" && !strings.HasPrefix(p.Path, f.Path) {
				np = p.Path + "/" + np
			}
			h.step("rename folder", func() error { return e.RenameFolder(ctx, h.acct, f.ID, np) })
		default:
			f := h.pickFolder()
			hasChild := false
			for _, g := range h.folders() {
				if g.Parent == f.ID {
					hasChild = true
				}
			}
			if f.Path == "INBOX" || hasChild {
				continue
			}
			h.step("delete folder", func() error { return e.DeleteFolder(ctx, h.acct, f.ID) })
		}
	}
}

// at returns the oracle's state at t: ok false when the account did not
// exist then.
func (h *history) at(t time.Time) (mailbox, bool) {
	var cur mailbox
	for _, s := range h.snaps {
		if s.at.After(t) {
			break
		}
		cur = s.box
	}
	return cur, cur != nil
}

// times picks n points: every record time exactly, one nanosecond on each
// side, and random points between, in random order.
func (h *history) times(n int) []time.Time {
	var out []time.Time
	first, last := h.snaps[0].at, h.snaps[len(h.snaps)-1].at
	for len(out) < n {
		s := h.snaps[h.rnd.IntN(len(h.snaps))].at
		switch h.rnd.IntN(4) {
		case 0:
			out = append(out, s)
		case 1:
			out = append(out, s.Add(-time.Nanosecond))
		case 2:
			out = append(out, s.Add(time.Nanosecond))
		default:
			span := last.Sub(first) + 2*time.Second
			out = append(out, first.Add(-time.Second+time.Duration(h.rnd.Int64N(int64(span)))))
		}
	}
	return out
}
