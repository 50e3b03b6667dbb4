package view

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/mailserver/imap"
	"github.com/tidemark/tidemark/restore/internal/oracle"
)

// imapRouter adapts Router to the IMAP layer's SourceRouter, as the
// server's composition root does.
type imapRouter struct{ r *Router }

func (x imapRouter) Route(ctx context.Context, acct uint64, name string) (imap.Source, error) {
	src, err := x.r.Route(ctx, acct, name)
	if src == nil {
		return nil, err
	}
	return src, err
}

func (x imapRouter) Namespace(ctx context.Context, acct uint64) string {
	return x.r.Namespace(ctx, acct)
}

func (x imapRouter) List(ctx context.Context, acct uint64, patterns []string) ([]imap.ListedMailbox, error) {
	names, err := x.r.List(ctx, acct, patterns)
	out := make([]imap.ListedMailbox, len(names))
	for i, n := range names {
		out[i] = imap.ListedMailbox{Name: n.Name, NoSelect: n.NoSelect, HasChildren: n.HasChildren}
	}
	return out, err
}

func (x imapRouter) SplitLogin(login string) (string, bool, error) {
	user, _, ok, err := x.r.s.ParseLogin(login)
	return user, ok, err
}

func (x imapRouter) SessionSource(ctx context.Context, acct uint64, login string) (imap.Source, []imap.ListedMailbox, error) {
	src, names, err := x.r.SessionAt(ctx, acct, login)
	if err != nil {
		return nil, nil, err
	}
	out := make([]imap.ListedMailbox, len(names))
	for i, n := range names {
		out[i] = imap.ListedMailbox{Name: n.Name, NoSelect: n.NoSelect, HasChildren: n.HasChildren}
	}
	return src, out, nil
}

var (
	_ imap.LoginRouter  = imapRouter{}
	_ imap.SourceRouter = imapRouter{}
	_ imap.SourceLister = imapRouter{}
)

// serveIMAP starts the IMAP server over the rig's engine with the view
// routed beside the live account, on 127.0.0.1:0.
func serveIMAP(t *testing.T, r *oracle.Rig, svc *Service) string {
	t.Helper()
	srv := imap.NewServer(r.Eng, &imap.Options{AllowInsecureAuth: true, Logger: oracle.Quiet, Sources: imapRouter{svc.Router()}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func login(t *testing.T, addr, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "pw").Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// fetchAll selects name and fetches every message's UID, flags, internal
// date and bytes, in sequence order, as the oracle's messages.
func fetchAll(t *testing.T, c *imapclient.Client, name string) ([]oracle.Msg, []goimap.UID, *goimap.SelectData) {
	t.Helper()
	sel, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", name, err)
	}
	if sel.NumMessages == 0 {
		return []oracle.Msg{}, nil, sel
	}
	var all goimap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &goimap.FetchOptions{UID: true, Flags: true, InternalDate: true,
		BodySection: []*goimap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", name, err)
	}
	var out []oracle.Msg
	var uids []goimap.UID
	for _, m := range msgs {
		var body []byte
		for _, b := range m.BodySection {
			body = b.Bytes
		}
		var fl []string
		for _, f := range m.Flags {
			if f != `\Recent` {
				fl = append(fl, string(f))
			}
		}
		sort.Strings(fl)
		out = append(out, oracle.Msg{Sum: sha256.Sum256(body), Flags: fmt.Sprint(fl), Fl: fl, Date: m.InternalDate.UnixNano()})
		uids = append(uids, m.UID)
	}
	return out, uids, sel
}

// rawSelect logs in and selects name over a raw connection and returns
// the tagged answer of the SELECT.
func rawSelect(t *testing.T, addr, user, name string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	tagged := func(tag string) string {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if strings.HasPrefix(line, tag+" ") {
				return strings.TrimSpace(line)
			}
		}
	}
	br.ReadString('\n') // greeting
	fmt.Fprintf(conn, "a LOGIN %s pw\r\n", user)
	if l := tagged("a"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("login: %s", l)
	}
	fmt.Fprintf(conn, "b SELECT %q\r\n", name)
	return tagged("b")
}

// TestIMAPViewMatchesOracle drives the view through a real IMAP client:
// folders at random times equal the oracle's state (order, flags, dates,
// bytes; internal dates at the second IMAP gives them), SELECT is
// READ-ONLY, UIDs and UIDVALIDITY are the same in a second session,
// every change is refused with NO [CANNOT], SEARCH works, and COPY
// restores into a live folder.
func TestIMAPViewMatchesOracle(t *testing.T) {
	r := oracle.NewRig(t, vfs.NewMem(), "i", nil)
	h := &oracle.History{R: r, Rnd: rand.New(rand.NewPCG(31, 4))}
	h.Run("src@example.org", 80, false)
	r.Sync()
	r.Clk.Advance(2 * time.Second)
	svc := service(r, nil)
	addr := serveIMAP(t, r, svc)
	c1 := login(t, addr, "src@example.org")
	c2 := login(t, addr, "src@example.org")
	compared := 0
	for _, at := range h.Times(12) {
		want, ok := h.At(at)
		if !ok {
			continue
		}
		for path, wmsgs := range want {
			name := "Backup/" + at.UTC().Format(time.RFC3339Nano) + "/" + path
			got, uids, sel := fetchAll(t, c1, name)
			w := make([]oracle.Msg, len(wmsgs))
			for i, m := range wmsgs {
				m.Date = time.Unix(0, m.Date).Truncate(time.Second).UnixNano()
				w[i] = m
			}
			if d := oracle.Diff(oracle.Mailbox{path: w}, oracle.Mailbox{path: got}); d != "" {
				t.Fatalf("at %s: %s", stamp(at), d)
			}
			_, uids2, sel2 := fetchAll(t, c2, name)
			if sel2.UIDValidity != sel.UIDValidity || !slices.Equal(uids, uids2) {
				t.Fatalf("%s: second session uidvalidity %d/%d, uids %v/%v", name, sel.UIDValidity, sel2.UIDValidity, uids, uids2)
			}
			compared += len(got)
		}
	}
	if compared == 0 {
		t.Fatal("nothing compared")
	}
	// NAMESPACE shows the view as a shared namespace; LIST shows the
	// prefix, Deleted and the days, and each day's folders at its end.
	ns, err := c1.Namespace().Wait()
	if err != nil || len(ns.Shared) != 1 || ns.Shared[0].Prefix != "Backup/" {
		t.Fatalf("NAMESPACE: %+v %v", ns, err)
	}
	day := h.Snaps[len(h.Snaps)-1].At.UTC().Format("2006-01-02")
	listed := func(pattern string) map[string][]goimap.MailboxAttr {
		t.Helper()
		l, err := c1.List("", pattern, nil).Collect()
		if err != nil {
			t.Fatalf("LIST %s: %v", pattern, err)
		}
		out := map[string][]goimap.MailboxAttr{}
		for _, d := range l {
			out[d.Mailbox] = d.Attrs
		}
		return out
	}
	top := listed("Backup/%")
	if _, ok := top["Backup/Deleted"]; !ok || !slices.Contains(top["Backup/"+day], goimap.MailboxAttrNoSelect) || len(top) != 2 {
		t.Fatalf("LIST Backup/%%: %v", top)
	}
	all := listed("*")
	for path := range h.Snaps[len(h.Snaps)-1].Box {
		if _, ok := all["Backup/"+day+"/"+path]; !ok {
			t.Fatalf("LIST * lacks Backup/%s/%s: %v", day, path, all)
		}
		if _, ok := all[path]; !ok {
			t.Fatalf("LIST * lacks the live %s", path)
		}
	}
	if _, ok := listed("INBOX")["Backup"]; ok {
		t.Fatal("LIST INBOX listed the view")
	}
	// STATUS of a view folder: its own counts and UIDVALIDITY.
	stName := "Backup/" + h.Snaps[len(h.Snaps)-1].At.UTC().Format(time.RFC3339Nano) + "/INBOX"
	st, err := c2.Status(stName, &goimap.StatusOptions{NumMessages: true, UIDValidity: true, UIDNext: true, NumUnseen: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS %s: %v", stName, err)
	}
	_, stUIDs, stSel := fetchAll(t, c2, stName)
	if *st.NumMessages != uint32(len(stUIDs)) || st.UIDValidity != stSel.UIDValidity || st.UIDNext != stSel.UIDNext || st.NumUnseen == nil {
		t.Fatalf("STATUS %s: %+v, SELECT %+v", stName, st, stSel)
	}
	// SELECT of a view folder answers [READ-ONLY] (as the raw protocol
	// shows it: the client library does not expose the code).
	if line := rawSelect(t, addr, "src@example.org", "Backup/"+h.Snaps[len(h.Snaps)-1].At.UTC().Format(time.RFC3339Nano)+"/INBOX"); !strings.Contains(line, "[READ-ONLY]") {
		t.Fatalf("SELECT of the view answered %q", line)
	}
	// Changes are refused; SEARCH and COPY work.
	last := h.Snaps[len(h.Snaps)-1]
	name := "Backup/" + last.At.UTC().Format(time.RFC3339Nano) + "/INBOX"
	_, uids, _ := fetchAll(t, c1, name)
	if len(uids) == 0 {
		t.Skip("INBOX empty at the end of this history")
	}
	one := goimap.UIDSetNum(uids[0])
	cannot := func(what string, err error) {
		t.Helper()
		var ie *goimap.Error
		if !errors.As(err, &ie) || ie.Type != goimap.StatusResponseTypeNo || ie.Code != goimap.ResponseCodeCannot {
			t.Errorf("%s on the view: %v, want NO [CANNOT]", what, err)
		}
	}
	cannot("STORE", c1.Store(one, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}}, nil).Close())
	_, err = c1.UIDExpunge(one).Collect()
	cannot("UID EXPUNGE", err)
	_, err = c1.Expunge().Collect()
	cannot("EXPUNGE", err)
	s, err := c1.UIDSearch(&goimap.SearchCriteria{}, nil).Wait()
	if err != nil || len(s.AllUIDs()) != len(uids) {
		t.Fatalf("UID SEARCH ALL: %v %v", s, err)
	}
	before := oracle.Dump(t, r.Eng, h.Acct)
	if _, err := c1.Copy(one, "INBOX").Wait(); err != nil {
		t.Fatalf("COPY from the view: %v", err)
	}
	after := oracle.Dump(t, r.Eng, h.Acct)
	if len(after["INBOX"]) != len(before["INBOX"])+1 {
		t.Fatalf("INBOX had %d, has %d after COPY", len(before["INBOX"]), len(after["INBOX"]))
	}
	got, _, _ := fetchAll(t, c1, name)
	if after["INBOX"][len(after["INBOX"])-1].Sum != got[0].Sum {
		t.Fatal("COPY restored other bytes")
	}
	// MOVE out of the view copies: the view keeps the message.
	if _, err := c1.Move(one, "INBOX").Wait(); err != nil {
		t.Fatalf("MOVE from the view: %v", err)
	}
	if n := len(oracle.Dump(t, r.Eng, h.Acct)["INBOX"]); n != len(before["INBOX"])+2 {
		t.Fatalf("INBOX has %d after COPY and MOVE, had %d", n, len(before["INBOX"]))
	}
	if again, _, _ := fetchAll(t, c1, name); len(again) != len(got) {
		t.Fatalf("MOVE took the message out of the view: %d, was %d", len(again), len(got))
	}
	// Another account's user sees none of this account's view.
	_, err = r.Eng.CreateAccount(ctx, engineSpec("other@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	r.Sync()
	c3 := login(t, addr, "other@example.org")
	if _, err := c3.Select(name, nil).Wait(); err == nil {
		t.Fatal("another account selected a time before it existed")
	}
	if _, err := c1.Select("Backup/1999-01-01/INBOX", nil).Wait(); err == nil {
		t.Fatal("a day before the account existed was selected")
	}
}
