package imap

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// recorder collects unsolicited responses seen by an imapclient.
type recorder struct {
	mu      sync.Mutex
	exists  []uint32
	expunge []uint32
	flags   map[uint32][]imap.Flag
	kick    chan struct{}
}

func newRecorder() *recorder {
	return &recorder{flags: make(map[uint32][]imap.Flag), kick: make(chan struct{}, 100)}
}

func (r *recorder) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			r.mu.Lock()
			r.expunge = append(r.expunge, seq)
			r.mu.Unlock()
			r.kick <- struct{}{}
		},
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				r.mu.Lock()
				r.exists = append(r.exists, *d.NumMessages)
				r.mu.Unlock()
				r.kick <- struct{}{}
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.flags[buf.SeqNum] = buf.Flags
			r.mu.Unlock()
			r.kick <- struct{}{}
		},
	}
}

// waitFor polls cond until it holds; the deadline only bounds a hang.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.kick:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestMultiSessionNotifications(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	a := env.login("alice@example.com", nil)
	for i := 1; i <= 3; i++ {
		appendMsg(t, a, "INBOX", testMessage(i, "x"), nil)
	}
	rec := newRecorder()
	b := env.login("alice@example.com", rec.handler())
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	// A flags and expunges message 1 and appends one; B learns at NOOP.
	if _, err := a.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, a, "INBOX", testMessage(4, "x"), nil)
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "EXPUNGE 1, EXISTS 3 and FLAGS of message 2", func() bool {
		return len(rec.expunge) == 1 && rec.expunge[0] == 1 && len(rec.exists) > 0 && rec.exists[len(rec.exists)-1] == 3 &&
			strings.Contains(flagStrings(rec.flags[1]), `\Flagged`)
	})
	if n := b.Mailbox().NumMessages; n != 3 {
		t.Errorf("B's mailbox has %d messages, want 3", n)
	}
	// B's sequence numbers are consistent with A's after the expunge.
	msgs, err := b.Fetch(imap.SeqSetNum(3), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 4 {
		t.Fatalf("B FETCH 3 = %+v %v, want UID 4", msgs, err)
	}

	// IDLE pushes changes without a command.
	idle, err := b.Idle()
	if err != nil {
		t.Fatal(err)
	}
	appendMsg(t, a, "INBOX", testMessage(5, "x"), nil)
	rec.waitFor(t, "EXISTS 4 during IDLE", func() bool { return rec.exists[len(rec.exists)-1] == 4 })
	if _, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "EXPUNGE during IDLE", func() bool { return len(rec.expunge) == 2 })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestKeywordFlagsAnnounced checks that a FETCH carrying a keyword the
// session has not been told about is preceded by an untagged FLAGS, and
// that system flags come back in canonical case.
func TestKeywordFlagsAnnounced(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	a := env.login("alice@example.com", nil)
	appendMsg(t, a, "INBOX", testMessage(1, "x"), nil)

	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	// Own STORE with a new keyword, before any other command.
	out := r.cmd(`STORE 1 +FLAGS (\sEEn $Important)`)
	if len(out) < 3 || !strings.HasPrefix(out[0], "* FLAGS (") || !strings.Contains(out[0], "$Important") ||
		!strings.Contains(out[1], "FETCH") || !strings.Contains(out[1], `\Seen`) || strings.Contains(out[1], `\sEEn`) {
		t.Fatalf("STORE with new keyword:\n%s", strings.Join(out, ""))
	}
	// Another session's keyword arrives at NOOP, FLAGS first.
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"ProjectX"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	r.waitLines(t, func() bool {
		lines = r.cmd("NOOP")
		return strings.Contains(strings.Join(lines, ""), "ProjectX")
	})
	fi, ei := -1, -1
	for i, l := range lines {
		if strings.HasPrefix(l, "* FLAGS") && strings.Contains(l, "ProjectX") {
			fi = i
		}
		if strings.Contains(l, "FETCH") && strings.Contains(l, "ProjectX") {
			ei = i
		}
	}
	if fi < 0 || ei < 0 || fi > ei {
		t.Fatalf("want FLAGS before FETCH:\n%s", strings.Join(lines, ""))
	}
}

// waitLines retries f (which sends a command) until it reports success.
func (r *rawConn) waitLines(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
