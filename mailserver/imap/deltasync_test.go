package imap

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
)

var fetchUIDFlags = regexp.MustCompile(`^\* (\d+) FETCH \(.*UID (\d+).*FLAGS \(([^)]*)\)`)

// viewOf returns a session's view as "seq:uid:flags" lines from FETCH 1:*
// (UID FLAGS), \Recent left out and flags sorted, and every line of the
// response that is not such a FETCH.
func viewOf(r *rawConn) (view, other []string) {
	for _, l := range r.cmd("FETCH 1:* (UID FLAGS)") {
		m := fetchUIDFlags.FindStringSubmatch(l)
		if m == nil {
			other = append(other, l)
			continue
		}
		var flags []string
		for _, f := range strings.Fields(m[3]) {
			if f != `\Recent` {
				flags = append(flags, strings.ToLower(f))
			}
		}
		slices.Sort(flags)
		view = append(view, fmt.Sprintf("%s:%s:%v", m[1], m[2], flags))
	}
	return view, other
}

// engineView is the folder as the engine has it, in viewOf's form.
func engineView(t *testing.T, eng *engine.Engine, acct, folder uint64) []string {
	t.Helper()
	items, err := eng.ListItems(context.Background(), acct, folder)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, it := range items {
		var flags []string
		for _, f := range it.Flags {
			flags = append(flags, strings.ToLower(f))
		}
		slices.Sort(flags)
		out = append(out, fmt.Sprintf("%d:%d:%v", i+1, it.UID, flags))
	}
	return out
}

func countPrefix(lines []string, re *regexp.Regexp) int {
	n := 0
	for _, l := range lines {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

// Two selected sessions, one with QRESYNC, follow a random history made
// by others (flag changes, expunges, appends, moves within the folder and
// out of it, copies in, and their own STOREs and EXPUNGEs): after NOOP
// each one's view equals the folder, every message that left was
// reported once (EXPUNGE, or VANISHED under QRESYNC), and a FETCH, which
// may not report expunges, reports none; the NOOP after it does.
func TestSyncFollowsOtherSessions(t *testing.T) {
	env := newEnv(t, nil)
	a := env.account("alice@example.com", 0)
	ctx := context.Background()
	inbox, err := env.eng.FolderByPath(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	other, err := env.eng.CreateFolder(ctx, a.ID, "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if _, err := env.eng.Append(ctx, a.ID, inbox.ID, testMessage(i, "start"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	plain, qr := env.raw(), env.raw()
	for _, r := range []*rawConn{plain, qr} {
		r.cmd("LOGIN alice@example.com %s", testPassword)
	}
	qr.cmd("ENABLE QRESYNC")
	plain.cmd("SELECT INBOX")
	qr.cmd("SELECT INBOX")
	expungeRe := regexp.MustCompile(`^\* \d+ EXPUNGE`)
	vanishedRe := regexp.MustCompile(`^\* VANISHED (\S+)`)
	vanishedCount := func(lines []string) int {
		n := 0
		for _, l := range lines {
			if m := vanishedRe.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
				for _, part := range strings.Split(m[1], ",") {
					var lo, hi int
					if _, err := fmt.Sscanf(part, "%d:%d", &lo, &hi); err == nil {
						n += hi - lo + 1
					} else {
						n++
					}
				}
			}
		}
		return n
	}
	rng := rand.New(rand.NewPCG(7, 11))
	known := len(engineView(t, env.eng, a.ID, inbox.ID)) // messages both views hold
	for step := 0; step < 30; step++ {
		items, err := env.eng.ListItems(ctx, a.ID, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		pick := func(n int) []uint64 {
			var ids []uint64
			for _, i := range rng.Perm(len(items))[:min(n, len(items))] {
				ids = append(ids, items[i].ID)
			}
			return ids
		}
		before := map[uint32]bool{} // UIDs both views hold
		for _, it := range items {
			before[it.UID] = true
		}
		removed := 0 // of those, how many leave (only an estimate for STORE's bound)
		for k := 0; k < 3; k++ {
			switch rng.IntN(6) {
			case 0:
				_, err = env.eng.StoreFlags(ctx, a.ID, inbox.ID, pick(4), engine.FlagsAdd, []string{`\Seen`, fmt.Sprint("kw", rng.IntN(4))}, 0)
			case 1:
				ids := pick(2)
				_, err = env.eng.Expunge(ctx, a.ID, inbox.ID, ids)
				removed += len(ids)
			case 2:
				_, err = env.eng.Append(ctx, a.ID, inbox.ID, testMessage(100+step, "new"), []string{`\Flagged`}, time.Time{})
			case 3:
				to := other.ID
				if rng.IntN(2) == 0 {
					to = inbox.ID
				}
				_, err = env.eng.Move(ctx, a.ID, inbox.ID, pick(1), to)
				removed++
			case 4:
				o, lerr := env.eng.ListItems(ctx, a.ID, other.ID)
				if lerr == nil && len(o) > 0 {
					_, err = env.eng.Copy(ctx, a.ID, other.ID, []uint64{o[0].ID}, inbox.ID)
				}
			case 5:
				// The plain session's own changes, which it hears back
				// only as what it already told the client.
				plain.cmd("STORE %d +FLAGS.SILENT (\\Answered)", 1+rng.IntN(max(1, known-removed)))
			}
			if err != nil {
				t.Fatal(err)
			}
			items, _ = env.eng.ListItems(ctx, a.ID, inbox.ID)
		}
		removed = 0
		for _, it := range items {
			delete(before, it.UID)
		}
		removed = len(before)
		if step%3 == 0 && removed > 0 {
			// FETCH may not report expunges (RFC 9051 section 7.5.1).
			_, lines := viewOf(plain)
			if n := countPrefix(lines, expungeRe); n != 0 {
				t.Fatalf("step %d: FETCH reported %d expunges: %q", step, n, lines)
			}
		}
		pl := plain.cmd("NOOP")
		ql := qr.cmd("NOOP")
		if n := countPrefix(pl, expungeRe); n != removed {
			t.Fatalf("step %d: plain session got %d EXPUNGE, want %d: %q", step, n, removed, pl)
		}
		if n := vanishedCount(ql); n != removed || countPrefix(ql, expungeRe) != 0 {
			t.Fatalf("step %d: QRESYNC session got %d vanished UIDs, want %d: %q", step, n, removed, ql)
		}
		want := engineView(t, env.eng, a.ID, inbox.ID)
		for name, r := range map[string]*rawConn{"plain": plain, "qresync": qr} {
			got, _ := viewOf(r)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: %s view\n%v\nwant\n%v", step, name, got, want)
			}
		}
		if step%5 == 4 {
			// The session's own expunge.
			plain.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
			if n := countPrefix(plain.cmd("EXPUNGE"), expungeRe); n < 1 {
				t.Fatalf("step %d: own EXPUNGE reported nothing", step)
			}
			if n := vanishedCount(qr.cmd("NOOP")); n < 1 {
				t.Fatalf("step %d: QRESYNC session missed the other's EXPUNGE", step)
			}
		}
		known = len(engineView(t, env.eng, a.ID, inbox.ID))
	}
}
