package imap

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestTruncatedAppendStoresNothing: a client announces {1000+}, sends 92
// bytes and disconnects. The end of the stream used to be taken as the end
// of the message and a 92-byte message was stored; the declared size must
// be received whole or nothing is stored.
func TestTruncatedAppendStoresNothing(t *testing.T) {
	// One session per account: a new login succeeds only once the
	// truncated session has ended, so the check below runs after the
	// server has done whatever it does with the literal.
	env := newEnv(t, &Options{AllowInsecureAuth: true, MaxConnsPerAccount: 1})
	env.account("alice@example.com", 0)
	for _, sync := range []bool{false, true} {
		// The check session of the round before may still hold the
		// account's one session for a moment after its close.
		var r *rawConn
		for deadline := time.Now().Add(10 * time.Second); ; {
			r = env.raw()
			l := r.cmd("LOGIN alice@example.com %s", testPassword)
			if strings.Contains(l[len(l)-1], "OK") {
				break
			}
			r.c.Close()
			if !strings.Contains(l[len(l)-1], "[LIMIT]") || time.Now().After(deadline) {
				t.Fatalf("login: %q", l)
			}
			time.Sleep(10 * time.Millisecond)
		}
		part := bytes.Repeat([]byte("x"), 92)
		copy(part, "Subject: cut\r\n\r\n")
		if sync {
			fmt.Fprintf(r.c, "A1 APPEND INBOX {1000}\r\n")
			if l := r.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("no continuation: %q", l)
			}
		} else {
			fmt.Fprintf(r.c, "A1 APPEND INBOX {1000+}\r\n")
		}
		if _, err := r.c.Write(part); err != nil {
			t.Fatal(err)
		}
		r.c.Close()

		var c interface {
			Close() error
		}
		for c == nil {
			cl := env.dial(nil)
			if err := cl.Login("alice@example.com", testPassword).Wait(); err == nil {
				c = cl
				st, err := cl.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
				if err != nil {
					t.Fatal(err)
				}
				if *st.NumMessages != 0 {
					t.Fatalf("sync=%v: %d messages stored from a truncated APPEND", sync, *st.NumMessages)
				}
			} else if imapCode(err) != imap.ResponseCodeLimit {
				t.Fatalf("login: %v", err)
			}
			cl.Close()
		}
	}
}

// TestAppendEmptyMessage: APPEND INBOX {0+} is a valid, empty message.
func TestAppendEmptyMessage(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	if l := r.cmd("APPEND INBOX {0+}\r\n"); !strings.Contains(l[len(l)-1], "OK") {
		t.Fatalf("APPEND {0+}: %q", l)
	}
	r.cmd("SELECT INBOX")
	l := r.cmd("FETCH 1 (RFC822.SIZE BODY.PEEK[])")
	if !strings.Contains(strings.Join(l, ""), `RFC822.SIZE 0`) || !strings.Contains(l[len(l)-1], " OK") {
		t.Fatalf("FETCH of the empty message: %q", l)
	}
}
