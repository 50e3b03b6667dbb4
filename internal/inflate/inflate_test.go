package inflate

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"
)

// TestPartialFlush: two commands, each followed by zlib's Z_PARTIAL_FLUSH
// (as isync/mbsync sends them, produced by Python's zlib with wbits -15),
// come out of the reader as soon as their bytes are in, while the stream
// stays open. compress/flate holds them back.
func TestPartialFlush(t *testing.T) {
	parts := []string{"4a3454f073f4750d0e707476e5e50208", "a04423053f7fff005e2e8000"}
	want := []string{"a1 NAMESPACE\r\n", "a2 NOOP\r\n"}
	pr, pw := io.Pipe()
	defer pw.Close()
	r := NewReader(pr)
	for i, p := range parts {
		b, _ := hex.DecodeString(p)
		go pw.Write(b)
		got := make([]byte, len(want[i]))
		done := make(chan error, 1)
		go func() { _, err := io.ReadFull(r, got); done <- err }()
		select {
		case err := <-done:
			if err != nil || string(got) != want[i] {
				t.Fatalf("part %d: %q, %v", i, got, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("part %d never came out of the decompressor", i)
		}
	}
}

// TestRoundTrip: whole streams written by compress/flate at every level
// decompress to what was written.
func TestRoundTrip(t *testing.T) {
	text := []byte(strings.Repeat("Subject: hello\r\nbody of a message 0123456789\r\n", 3000))
	for level := flate.HuffmanOnly; level <= flate.BestCompression; level++ {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, level)
		w.Write(text[:len(text)/2])
		w.Flush()
		w.Write(text[len(text)/2:])
		w.Close()
		got, err := io.ReadAll(NewReader(&buf))
		if err != nil || !bytes.Equal(got, text) {
			t.Fatalf("level %d: %d bytes, %v", level, len(got), err)
		}
	}
}
