package testcorpus

import (
	"bytes"
	"testing"
)

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":           "",
		"a\nb\n":     "a\r\nb\r\n",
		"a\r\nb\n":   "a\r\nb\r\n",
		"\n\n":       "\r\n\r\n",
		"no newline": "no newline",
	} {
		if got := CRLF([]byte(in)); !bytes.Equal(got, []byte(want)) {
			t.Errorf("CRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCorpus(t *testing.T) {
	if n := len(Malformed(t, false)); n < 100 {
		t.Fatalf("only %d malformed messages", n)
	}
	msgs := Realistic(t, "spamassassin-spam.tar.zst")
	if len(msgs) != 500 {
		t.Fatalf("spam archive: %d messages, want 500", len(msgs))
	}
	for _, m := range msgs {
		if len(m.Data) == 0 {
			t.Fatalf("%s is empty", m.Name)
		}
	}
}
