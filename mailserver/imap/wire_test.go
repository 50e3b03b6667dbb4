package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestUnknownCommandBeforeLogin: an unknown command gets BAD in every
// state and the session goes on (it used to be BAD and a disconnect
// before authentication, which broke clients probing for extensions).
func TestUnknownCommandBeforeLogin(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	wantOnly(t, "unknown", r.cmd("XYZZY foo"), "T1 BAD")
	wantOnly(t, "UID of a command without one", r.cmd("UID NOOP"), "T2 BAD")
	wantOnly(t, "SELECT before login", r.cmd("SELECT INBOX"), "T3 BAD")
	lastOK(t, "login after unknown", r.cmd("LOGIN alice@example.com %s", testPassword))
	wantOnly(t, "unknown after login", r.cmd("XYZZY"), "T5 BAD")
	wantOnly(t, "noop", r.cmd("NOOP"), "T6 OK")
}

// TestPreAuthLiterals: before authentication a synchronising literal
// larger than preAuthLiteral, and any literal of a command not valid yet
// (APPEND), gets no continuation; a small one does.
func TestPreAuthLiterals(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	wantOnly(t, "unauthenticated APPEND", r.send("A1", "A1 APPEND INBOX {20}\r\n"), "A1 BAD")
	wantOnly(t, "large LOGIN literal", r.send("A2", "A2 LOGIN {2000}\r\n"), "A2 BAD [TOOBIG]")
	if _, err := r.c.Write([]byte("A3 LOGIN {17}\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("small LOGIN literal: %q, want a continuation", l)
	}
	lastOK(t, "login with literal", r.send("A3", "alice@example.com "+testPassword+"\r\n"))
}

// parseCommand runs the decoder over one command the way the dispatcher
// does, without a session: tag, name, and the argument grammar of the
// commands whose arguments are structured.
func parseCommand(d *decoder) error {
	if _, err := d.tag(); err != nil {
		return err
	}
	if err := d.sp(); err != nil {
		return err
	}
	name, err := d.atom()
	if err != nil {
		return err
	}
	uid := false
	if strings.EqualFold(name, "UID") {
		uid = true
		if err := d.sp(); err != nil {
			return err
		}
		if name, err = d.atom(); err != nil {
			return err
		}
	}
	switch strings.ToUpper(name) {
	case "SEARCH":
		if err := d.sp(); err != nil {
			return err
		}
		if _, err := d.searchReturn(&imap.SearchOptions{}); err != nil {
			return err
		}
		_, err := d.searchCriteria()
		return err
	case "FETCH":
		if err := d.sp(); err != nil {
			return err
		}
		if _, err := d.numSet(uid); err != nil {
			return err
		}
		if err := d.sp(); err != nil {
			return err
		}
		return d.fetchItems(&fetchRequest{})
	case "LOGIN":
		for i := 0; i < 2; i++ {
			if err := d.sp(); err != nil {
				return err
			}
			if _, err := d.astring(); err != nil {
				return err
			}
		}
		return d.end()
	case "APPEND":
		if err := d.sp(); err != nil {
			return err
		}
		if _, err := d.astring(); err != nil {
			return err
		}
		if err := d.sp(); err != nil {
			return err
		}
		if _, err := d.flagList(); err != nil {
			return err
		}
		if err := d.sp(); err != nil {
			return err
		}
		_, err := d.dateTime()
		return err
	}
	return d.end()
}

// FuzzParser: the command decoder never panics or loops on any input,
// keeps its nesting within maxNesting, consumes only what it was given,
// and after a syntax error discardCommand resynchronises at a line end.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"a LOGIN alice \"pw\\\"x\"\r\n",
		"a LOGIN {5+}\r\nalice {2}\r\npw\r\n",
		"a SEARCH RETURN (MIN MAX SAVE) CHARSET UTF-8 OR (FROM x SUBJECT {3+}\r\nabc) NOT 1:*,$ SINCE 1-Feb-2024\r\n",
		"a UID SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 UNKEYWORD $x HEADER X-Y \"\"\r\n",
		"a FETCH 1:* (UID FLAGS BODY.PEEK[1.2.HEADER.FIELDS (A B)]<0.10> BINARY[1]<5.5> BINARY.SIZE[2] MODSEQ) (CHANGEDSINCE 12 VANISHED)\r\n",
		"a FETCH 2,4:* ALL\r\n",
		"a APPEND INBOX (\\Seen $x) \" 2-Jan-2006 15:04:05 +0000\" ~{3}\r\nabc\r\n",
		"a SEARCH " + strings.Repeat("NOT ", 40) + "ALL\r\n",
		"a SEARCH " + strings.Repeat("(", 40) + "ALL" + strings.Repeat(")", 40) + "\r\n",
		"* BAD\r\n",
		"0 SEARCH CHARSET 00\r\n1 NOOP\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			r := bufio.NewReader(bytes.NewReader(in))
			d := newDecoder(r, func() error { return nil })
			for i := 0; i < 64; i++ {
				d.lineDone, d.refused, d.depth = false, false, 0
				err := parseCommand(d)
				if d.depth != 0 {
					t.Errorf("depth %d after a command", d.depth)
					return
				}
				if err == nil {
					continue
				}
				// A command refused while it is read (an unknown
				// SEARCH charset: NO [BADCHARSET]) is discarded like
				// a malformed one.
				var refusal *imap.Error
				if !isSyntax(err) && !(errors.As(err, &refusal) && refusal.Code == imap.ResponseCodeBadCharset) {
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("non-syntax error %v", err)
					}
					return
				}
				if err := d.discardCommand(); err != nil {
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("decoder hangs on %q", in)
		}
	})
}
