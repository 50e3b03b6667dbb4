package imap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// FuzzSplitMessage checks the header/body cut used for BODY[HEADER] and
// BODY[TEXT]: the parts always rebuild the message, the header ends at
// the first empty line, and the section code never panics.
func FuzzSplitMessage(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("no header end"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("A: b\n\nlf body"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			checkMessage(t, raw)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("message parsing hangs on %q", raw)
		}
	})
}

// checkMessage runs on its own goroutine, so it reports with Errorf.
func checkMessage(t *testing.T, raw []byte) {
	{
		h, b := splitMessage(raw)
		if !bytes.Equal(append(append([]byte{}, h...), b...), raw) {
			t.Errorf("header+body != raw")
			return
		}
		if len(b) > 0 && !bytes.HasSuffix(h, []byte("\n\n")) && !bytes.HasSuffix(h, []byte("\n\r\n")) && !bytes.Equal(h, []byte("\n")) && !bytes.Equal(h, []byte("\r\n")) {
			t.Errorf("body without an empty line ending the header: %q", h)
			return
		}
		for off := int64(0); off < 3; off++ {
			p := partial(raw, &imap.SectionPartial{Offset: off, Size: 5})
			if len(p) > 5 {
				t.Errorf("partial longer than asked")
				return
			}
		}
		m := &parsed{raw: raw}
		bodySection(m, &imap.FetchItemBodySection{Part: []int{1, 2}})
		bodySection(m, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}})
		bodySection(m, &imap.FetchItemBodySection{Part: []int{1}, Specifier: imap.PartSpecifierMIME})
		bodyStructure(m)
		envelope(raw)
		binarySection(m, []int{1}, nil)
	}
}

// FuzzNames checks the mailbox-name and flag mapping: INBOX is always
// canonical, paths never end with the delimiter, flags that pass
// validFlag are atoms the wire can carry.
func FuzzNames(f *testing.F) {
	f.Add("inbox/Sub", `\seen`)
	f.Add("Projects/", "$Label")
	f.Add("", `\`)
	f.Fuzz(func(t *testing.T, name, flag string) {
		p := mailboxPath(name)
		if strings.HasSuffix(p, "/") && !strings.HasSuffix(name, "//") {
			t.Fatalf("mailboxPath(%q) = %q ends with the delimiter", name, p)
		}
		if strings.EqualFold(name, "inbox") && p != "INBOX" {
			t.Fatalf("mailboxPath(%q) = %q", name, p)
		}
		if mailboxPath(p) != p {
			t.Fatalf("mailboxPath not idempotent on %q", name)
		}
		c := canonFlag(flag)
		if !strings.EqualFold(c, flag) {
			t.Fatalf("canonFlag changed more than case: %q -> %q", flag, c)
		}
		if validFlag(flag) {
			line := string(flagsLine([]imap.Flag{imap.Flag(flag)}))
			if strings.ContainsAny(line[9:len(line)-3], " ()\r\n\"") {
				t.Fatalf("flag %q breaks the FLAGS line %q", flag, line)
			}
		}
	})
}
