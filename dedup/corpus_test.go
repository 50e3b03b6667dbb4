package dedup

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/internal/testcorpus"
)

// loadCorpus returns the messages of one realistic corpus archive, or
// skips the test when the corpus is not on this machine.
func loadCorpus(tb testing.TB, name string) [][]byte {
	tb.Helper()
	files := testcorpus.Realistic(tb, name)
	msgs := make([][]byte, len(files))
	for i, f := range files {
		msgs[i] = f.Data
	}
	return msgs
}

func TestCorpusRoundTrip(t *testing.T) {
	msgs := loadCorpus(t, "spamassassin-spam.tar.zst")
	var raw, framed int
	seen := map[Digest]bool{}
	for _, m := range msgs {
		f := Encode(m, DefaultThreshold)
		got, err := Decode(f)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("round trip of a %d-byte message: %v", len(m), err)
		}
		if Sum(got) != Sum(m) {
			t.Fatal("digest changed")
		}
		seen[Sum(m)] = true
		raw += len(m)
		framed += len(f)
	}
	if framed >= raw {
		t.Fatalf("framing did not save space on mail: %d raw, %d framed", raw, framed)
	}
	t.Logf("%d messages (%d distinct), %d bytes raw, %d framed (%.1f%%)", len(msgs), len(seen), raw, framed, 100*float64(framed)/float64(raw))
}

var (
	benchOnce sync.Once
	benchMsgs [][]byte
)

// benchCorpus is the linux-security-module archive: plain-text list mail,
// median 6.8 KB, the bulk of a typical mailbox.
func benchCorpus(b *testing.B) [][]byte {
	benchOnce.Do(func() { benchMsgs = loadCorpus(b, "linux-security-module-2020H1.tar.zst") })
	if benchMsgs == nil {
		b.Skip("realistic mail corpus not available")
	}
	return benchMsgs
}

func totalSize(msgs [][]byte) int64 {
	var n int64
	for _, m := range msgs {
		n += int64(len(m))
	}
	return n
}

func BenchmarkEncode(b *testing.B) {
	msgs := benchCorpus(b)
	for _, threshold := range []int{DefaultThreshold, 0} {
		b.Run(fmt.Sprintf("threshold=%d", threshold), func(b *testing.B) {
			b.SetBytes(totalSize(msgs))
			var out int64
			for b.Loop() {
				out = 0
				for _, m := range msgs {
					out += int64(len(Encode(m, threshold)))
				}
			}
			b.ReportMetric(float64(out)/float64(totalSize(msgs)), "ratio")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	msgs := benchCorpus(b)
	framed := make([][]byte, len(msgs))
	for i, m := range msgs {
		framed[i] = Encode(m, DefaultThreshold)
	}
	b.SetBytes(totalSize(msgs))
	for b.Loop() {
		for _, f := range framed {
			if _, err := Decode(f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkEncodeParallel(b *testing.B) {
	msgs := benchCorpus(b)
	b.SetBytes(totalSize(msgs) / int64(len(msgs)))
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			Encode(msgs[i%len(msgs)], DefaultThreshold)
			i++
		}
	})
}

func BenchmarkSum(b *testing.B) {
	msgs := benchCorpus(b)
	b.SetBytes(totalSize(msgs))
	for b.Loop() {
		for _, m := range msgs {
			Sum(m)
		}
	}
}
