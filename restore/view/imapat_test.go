package view

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/restore/internal/oracle"
)

// TestIMAPAtLogin: USER+at=TIME with the user's password opens the whole
// account as the oracle had it at TIME (LIST, every folder's messages),
// read-only; a wrong password, a time before the account and a bad time
// are refused.
func TestIMAPAtLogin(t *testing.T) {
	r := oracle.NewRig(t, vfs.NewMem(), "a", nil)
	h := &oracle.History{R: r, Rnd: rand.New(rand.NewPCG(41, 4))}
	h.Run("src@example.org", 70, false)
	r.Sync()
	r.Clk.Advance(2 * time.Second)
	addr := serveIMAP(t, r, service(r, nil))
	for _, at := range []time.Time{h.Snaps[len(h.Snaps)/3].At, h.Snaps[len(h.Snaps)*2/3].At.Add(time.Nanosecond)} {
		want, ok := h.At(at)
		if !ok {
			t.Fatal("oracle has no account")
		}
		c := login(t, addr, "src@example.org+at="+at.UTC().Format(time.RFC3339Nano))
		l, err := c.List("", "*", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got, wantNames []string
		for _, d := range l {
			got = append(got, d.Mailbox)
		}
		for p := range want {
			wantNames = append(wantNames, p)
		}
		sort.Strings(got)
		sort.Strings(wantNames)
		if strings.Join(got, ",") != strings.Join(wantNames, ",") {
			t.Fatalf("LIST at %s: %v, want %v", stamp(at), got, wantNames)
		}
		for p, wmsgs := range want {
			msgs, _, _ := fetchAll(t, c, p)
			w := make([]oracle.Msg, len(wmsgs))
			for i, m := range wmsgs {
				m.Date = time.Unix(0, m.Date).Truncate(time.Second).UnixNano()
				w[i] = m
			}
			if d := oracle.Diff(oracle.Mailbox{p: w}, oracle.Mailbox{p: msgs}); d != "" {
				t.Fatalf("at %s: %s", stamp(at), d)
			}
		}
		if err := c.Create("New", nil).Wait(); err == nil {
			t.Fatal("CREATE in a point-in-time session")
		}
		ap := c.Append("INBOX", 5, nil)
		ap.Write([]byte("x\r\n\r\n"))
		ap.Close()
		if _, err := ap.Wait(); err == nil {
			t.Fatal("APPEND in a point-in-time session")
		}
	}
	for _, bad := range []struct{ user, pw string }{
		{"src@example.org+at=" + h.Snaps[1].At.UTC().Format(time.RFC3339Nano), "wrong"},
		{"src@example.org+at=2020-01-01T00:00:00Z", "pw"},
		{"src@example.org+at=someday", "pw"},
	} {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(bad.user, bad.pw).Wait(); err == nil {
			t.Errorf("login %s / %s accepted", bad.user, bad.pw)
		}
		c.Close()
	}
}
