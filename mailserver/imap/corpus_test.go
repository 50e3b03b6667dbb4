package imap

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// corpusDir finds the malformed-mail corpus: TIDEMARK_CORPUS (the corpus
// root), else the shared corpus beside the checkout. It skips (or fails,
// with TIDEMARK_REQUIRE_CORPUS=1) when there is none.
func corpusDir(t *testing.T) string {
	root := os.Getenv("TIDEMARK_CORPUS")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	dir := filepath.Join(root, "malformed")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("TIDEMARK_REQUIRE_CORPUS") == "1" {
			t.Fatalf("malformed corpus required but not found at %s: %v", dir, err)
		}
		t.Skipf("malformed corpus not found at %s (set TIDEMARK_CORPUS to the corpus root): %v", dir, err)
	}
	return dir
}

// crlf normalises line endings as IMAP requires: every LF not preceded by
// CR becomes CRLF; a lone CR is kept.
func crlf(msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/32)
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(c)
	}
	return b.Bytes()
}

// TestMalformedCorpus appends every malformed .eml, reads each back with
// FETCH BODY[] byte for byte, and makes the server parse it (ENVELOPE,
// BODYSTRUCTURE, BODY[1], BINARY[1], HEADER/TEXT) without losing the
// session.
func TestMalformedCorpus(t *testing.T) {
	dir := corpusDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .eml files in %s: %v", dir, err)
	}
	if testing.Short() {
		files = files[:min(len(files), 60)]
	}
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	want := make(map[imap.UID][]byte)
	names := make(map[imap.UID]string)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg := crlf(raw)
		if len(msg) == 0 {
			continue
		}
		d := appendMsg(t, c, "INBOX", msg, nil)
		want[d.UID] = msg
		names[d.UID] = filepath.Base(f)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	for uid, msg := range want {
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
			UID: true, RFC822Size: true, Envelope: true,
			BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
			BodySection:   []*imap.FetchItemBodySection{whole, header, text, {Part: []int{1}, Peek: true}},
		}).Collect()
		if err != nil {
			t.Fatalf("%s: fetch: %v", names[uid], err)
		}
		if len(msgs) != 1 {
			t.Fatalf("%s: fetched %d messages", names[uid], len(msgs))
		}
		m := msgs[0]
		// An ordinary literal cannot carry NUL: BODY[] sends it as 0x80
		// (encoder.literal); BINARY[] gives the stored bytes exactly.
		wire := bytes.ReplaceAll(msg, []byte{0}, []byte{0x80})
		if !bytes.Equal(m.FindBodySection(whole), wire) {
			t.Errorf("%s: BODY[] differs from the appended message (%d vs %d bytes)", names[uid], len(m.FindBodySection(whole)), len(msg))
		}
		if bytes.IndexByte(msg, 0) >= 0 {
			r := env.raw()
			r.cmd("LOGIN alice@example.com %s", testPassword)
			r.cmd("EXAMINE INBOX")
			out := strings.Join(r.cmd("UID FETCH %d (BINARY.PEEK[])", uid), "")
			if !strings.Contains(out, fmt.Sprintf("BINARY[] ~{%d}\r\n", len(msg))+string(msg)) {
				t.Errorf("%s: BINARY[] is not the stored message as literal8: %.200q", names[uid], out)
			}
		}
		if got := string(m.FindBodySection(header)) + string(m.FindBodySection(text)); got != string(wire) {
			t.Errorf("%s: BODY[HEADER]+BODY[TEXT] differs from BODY[]", names[uid])
		}
		if m.RFC822Size != int64(len(msg)) {
			t.Errorf("%s: RFC822.SIZE %d, want %d", names[uid], m.RFC822Size, len(msg))
		}
		// BINARY decodes; a transfer encoding nobody knows (x-uuencode,
		// x-gzip64) is NO [UNKNOWN-CTE] as RFC 3516 says, nothing else.
		_, err = c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
			BinarySection:     []*imap.FetchItemBinarySection{{Part: []int{1}, Peek: true}},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{1}}},
		}).Collect()
		if err != nil && imapCode(err) != imap.ResponseCodeUnknownCTE {
			t.Errorf("%s: BINARY[1]: %v", names[uid], err)
		}
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("session lost after the corpus: %v", err)
	}
	other := env.login("alice@example.com", nil)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("server not serving new sessions: %v", err)
	}
	t.Logf("%d malformed messages round-tripped", len(want))
}
