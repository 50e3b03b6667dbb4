package imap

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkBulkFetch: FETCH 1:* BODY.PEEK[] of 2,000 messages of about
// 14 KB (the realistic corpus's mean size), server and client in one
// process over 127.0.0.1; MB/s counts message bytes. The end-to-end
// comparison with Dovecot is bench/imap (docs/BENCHMARKS.md, IMAP).
//
//	go test ./mailserver/imap -run '^$' -bench BulkFetch -benchmem
func BenchmarkBulkFetch(b *testing.B) {
	s := newBenchServer(b)
	rnd := rand.New(rand.NewPCG(7, 7))
	words := strings.Fields("the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no what can more will out up into do")
	var total int64
	for i := range 2000 {
		var body strings.Builder
		for body.Len() < 8000+rnd.IntN(12000) {
			body.WriteString(words[rnd.IntN(len(words))])
			if rnd.IntN(12) == 0 {
				body.WriteString("\r\n")
			} else {
				body.WriteByte(' ')
			}
		}
		msg := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: alice@example.com\r\nSubject: message %d\r\nDate: Thu, 3 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%d@example.org>\r\n\r\n%s\r\n", i, i, i, i, body.String())
		s.appendMsg("INBOX", []byte(msg))
		total += int64(len(msg))
	}
	s.ok("EXAMINE INBOX")
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.ok("FETCH 1:* BODY.PEEK[]")
	}
}
