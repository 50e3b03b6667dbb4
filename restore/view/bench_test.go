package view

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/mailserver/imap"
	"github.com/tidemark/tidemark/restore/internal/oracle"
)

// benchMessage is a plausible message of about 2-8 KiB.
func benchMessage(rnd *rand.Rand, i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <sender%d@example.net>\r\nReceived: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n\tby mail.example.org with LMTP id %08x; Mon, 30 Nov 2026 10:%02d:%02d +0000\r\n",
		i%97, i%7, i%7, i%250, rnd.Uint32(), i%60, (i/60)%60)
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.net>\r\nTo: Alice <alice@example.org>\r\nSubject: Quarterly report part %d of the %s project\r\n", i%97, i%97, i, []string{"north", "south", "east", "west"}[i%4])
	fmt.Fprintf(&b, "Date: Mon, 30 Nov 2026 10:%02d:%02d +0000\r\nMessage-ID: <%d.%x@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i%60, (i/60)%60, i, rnd.Uint64())
	n := 2048 + rnd.IntN(6144)
	for b.Len() < n {
		fmt.Fprintf(&b, "Line %d of message %d: figures %d, %d, %d and a remark about the schedule.\r\n", b.Len(), i, rnd.IntN(1e6), rnd.IntN(1e6), rnd.IntN(1e6))
	}
	return b.Bytes()
}

// headerOf reads a message up to its blank line, as FETCH BODY.PEEK[HEADER]
// needs.
func headerOf(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 4096)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if err != nil || len(line) <= 2 {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
	}
}

// BenchmarkDayFolder opens a 10,000-message folder of a day and reads every
// message's header, from the view (cold: a new service, so the snapshot is
// read from the catalog; warm: the snapshot cached) and from the live
// mailbox; it reports the memory an open snapshot holds per message.
// Engine, catalog and repository on local disk.
func BenchmarkDayFolder(b *testing.B) {
	dir := b.TempDir()
	repo, err := localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
	if err != nil {
		b.Fatal(err)
	}
	r := oracle.NewRig(b, vfs.Default, dir, repo)
	acct, err := r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "alice@example.org", Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	inbox, err := r.Eng.FolderByPath(ctx, acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	archive, err := r.Eng.CreateFolder(ctx, acct.ID, "Archive", "")
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	fill := func(folder uint64, n, base int) {
		for i := 0; i < n; i += 500 {
			var msgs []engine.NewMessage
			for j := i; j < min(n, i+500); j++ {
				msgs = append(msgs, engine.NewMessage{Body: benchMessage(rnd, base+j), Flags: []string{`\Seen`}, InternalDate: r.Clk.Now()})
			}
			r.Clk.Advance(time.Second)
			if _, errs := r.Eng.AppendMany(ctx, acct.ID, folder, msgs, event.AddAppended); errs != nil {
				for _, e := range errs {
					if e != nil {
						b.Fatal(e)
					}
				}
			}
		}
	}
	const n = 10_000
	fill(inbox.ID, n, 0)
	fill(archive.ID, 2_000, n)
	r.Sync()
	r.Clk.Advance(time.Hour)
	at := r.Clk.Now()
	items, err := r.Eng.ListItems(ctx, acct.ID, inbox.ID)
	if err != nil || len(items) != n {
		b.Fatalf("%d items: %v", len(items), err)
	}
	readView := func(b *testing.B, a *Account) {
		box, err := a.Open(ctx, at, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		if len(box.Messages) != n {
			b.Fatalf("%d messages", len(box.Messages))
		}
		for _, m := range box.Messages {
			rc, err := a.ReadMessage(ctx, m)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := headerOf(rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	}
	b.Run("live", func(b *testing.B) {
		for b.Loop() {
			items, err := r.Eng.ListItems(ctx, acct.ID, inbox.ID)
			if err != nil || len(items) != n {
				b.Fatal(err)
			}
			for _, it := range items {
				rc, _, err := r.Eng.OpenBlob(ctx, acct.ID, it.ID)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := headerOf(rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		}
	})
	b.Run("view-cold", func(b *testing.B) {
		for b.Loop() {
			a, err := service(r, nil).Account(ctx, acct.ID)
			if err != nil {
				b.Fatal(err)
			}
			readView(b, a)
		}
	})
	svc := service(r, nil)
	warm, err := svc.Account(ctx, acct.ID)
	if err != nil {
		b.Fatal(err)
	}
	readView(b, warm)
	b.Run("view-warm", func(b *testing.B) {
		for b.Loop() {
			readView(b, warm)
		}
	})
	b.Run("view-open-only-cold", func(b *testing.B) {
		for b.Loop() {
			a, err := service(r, nil).Account(ctx, acct.ID)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := a.Open(ctx, at, "INBOX"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Through IMAP: a new server each op (cold: empty header cache and,
	// for the view, an empty snapshot cache), or one server and session
	// (warm); SELECT then UID FETCH 1:* BODY.PEEK[HEADER].
	imapRound := func(b *testing.B, c *imapclient.Client, name string) {
		sel, err := c.Select(name, nil).Wait()
		if err != nil || sel.NumMessages != n {
			b.Fatalf("select %s: %v %v", name, sel, err)
		}
		var all goimap.UIDSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{{Specifier: goimap.PartSpecifierHeader, Peek: true}}}).Collect()
		if err != nil || len(msgs) != n {
			b.Fatalf("fetch %s: %d %v", name, len(msgs), err)
		}
	}
	viewName := "Backup/" + at.UTC().Format(time.RFC3339Nano) + "/INBOX"
	for _, tc := range []struct{ name, box string }{{"imap-live", "INBOX"}, {"imap-view", viewName}} {
		b.Run(tc.name+"-cold", func(b *testing.B) {
			for b.Loop() {
				addr, stop := benchIMAP(b, r, service(r, nil))
				c := benchLogin(b, addr)
				imapRound(b, c, tc.box)
				c.Close()
				stop()
			}
		})
		b.Run(tc.name+"-warm", func(b *testing.B) {
			addr, stop := benchIMAP(b, r, service(r, nil))
			defer stop()
			c := benchLogin(b, addr)
			defer c.Close()
			imapRound(b, c, tc.box)
			for b.Loop() {
				imapRound(b, c, tc.box)
			}
		})
	}
	b.Run("memory", func(b *testing.B) {
		var held []*Mailbox
		for b.Loop() {
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			a, err := service(r, nil).Account(ctx, acct.ID)
			if err != nil {
				b.Fatal(err)
			}
			box, err := a.Open(ctx, at, "INBOX")
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			held = append(held[:0], box)
			b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/1e6, "MB/view")
			b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(n+2000), "B/msg")
		}
		runtime.KeepAlive(held)
	})
}

// benchIMAP starts an IMAP server over the rig with svc's view routed.
func benchIMAP(b *testing.B, r *oracle.Rig, svc *Service) (string, func()) {
	srv := imap.NewServer(r.Eng, &imap.Options{AllowInsecureAuth: true, Logger: oracle.Quiet, Sources: imapRouter{svc.Router()}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	return l.Addr().String(), func() { srv.Close() }
}

func benchLogin(b *testing.B, addr string) *imapclient.Client {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login("alice@example.org", "pw").Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}
