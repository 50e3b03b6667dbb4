package importer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readMbox parses an mbox file with the reader the import uses.
func readMbox(t *testing.T, path string, q Quoting) ([][]byte, error) {
	src := &Mbox{Path: path, Quoting: q, MaxMessageSize: 1 << 20}
	rd, err := src.Open(context.Background(), Folder{Name: filepath.Base(path)}, Cursor{})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out [][]byte
	for {
		m, err := rd.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if m.Err != nil {
			return out, m.Err
		}
		out = append(out, m.Body)
	}
}

// FuzzMboxRoundTrip: messages written as mboxrd come back byte for byte,
// whatever "From " and ">From " lines they hold. The input is split into
// messages at NUL bytes; each message gets a final line ending (mbox
// framing cannot carry a message without one).
func FuzzMboxRoundTrip(f *testing.F) {
	f.Add([]byte("Subject: a\n\nFrom here\n>From there\n\x00From: b\n\n>>From x\n\n"))
	f.Add([]byte("\x00\x00\r\n\r\nFrom Tue Mar  2 10:00:00 2021\n"))
	f.Add([]byte("From a Tue Mar  2 10:00:00 2021\nx\n\nFrom b Tue Mar  2 10:00:00 2021\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := bytes.Split(data, []byte{0})
		if len(parts) > 8 {
			parts = parts[:8]
		}
		var msgs [][]byte
		var dates []time.Time
		for _, p := range parts {
			if len(p) == 0 || p[len(p)-1] != '\n' {
				p = append(p, '\n')
			}
			msgs = append(msgs, p)
			dates = append(dates, time.Date(2021, 3, 2, 10, 0, 0, 0, time.UTC))
		}
		path := filepath.Join(t.TempDir(), "f.mbox")
		writeMbox(t, path, msgs, dates, MboxRD)
		got, err := readMbox(t, path, MboxRD)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(msgs) {
			t.Fatalf("%d messages back, wrote %d", len(got), len(msgs))
		}
		for i := range msgs {
			if !bytes.Equal(got[i], msgs[i]) {
				t.Fatalf("message %d: got %q, wrote %q", i, got[i], msgs[i])
			}
		}
	})
}

// FuzzMboxParse: any bytes after a "From " line parse without a panic,
// and every byte of the file is accounted for by some message or framing.
func FuzzMboxParse(f *testing.F) {
	f.Add([]byte("x\n"))
	f.Add([]byte("\n\nFrom  \n>From\r\nFrom a 12:00 2021\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.mbox")
		file := append([]byte("From a Tue Mar  2 10:00:00 2021\n"), data...)
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		msgs, err := readMbox(t, path, MboxRD)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			n += len(m)
		}
		if len(msgs) == 0 || n > len(file) {
			t.Fatalf("%d messages, %d bytes from a %d-byte file", len(msgs), n, len(file))
		}
	})
}

// FuzzDecodeMUTF7: any name decodes or is refused, without a panic.
func FuzzDecodeMUTF7(f *testing.F) {
	for _, s := range []string{"Entw&APw-rfe", "&-", "&AGEAYgBj-", "&", "&Jjo-!", "&2D3eAA-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = decodeMUTF7(s)
	})
}

func TestDecodeMUTF7(t *testing.T) {
	for in, want := range map[string]string{"Entw&APw-rfe": "Entwürfe", "a&-b": "a&b", "plain": "plain", "&ZeVnLIqe-": "日本語"} {
		if got, err := decodeMUTF7(in); err != nil || got != want {
			t.Errorf("decodeMUTF7(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"&", "&AGE", "&A-"} {
		if _, err := decodeMUTF7(bad); err == nil {
			t.Errorf("decodeMUTF7(%q) accepted", bad)
		}
	}
}
