package lmtp

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/internal/testcorpus"
)

// toWire returns msg as the protocol carries it: every LF not preceded by
// CR becomes CRLF, and a final CRLF is added when the message does not end
// with one (DATA ends with CRLF "." CRLF, so the last line always gets
// one). A lone CR is kept.
func toWire(msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/32 + 2)
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(c)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// sendWire writes DATA content that is already CRLF (from toWire),
// dot-stuffing lines that begin with '.', and the terminating line.
func (cl *client) sendWire(wire []byte) {
	cl.t.Helper()
	w := bufio.NewWriter(cl.c)
	for line := range bytes.SplitAfterSeq(wire, []byte("\r\n")) {
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		cl.t.Fatal(err)
	}
}

// TestCorpusMalformed delivers every message of the malformed corpus (and
// every mbox file there, as one message each) over one LMTP connection and
// reads each back through the engine byte for byte: the stored message is
// the Return-Path and Delivered-To lines followed by exactly the bytes that
// crossed the wire. The server must still answer a new connection.
func TestCorpusMalformed(t *testing.T) {
	files := testcorpus.Malformed(t, true)
	if testing.Short() && len(files) > 60 {
		files = files[:60]
	}

	e := openEngine(t, nil)
	id := createAccount(t, e, "corpus@example.com", event.StatusActive, 0)
	_, addr := startServer(t, e, nil)
	cl := dial(t, addr)
	cl.lhlo()
	const prefix = "Return-Path: <sender@example.org>\r\nDelivered-To: corpus@example.com\r\n"
	var wires [][]byte
	for _, f := range files {
		wire := toWire(f.Data)
		wires = append(wires, wire)
		cl.send("MAIL FROM:<sender@example.org>", "RCPT TO:<corpus@example.com>", "DATA")
		cl.expect(250, "")
		cl.expect(250, "")
		cl.expect(354, "")
		cl.sendWire(wire)
		if code, msg := cl.reply(); code != 250 {
			t.Fatalf("%s: %d %s", f.Name, code, msg)
		}
	}
	items, bodies := inbox(t, e, id)
	if len(items) != len(files) {
		t.Fatalf("%d items stored for %d messages", len(items), len(files))
	}
	for i, f := range files {
		want := append([]byte(prefix), wires[i]...)
		if !bytes.Equal(bodies[i], want) {
			t.Errorf("%s: stored %d bytes differ from the %d sent", f.Name, len(bodies[i]), len(want))
		}
		if items[i].Size != int64(len(want)) {
			t.Errorf("%s: item size %d, want %d", f.Name, items[i].Size, len(want))
		}
	}
	cl.send("QUIT")
	cl.expect(221, "")

	again := dial(t, addr)
	again.lhlo()
}
