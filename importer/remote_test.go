package importer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/internal/dovecottest"
	"github.com/tidemark/tidemark/internal/testcorpus"
)

// filler appends messages to the Dovecot under test and remembers what it
// appended, per folder, in UID order.
type filler struct {
	t      *testing.T
	c      *imapclient.Client
	msgs   [][]byte
	next   int
	folder map[string][]want
}

func newFiller(t *testing.T, s *dovecottest.Server) *filler {
	t.Helper()
	c, err := imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for _, f := range testcorpus.Realistic(t, "spamassassin-easy-ham-2.tar.zst") {
		msgs = append(msgs, testcorpus.CRLF(f.Data))
	}
	return &filler{t: t, c: c, msgs: msgs, folder: map[string][]want{}}
}

var remoteFlags = [][]imap.Flag{nil, {imap.FlagSeen}, {imap.FlagSeen, imap.FlagAnswered}, {imap.FlagFlagged, "$Junk"},
	{imap.FlagDraft, "project-x"}, {imap.FlagDeleted, imap.FlagSeen}}

// add appends n corpus messages to folder (created when new).
func (f *filler) add(folder string, n int) {
	f.t.Helper()
	if _, ok := f.folder[folder]; !ok && folder != "INBOX" {
		if err := f.c.Create(folder, nil).Wait(); err != nil {
			f.t.Fatalf("create %s: %v", folder, err)
		}
	}
	for i := 0; i < n; i++ {
		body := f.msgs[f.next%len(f.msgs)]
		flags := remoteFlags[f.next%len(remoteFlags)]
		date := time.Date(2002, 8, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(f.next) * time.Hour)
		f.next++
		cmd := f.c.Append(folder, int64(len(body)), &imap.AppendOptions{Flags: flags, Time: date})
		if _, err := cmd.Write(body); err != nil {
			f.t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			f.t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			f.t.Fatalf("append to %s: %v", folder, err)
		}
		var fs []string
		for _, fl := range flags {
			fs = append(fs, string(fl))
		}
		f.folder[folder] = append(f.folder[folder], want{body: body, flags: flagString(fs), date: date})
	}
}

func remoteOf(s *dovecottest.Server, starttls bool) *Remote {
	r := &Remote{Addr: s.Addr, TLS: true, TLSConfig: s.TLSConfig(), User: s.User, Password: s.Password, Timeout: 10 * time.Second}
	if starttls {
		r.Addr, r.TLS = s.PlainAddr, false
	}
	return r
}

// TestRemoteDovecot imports from a real Dovecot with folders (nested, a
// special-use one, a non-ASCII name), flags, keywords and dates, then
// imports again after new deliveries and gets only those.
func TestRemoteDovecot(t *testing.T) {
	s := dovecottest.Start(t)
	f := newFiller(t, s)
	f.add("INBOX", 40)
	f.add("Sent", 12)
	f.add("Archive", 5)
	f.add("Archive/2002", 30)
	f.add("Entwürfe", 7)
	r := newRig(t)

	rep := mustRun(t, r, remoteOf(s, false))
	if rep.Imported != 94 || rep.Failed != 0 {
		t.Fatalf("first run: %d imported, %d failed, want 94\n%s", rep.Imported, rep.Failed, rep)
	}
	for folder, exp := range f.folder {
		checkFolder(t, r, folder, exp)
	}
	sent, err := r.eng.FolderByPath(context.Background(), r.acct, "Sent")
	if err != nil || sent.SpecialUse != `\Sent` {
		t.Fatalf("Sent: %+v %v, want special use \\Sent", sent, err)
	}

	f.add("INBOX", 5)
	f.add("Archive/2002", 2)
	rep = mustRun(t, r, remoteOf(s, true))
	if rep.Imported != 7 || rep.Skipped != 0 || rep.Failed != 0 {
		t.Fatalf("second run: %d imported, %d skipped, %d failed, want 7 imported\n%s", rep.Imported, rep.Skipped, rep.Failed, rep)
	}
	for folder, exp := range f.folder {
		checkFolder(t, r, folder, exp)
	}

	// Only the folders asked for.
	f.add("Sent", 1)
	f.add("INBOX", 1)
	src := remoteOf(s, false)
	src.Only = []string{"Sent"}
	rep = mustRun(t, r, src)
	if rep.Imported != 1 || len(rep.Folders) != 1 {
		t.Fatalf("--folders Sent: %d imported from %d folders\n%s", rep.Imported, len(rep.Folders), rep)
	}
	checkFolder(t, r, "Sent", f.folder["Sent"])
}

// TestRemoteOutage kills Dovecot in the middle of an import: the import
// stops with an error and keeps what it committed, and the rerun after the
// server is back completes the folder with no message twice.
func TestRemoteOutage(t *testing.T) {
	s := dovecottest.Start(t)
	f := newFiller(t, s)
	f.add("INBOX", 3)
	f.add("Bulk", 400)
	r := newRig(t)

	o := r.options()
	o.BatchMessages = 10
	o.ProgressEvery = time.Nanosecond
	var once sync.Once
	o.Progress = ProgressFunc(func(st Status) {
		if st.Imported >= 60 {
			once.Do(s.Kill)
		}
	})
	src := remoteOf(s, false)
	src.FetchMessages = 25
	src.Timeout = 5 * time.Second
	rep, err := Run(context.Background(), r.eng, src, o)
	src.Close()
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("import through an outage: err %v, want ErrStopped\n%s", err, rep)
	}
	if rep.Imported < 60 || rep.Imported >= 403 || rep.Stopped == "" {
		t.Fatalf("stopped import: %d imported, stopped %q", rep.Imported, rep.Stopped)
	}
	t.Logf("stopped after %d messages: %s", rep.Imported, rep.Stopped)

	s.Restart(t)
	rep2 := mustRun(t, r, remoteOf(s, false))
	if rep.Imported+rep2.Imported != 403 {
		t.Fatalf("rerun: %d imported, %d skipped after %d before; want 403 in all\n%s", rep2.Imported, rep2.Skipped, rep.Imported, rep2)
	}
	checkFolder(t, r, "INBOX", f.folder["INBOX"])
	checkFolder(t, r, "Bulk", f.folder["Bulk"])
}
