package lmtp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/engine/event"
)

const testMsg = "From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello.\r\n.leading dot\r\n"

func TestCapabilities(t *testing.T) {
	_, addr := startServer(t, newMemBackend(), &Options{MaxMessageSize: 4096, MaxRecipients: 7})
	cl := dial(t, addr)
	caps := cl.lhlo()
	for _, want := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 4096", "LIMITS RCPTMAX=7"} {
		if !slices.Contains(caps, want) {
			t.Errorf("LHLO capabilities %q lack %q", caps, want)
		}
	}
	cl.send("EHLO client.test")
	cl.expect(500, "5.5.1")
	cl.send("QUIT")
	cl.expect(221, "")
}

// TestMixedTransaction sends one pipelined transaction with a delivered
// recipient, an unknown one (refused at RCPT), an over-quota one (refused
// at DATA), an alias of the first and a closed and a maintenance account,
// and checks every reply line.
func TestMixedTransaction(t *testing.T) {
	b := newMemBackend()
	ok := b.add("ok@example.com", event.StatusActive, 0, "alias@example.com")
	full := b.add("full@example.com", event.StatusActive, 10)
	b.add("closed@example.com", event.StatusClosed, 0)
	b.add("maint@example.com", event.StatusMaintenance, 0)
	locked := b.add("locked@example.com", event.StatusLocked, 0)
	_, addr := startServer(t, b, nil)

	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<sender@example.org> SIZE=80",
		"RCPT TO:<OK@Example.COM>",
		"RCPT TO:<nobody@example.com>",
		"RCPT TO:<full@example.com>",
		"RCPT TO:<closed@example.com>",
		"RCPT TO:<maint@example.com>",
		"RCPT TO:<alias@example.com>",
		"RCPT TO:<locked@example.com>",
		"DATA")
	cl.expect(250, "2.0.0")
	cl.expect(250, "2.0.0")
	cl.expect(550, "5.1.1")
	cl.expect(250, "2.0.0")
	cl.expect(550, "5.2.1")
	cl.expect(450, "4.2.1")
	cl.expect(250, "2.0.0")
	cl.expect(250, "2.0.0")
	cl.expect(354, "")
	cl.sendBody(testMsg)
	cl.expectRcpt("OK@Example.COM", 250, "2.0.0")
	cl.expectRcpt("full@example.com", 552, "5.2.2")
	cl.expectRcpt("alias@example.com", 250, "2.0.0")
	cl.expectRcpt("locked@example.com", 250, "2.0.0")

	// The account named twice (address and alias) got one copy.
	want := "Return-Path: <sender@example.org>\r\n" + testMsg
	for _, id := range []uint64{ok, locked} {
		got := b.messages(id)
		if len(got) != 1 || string(got[0]) != want {
			t.Fatalf("account %d holds %q, want one %q", id, got, want)
		}
	}
	if got := b.messages(full); len(got) != 0 {
		t.Fatalf("over-quota account holds %d messages", len(got))
	}
	if len(b.blobs) != 1 {
		t.Fatalf("%d distinct blobs stored, want 1", len(b.blobs))
	}

	// The session goes on after the transaction.
	cl.send("MAIL FROM:<>", "RCPT TO:<ok@example.com>", "DATA")
	cl.expect(250, "2.0.0")
	cl.expect(250, "2.0.0")
	cl.expect(354, "")
	cl.sendBody("Subject: bounce\r\n\r\nbody\r\n")
	cl.expectRcpt("ok@example.com", 250, "2.0.0")
	got := b.messages(ok)
	if len(got) != 2 || string(got[1]) != "Return-Path: <>\r\nDelivered-To: ok@example.com\r\nSubject: bounce\r\n\r\nbody\r\n" {
		t.Fatalf("second message stored as %q", got[len(got)-1])
	}
}

func TestSizeLimit(t *testing.T) {
	b := newMemBackend()
	id := b.add("u@example.com", event.StatusActive, 0)
	_, addr := startServer(t, b, &Options{MaxMessageSize: 1000})
	cl := dial(t, addr)
	cl.lhlo()

	cl.send("MAIL FROM:<s@example.org> SIZE=1001")
	cl.expect(552, "5.3.4")

	// No SIZE given: refused while reading DATA, and the session survives.
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>", "DATA")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(354, "")
	cl.sendBody("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 30))
	cl.expectRcpt("u@example.com", 552, "5.3.4")
	if n := len(b.messages(id)); n != 0 {
		t.Fatalf("%d messages stored after a refused one", n)
	}

	// One byte over the limit is refused, one byte under is stored.
	over := strings.Repeat(strings.Repeat("o", 98)+"\r\n", 10)[:999] + "\r\n"
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(over)
	cl.expectRcpt("u@example.com", 552, "5.3.4")
	under := over[:997] + "\r\n"
	cl.send("MAIL FROM:<s@example.org> SIZE=999", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(under)
	cl.expectRcpt("u@example.com", 250, "2.0.0")
	if got := b.messages(id); len(got) != 1 || !strings.HasSuffix(string(got[0]), under) {
		t.Fatalf("stored %d messages, want the 999-byte one", len(got))
	}

	// A smaller message with a SIZE= goes through too.
	body := "Subject: small\r\n\r\n" + strings.Repeat("y", 900) + "\r\n"
	cl.send("MAIL FROM:<s@example.org> SIZE="+fmt.Sprint(len(body)), "RCPT TO:<u@example.com>", "DATA")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(354, "")
	cl.sendBody(body)
	cl.expectRcpt("u@example.com", 250, "2.0.0")
	if got := b.messages(id); len(got) != 2 || !strings.HasSuffix(string(got[1]), body) {
		t.Fatalf("stored %d messages", len(got))
	}
}

func TestUnknownAndBadRecipients(t *testing.T) {
	b := newMemBackend()
	b.add("u@example.com", event.StatusActive, 0)
	_, addr := startServer(t, b, nil)
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>")
	cl.expect(250, "")
	cl.send("RCPT TO:<x@example.com>")
	cl.expect(550, "5.1.1")
	cl.send("RCPT TO:<u@[127.0.0.1]>")
	cl.expect(501, "5.1.3")
	cl.send("RCPT TO:<u@exa..mple.com>")
	cl.expect(501, "5.1.3")
	cl.send("RCPT TO:<" + strings.Repeat("l", 65) + "@example.com>")
	cl.expect(501, "5.1.3")
	// No valid recipient: DATA is refused before any data is sent.
	cl.send("DATA")
	cl.expect(502, "5.5.1")
	cl.send("MAIL FROM:<s\x01x@example.org>")
	cl.expect(501, "5.1.7")
}

// TestStorageFailure: a Deliver that fails answers 451 4.3.0 for every
// recipient, leaks no internal text and stores nothing; the next
// transaction on the same connection succeeds.
func TestStorageFailure(t *testing.T) {
	b := newMemBackend()
	u := b.add("u@example.com", event.StatusActive, 0)
	v := b.add("v@example.com", event.StatusActive, 0)
	_, addr := startServer(t, b, nil)
	b.failDeliver(errors.New("pebble: disk on fire /var/secret"))

	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>", "RCPT TO:<v@example.com>", "DATA")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(354, "")
	cl.sendBody(testMsg)
	for _, r := range []string{"u@example.com", "v@example.com"} {
		_, msg := cl.reply()
		if !strings.HasPrefix(msg, "4.3.0 <"+r+">") || strings.Contains(msg, "fire") || strings.Contains(msg, "pebble") {
			t.Fatalf("reply for %s: %q", r, msg)
		}
	}
	if len(b.messages(u))+len(b.messages(v)) != 0 {
		t.Fatal("a failed delivery stored something")
	}
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>", "DATA")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(354, "")
	cl.sendBody(testMsg)
	cl.expectRcpt("u@example.com", 250, "2.0.0")
}

// TestStatusChangeBeforeData: an account closed or put in maintenance
// between RCPT and DATA gets the status reply from the delivery result.
func TestStatusChangeBeforeData(t *testing.T) {
	b := newMemBackend()
	c := b.add("c@example.com", event.StatusActive, 0)
	m := b.add("m@example.com", event.StatusActive, 0)
	_, addr := startServer(t, b, nil)
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<c@example.com>", "RCPT TO:<m@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(250, "")
	b.setStatus(c, event.StatusClosed)
	b.setStatus(m, event.StatusMaintenance)
	cl.data(testMsg)
	cl.expectRcpt("c@example.com", 550, "5.2.1")
	cl.expectRcpt("m@example.com", 450, "4.2.1")
}

func TestSubaddress(t *testing.T) {
	b := newMemBackend()
	u := b.add("user@example.com", event.StatusActive, 0)
	b.add("user+exact@example.com", event.StatusActive, 0)
	_, addr := startServer(t, b, &Options{RecipientDelimiter: "+"})
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<user+lists@example.com>", "DATA")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(354, "")
	cl.sendBody(testMsg)
	cl.expectRcpt("user+lists@example.com", 250, "2.0.0")
	got := b.messages(u)
	if len(got) != 1 || !strings.Contains(string(got[0]), "Delivered-To: user+lists@example.com\r\n") {
		t.Fatalf("subaddressed delivery stored %q", got)
	}

	_, addr2 := startServer(t, b, nil)
	cl2 := dial(t, addr2)
	cl2.lhlo()
	cl2.send("MAIL FROM:<s@example.org>", "RCPT TO:<user+lists@example.com>")
	cl2.expect(250, "")
	cl2.expect(550, "5.1.1")
}

// TestRecipientLimit: RCPT beyond MaxRecipients gets 452 4.5.3 and the
// accepted ones are delivered.
func TestRecipientLimit(t *testing.T) {
	b := newMemBackend()
	var ids []uint64
	for i := range 3 {
		ids = append(ids, b.add(fmt.Sprintf("u%d@example.com", i), event.StatusActive, 0))
	}
	_, addr := startServer(t, b, &Options{MaxRecipients: 2})
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u0@example.com>", "RCPT TO:<u1@example.com>", "RCPT TO:<u2@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(452, "4.5.3")
	cl.data(testMsg)
	cl.expectRcpt("u0@example.com", 250, "2.0.0")
	cl.expectRcpt("u1@example.com", 250, "2.0.0")
	if len(b.messages(ids[2])) != 0 || len(b.messages(ids[0])) != 1 {
		t.Fatal("recipient limit not applied")
	}
}

// TestLongLines: lines far beyond RFC 5321's 1000 bytes are stored as they
// came; a line beyond MaxLineLength is refused permanently and only that
// connection ends.
func TestLongLines(t *testing.T) {
	b := newMemBackend()
	id := b.add("u@example.com", event.StatusActive, 0)
	_, addr := startServer(t, b, &Options{MaxLineLength: 4096})
	cl := dial(t, addr)
	cl.lhlo()
	long := "Subject: long\r\n\r\n" + strings.Repeat("a", 4000) + "\r\n"
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(long)
	cl.expectRcpt("u@example.com", 250, "2.0.0")
	if got := b.messages(id); len(got) != 1 || !strings.HasSuffix(string(got[0]), long) {
		t.Fatal("long-line message not stored as sent")
	}

	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data("Subject: too long\r\n\r\n" + strings.Repeat("a", 5000) + "\r\n")
	cl.expectRcpt("u@example.com", 554, "5.6.0")
	if n := len(b.messages(id)); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	cl2 := dial(t, addr)
	cl2.lhlo()
}
