package importer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/testcorpus"
)

// writeMbox writes msgs as an mbox with the given quoting: every message
// gets a "From " line with its date and ends with an empty line.
func writeMbox(t *testing.T, path string, msgs [][]byte, dates []time.Time, q Quoting) {
	t.Helper()
	var b bytes.Buffer
	for i, m := range msgs {
		b.WriteString("From MAILER-DAEMON " + dates[i].UTC().Format("Mon Jan _2 15:04:05 2006") + "\n")
		for _, l := range bytes.SplitAfter(m, []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			if n := quoteDepth(l); bytes.HasPrefix(l, []byte("From ")) || q == MboxRD && n > 0 {
				b.WriteByte('>')
			}
			b.Write(l)
		}
		b.WriteString("\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMboxCorpus imports corpus messages (most spam messages begin with a
// "From " line of their own, and bodies hold ">From " lines) from an
// mboxrd file, byte for byte with the "From " line dates; an mboxo file of
// the messages that format can carry; growth of the file imports only the
// new message; a rewritten file is read again without duplicates.
func TestMboxCorpus(t *testing.T) {
	var msgs [][]byte
	var dates []time.Time
	var quotedFrom int
	start := time.Date(2002, 7, 1, 9, 30, 0, 0, time.UTC)
	for _, a := range []string{"spamassassin-spam.tar.zst", "spamassassin-easy-ham-2.tar.zst"} {
		for _, f := range testcorpus.Realistic(t, a) {
			if !bytes.HasSuffix(f.Data, []byte("\n")) {
				continue // mbox framing adds a line ending to such a message
			}
			if bytes.HasPrefix(f.Data, []byte("From ")) || bytes.Contains(f.Data, []byte("\nFrom ")) || bytes.Contains(f.Data, []byte("\n>From ")) {
				quotedFrom++
			}
			msgs = append(msgs, f.Data)
			dates = append(dates, start.Add(time.Duration(len(dates))*time.Second))
		}
	}
	if quotedFrom < 100 {
		t.Fatalf("only %d messages with From lines to quote; the test needs them", quotedFrom)
	}
	dir := t.TempDir()
	r := newRig(t)
	rd := filepath.Join(dir, "archive.mbox")
	writeMbox(t, rd, msgs, dates, MboxRD)
	rep := mustRun(t, r, &Mbox{Path: rd, Folder: "Archive/spamassassin"})
	if rep.Imported != int64(len(msgs)) || rep.Failed != 0 {
		t.Fatalf("mboxrd: %d imported, %d failed, want %d\n%s", rep.Imported, rep.Failed, len(msgs), rep)
	}
	exp := make([]want, len(msgs))
	for i := range msgs {
		exp[i] = want{body: msgs[i], date: dates[i]}
	}
	checkFolder(t, r, "Archive/spamassassin", exp)

	// mboxo: a body line that began ">From " cannot be carried; the others
	// come back exact.
	var oMsgs [][]byte
	var oWant []want
	for i, m := range msgs {
		if !bytes.Contains(m, []byte("\n>From ")) && !bytes.HasPrefix(m, []byte(">From ")) {
			oMsgs = append(oMsgs, m)
			oWant = append(oWant, want{body: m, date: dates[i]})
		}
	}
	o := filepath.Join(dir, "o", "inbox")
	writeMbox(t, o, oMsgs, dates, MboxO)
	rep = mustRun(t, r, &Mbox{Path: o, Quoting: MboxO})
	if rep.Imported != int64(len(oMsgs)) {
		t.Fatalf("mboxo: %d imported, want %d\n%s", rep.Imported, len(oMsgs), rep)
	}
	checkFolder(t, r, "INBOX", oWant)

	// Growth: one message appended by an MDA.
	extra := []byte("From: late@example.net\nSubject: late\n\nFrom the desk of\n>From quoted\n")
	later := start.Add(24 * time.Hour)
	f, err := os.OpenFile(rd, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("From late@example.net " + later.Format("Mon Jan _2 15:04:05 2006") + "\n" +
		"From: late@example.net\nSubject: late\n\n>From the desk of\n>>From quoted\n\n")
	f.Close()
	rep = mustRun(t, r, &Mbox{Path: rd, Folder: "Archive/spamassassin"})
	if rep.Imported != 1 || rep.Skipped != 0 {
		t.Fatalf("appended mbox: %d imported, %d skipped, want 1 imported\n%s", rep.Imported, rep.Skipped, rep)
	}
	exp = append(exp, want{body: extra, date: later})
	checkFolder(t, r, "Archive/spamassassin", exp)

	// Rewritten (the first message deleted by a mail client): read again,
	// every message found in the folder, nothing imported twice.
	writeMbox(t, rd, append(msgs[1:len(msgs):len(msgs)], extra), append(dates[1:len(dates):len(dates)], later), MboxRD)
	rep = mustRun(t, r, &Mbox{Path: rd, Folder: "Archive/spamassassin"})
	if rep.Imported != 0 || rep.Skipped != int64(len(msgs)) {
		t.Fatalf("rewritten mbox: %d imported, %d skipped, want 0 and %d\n%s", rep.Imported, rep.Skipped, len(msgs), rep)
	}
	checkFolder(t, r, "Archive/spamassassin", exp)
}

// TestMboxFlagsAndFraming checks Status/X-Status/X-Keywords, "From " lines
// in bodies that are not separators, CRLF files and the date fallbacks.
func TestMboxFlagsAndFraming(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	mbox := "From alice@example.org Tue Mar  2 10:00:00 2021\n" +
		"Subject: one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1, work\n\nbody\n\nFrom here on, it is a body line.\n\n" +
		"From bob@example.org Wed Mar  3 11:30:15 +0100 2021\n" +
		"Subject: two\nX-Status: DT\n\n>>From deep\n>From one\n\n" +
		"From nobody Thu 4 Mar 08:00 2021\n" +
		"Subject: three\nDate: Thu, 04 Mar 2021 08:00:00 +0000\n\nno From date\n"
	p := filepath.Join(dir, "Lists.sbd", "work.mbx")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Lists.msf"), []byte("not an mbox"), 0o600); err != nil {
		t.Fatal(err)
	}
	crlf := strings.ReplaceAll("From x@example.org Fri Mar  5 07:00:00 2021\nSubject: crlf\n\nline\n\nFrom x@example.org Fri Mar  5 07:01:00 2021\nSubject: crlf 2\n\nline 2\n\n", "\n", "\r\n")
	if err := os.WriteFile(filepath.Join(dir, "crlf"), []byte(crlf), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, r, &Mbox{Path: dir, Folder: "Old"})
	if rep.Imported != 5 {
		t.Fatalf("%d imported, want 5\n%s", rep.Imported, rep)
	}
	day := func(d, h, m, s int) time.Time { return time.Date(2021, 3, d, h, m, s, 0, time.UTC) }
	checkFolder(t, r, "Old/Lists/work", []want{
		{body: []byte("Subject: one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1, work\n\nbody\n\nFrom here on, it is a body line.\n"),
			flags: `$Label1 \Answered \Flagged \Seen work`, date: day(2, 10, 0, 0)},
		{body: []byte("Subject: two\nX-Status: DT\n\n>From deep\nFrom one\n"), flags: `\Deleted \Draft`, date: day(3, 10, 30, 15)},
		{body: []byte("Subject: three\nDate: Thu, 04 Mar 2021 08:00:00 +0000\n\nno From date\n"), date: day(4, 8, 0, 0)},
	})
	checkFolder(t, r, "Old/crlf", []want{
		{body: []byte("Subject: crlf\r\n\r\nline\r\n"), date: day(5, 7, 0, 0)},
		{body: []byte("Subject: crlf 2\r\n\r\nline 2\r\n"), date: day(5, 7, 1, 0)},
	})
}

// TestMboxMalformedCorpus imports the corpus's odd mbox files (MimeKit
// parser cases, Dovecot imaptest mailboxes): every file is read to its end
// and nothing is dropped on the way.
func TestMboxMalformedCorpus(t *testing.T) {
	dir := filepath.Join(testcorpus.Root(t), "malformed", "mbox")
	r := newRig(t)
	rep, err := Run(context.Background(), r.eng, &Mbox{Path: dir, Folder: "mbox"}, r.options())
	if err != nil {
		t.Fatalf("import: %v\n%s", err, rep)
	}
	if rep.Imported == 0 || rep.Failed != 0 {
		t.Fatalf("%d imported, %d failed\n%s", rep.Imported, rep.Failed, rep)
	}
	t.Logf("%d files, %d messages", len(rep.Folders), rep.Imported)
}

// TestMboxSizeLimit: a message exactly at the size limit keeps every byte
// (the framing empty line after it crossing the limit once cut its last
// byte), and a message with an endless line is reported too large without
// being held, the next one still imported.
func TestMboxSizeLimit(t *testing.T) {
	const max = 64
	atLimit := []byte("Subject: exactly at the limit\n\n" + strings.Repeat("y", max-32) + "\n")
	if len(atLimit) != max {
		t.Fatalf("test message is %d bytes", len(atLimit))
	}
	long := "Subject: long\n\n" + strings.Repeat("z", 1<<20) + "\n"
	after := []byte("Subject: after\n\nok\n")
	mbox := "From a Tue Mar  2 10:00:00 2021\n" + string(atLimit) + "\n" +
		"From b Tue Mar  2 10:01:00 2021\n" + long + "\n" +
		"From c Tue Mar  2 10:02:00 2021\n" + string(after) + "\n"
	p := filepath.Join(t.TempDir(), "limit.mbox")
	if err := os.WriteFile(p, []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	o := r.options()
	o.MaxMessageSize = max
	rep, err := Run(context.Background(), r.eng, &Mbox{Path: p, MaxMessageSize: max}, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 2 || rep.Failed != 1 || !strings.Contains(rep.Failures[0].Reason, "too large") {
		t.Fatalf("%d imported, %d failed, want 2 and 1 too large\n%s", rep.Imported, rep.Failed, rep)
	}
	checkFolder(t, r, "limit", []want{
		{body: atLimit, date: time.Date(2021, 3, 2, 10, 0, 0, 0, time.UTC)},
		{body: after, date: time.Date(2021, 3, 2, 10, 2, 0, 0, time.UTC)},
	})
}
