package lmtp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/engine/event"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestStoredReplyAndDeliveryLog: the final reply says the message is
// stored and where (not "queued"), and every recipient gets one log line
// with its size, result and the MTA's queue id from Received:.
func TestStoredReplyAndDeliveryLog(t *testing.T) {
	e := openEngine(t, nil)
	ok := createAccount(t, e, "ok@example.com", event.StatusActive, 0)
	createAccount(t, e, "full@example.com", event.StatusActive, 50)
	var logBuf syncBuffer
	_, addr := startServer(t, e, &Options{Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})

	body := "Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n" +
		"\tby mail.example.com (Postfix) with ESMTP id 4fQx1B2c3Dz\r\n" +
		"\tfor <ok@example.com>; Thu,  3 Dec 2026 06:00:00 +0000 (UTC)\r\n" +
		"Subject: hi\r\n\r\nbody\r\n"
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<sender@example.org>", "RCPT TO:<ok@example.com>", "RCPT TO:<nobody@example.com>",
		"RCPT TO:<full@example.com>")
	cl.expect(250, "2.0.0")
	cl.expect(250, "2.0.0")
	cl.expect(550, "5.1.1")
	cl.expect(250, "2.0.0")
	cl.data(body)
	msg := cl.expect(250, "2.0.0")
	items, _ := inbox(t, e, ok)
	if len(items) != 1 {
		t.Fatalf("%d items delivered", len(items))
	}
	want := fmt.Sprintf("<ok@example.com> Ok: stored as item %d, uid %d", items[0].ID, items[0].UID)
	if !strings.HasSuffix(msg, want) || strings.Contains(strings.ToLower(msg), "queued") {
		t.Fatalf("final reply %q, want it to end %q", msg, want)
	}
	cl.expectRcpt("full@example.com", 552, "5.2.2")

	byRcpt := map[string]map[string]any{}
	for _, l := range logBuf.lines(t) {
		if l["msg"] == "lmtp: delivery" {
			byRcpt[l["rcpt"].(string)] = l
		}
	}
	if len(byRcpt) != 3 {
		t.Fatalf("delivery lines for %d recipients, want 3: %v", len(byRcpt), byRcpt)
	}
	stored := byRcpt["ok@example.com"]
	size := len("Return-Path: <sender@example.org>\r\n") + len(body) // two accounts: no Delivered-To
	if stored["queue_id"] != "4fQx1B2c3Dz" || stored["result"] != "250 2.0.0 "+strings.TrimPrefix(want, "<ok@example.com> ") ||
		stored["size"] != float64(size) || int64(size) != items[0].Size {
		t.Errorf("stored line %v", stored)
	}
	if stored["from"] != "sender@example.org" || stored["level"] != "INFO" {
		t.Errorf("stored line %v", stored)
	}
	if r := byRcpt["nobody@example.com"]["result"]; r != "550 5.1.1 No such user here" {
		t.Errorf("unknown recipient line result %v", r)
	}
	if l := byRcpt["full@example.com"]; l["result"] != "552 5.2.2 Mailbox full" || l["queue_id"] != "4fQx1B2c3Dz" {
		t.Errorf("over-quota line %v", l)
	}
}

func TestReceivedQueueID(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"Received: from a (a [192.0.2.1])\r\n\tby b (Postfix) with ESMTP id 4fQx1B2c3Dz\r\n\tfor <x@y>; Thu, 3 Dec 2026\r\n\r\n", "4fQx1B2c3Dz"},
		{"received: by b (Postfix, from userid 0)\n id ABC123; Thu, 3 Dec 2026\n\n", "ABC123"},
		// The first Received: field only: the second came from elsewhere.
		{"Received: by b; Thu\r\nReceived: by c with ESMTP id OTHER; Thu\r\n\r\n", ""},
		{"Subject: x\r\nReceived: from a by b with SMTP id Q1;\r\n\r\nReceived: id BODY;\r\n", "Q1"},
		// After the header it is body text.
		{"Subject: x\r\n\r\nReceived: by b id BODY;\r\n", ""},
		{"Received: by b id " + strings.Repeat("A", 100) + ";\r\n\r\n", strings.Repeat("A", 64)},
		{"Received: by b id caf\xc3\xa9;\r\n\r\n", ""},
		{"Received: by b (comment with id in it; date)\r\n\r\n", ""},
		{"Received: from a (helo (nested) id NOT) by b id (x) REAL;\r\n\r\n", "REAL"},
		{"", ""},
	} {
		if got := receivedQueueID([]byte(tc.msg)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.msg, got, tc.want)
		}
	}
}
