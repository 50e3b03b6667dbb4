package restore

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/tidemark/tidemark/engine"
	imapserver "github.com/tidemark/tidemark/mailserver/imap"
	"github.com/tidemark/tidemark/mailserver/lmtp"
)

// TestAccountRestoreUnderLiveTraffic restores an account at many points in
// time on a live engine while LMTP delivers to other accounts over
// 127.0.0.1, IMAP sessions on those accounts and on the source account
// poll their mailboxes, and the scanner ships all of it: every restore
// matches the oracle, every acknowledged delivery is in its mailbox, the
// sessions see no error, the source is untouched and the restored
// accounts are backed up in turn.
func TestAccountRestoreUnderLiveTraffic(t *testing.T) {
	r := newRig(t, vfs.NewMem(), "live", nil)
	h := &history{R: r, Rnd: rand.New(rand.NewPCG(4242, 7))}
	h.Run("src@example.org", 60, false)
	r.Sync()
	e := r.Eng
	busy := []string{"busy1@example.org", "busy2@example.org"}
	for _, a := range busy {
		if _, err := e.CreateAccount(ctx, engine.AccountSpec{Address: a, Password: "pw"}); err != nil {
			t.Fatal(err)
		}
	}

	ls := lmtp.NewServer(e, &lmtp.Options{Hostname: "live.test", Logger: quiet})
	ll, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ls.Serve(ll)
	defer ls.Close()
	is := imapserver.NewServer(e, &imapserver.Options{AllowInsecureAuth: true, Logger: quiet})
	il, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go is.Serve(il)
	defer is.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, a ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	acked := make([]atomic.Int64, len(busy))
	for i, rcpt := range busy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := deliverUntil(ll.Addr().String(), rcpt, stop, &acked[i]); err != nil {
				fail("lmtp to %s after %d messages: %v", rcpt, acked[i].Load(), err)
			}
		}()
	}
	polls := make([]atomic.Int64, 2)
	for i, user := range []string{busy[0], "src@example.org"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pollMailbox(il.Addr().String(), user, stop, &polls[i]); err != nil {
				fail("imap session of %s after %d polls: %v", user, polls[i].Load(), err)
			}
		}()
	}

	// The restores start once every delivery and session is under way.
	for deadline := time.Now().Add(10 * time.Second); acked[0].Load() == 0 || acked[1].Load() == 0 ||
		polls[0].Load() == 0 || polls[1].Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("traffic did not start: %v", failures)
		}
	}
	rs := restorerOf(r)
	var targets []string
	compared := 0
	for i, at := range h.Times(12) {
		want, exists := h.At(at)
		if !exists {
			continue
		}
		into := fmt.Sprintf("live%d@example.org", i)
		rep, err := rs.Account(ctx, h.Acct, at, into, AccountOptions{})
		if err != nil || rep.Unrestored != 0 {
			close(stop)
			wg.Wait()
			t.Fatalf("restore at %s: %v (%s)", at, err, rep)
		}
		if d := diff(want, dump(t, e, rep.Accounts[0].Target)); d != "" {
			close(stop)
			wg.Wait()
			t.Fatalf("restore at %s under traffic: %s", at, d)
		}
		targets = append(targets, into)
		compared++
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if compared < 3 {
		t.Fatalf("only %d restores compared", compared)
	}
	for i, rcpt := range busy {
		a, err := e.LookupAccount(ctx, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		items, err := e.ListItems(ctx, a.ID, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := acked[i].Load(); n == 0 || int64(len(items)) < n {
			t.Fatalf("%s: %d acknowledged deliveries, %d in INBOX", rcpt, n, len(items))
		}
	}
	if polls[0].Load() == 0 || polls[1].Load() == 0 {
		t.Fatalf("IMAP sessions polled %d and %d times", polls[0].Load(), polls[1].Load())
	}
	if last, ok := h.At(Latest); !ok || diff(last, dump(t, e, h.Acct)) != "" {
		t.Fatalf("source changed under the restores: %s", diff(last, dump(t, e, h.Acct)))
	}
	// The restored accounts are backed up like any other.
	r.Sync()
	for _, into := range targets {
		if _, err := r.Cat.FindAccount(ctx, into, Latest); err != nil {
			t.Fatalf("restored account %s not in the backup: %v", into, err)
		}
	}
	t.Logf("%d restores compared while %d and %d messages were delivered and IMAP polled %d and %d times",
		compared, acked[0].Load(), acked[1].Load(), polls[0].Load(), polls[1].Load())
}

// deliverUntil delivers messages to rcpt over one LMTP connection until
// stop closes, counting those acknowledged in count.
func deliverUntil(addr, rcpt string, stop <-chan struct{}, count *atomic.Int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("live"); err != nil {
		return err
	}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return c.Quit()
		default:
		}
		if err := c.Mail("sender@example.net", nil); err != nil {
			return err
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		body := fmt.Sprintf("From: sender@example.net\r\nTo: %s\r\nSubject: live %d\r\n\r\n%s\r\n", rcpt, n, strings.Repeat("traffic ", 40+n%200))
		if _, err := w.Write([]byte(body)); err != nil {
			return err
		}
		if _, err := w.CloseWithLMTPResponse(); err != nil {
			return err
		}
		count.Add(1)
	}
}

// pollMailbox keeps an IMAP session on user's INBOX until stop closes:
// NOOP, then a FETCH of every message's flags and size, counting the
// rounds in count.
func pollMailbox(addr, user string, stop <-chan struct{}, count *atomic.Int64) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user, "pw").Wait(); err != nil {
		return err
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return c.Logout().Wait()
		default:
		}
		if err := c.Noop().Wait(); err != nil {
			return err
		}
		var all imap.SeqSet
		all.AddRange(1, 0)
		if _, err := c.Fetch(all, &imap.FetchOptions{Flags: true, RFC822Size: true}).Collect(); err != nil &&
			!strings.Contains(err.Error(), "No matching messages") {
			return err
		}
		count.Add(1)
	}
}
