package imap

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// The benchmarks below measure what one authenticated hostile request
// costs the server: a deeply nested message's BODYSTRUCTURE, a SEARCH
// OR-tree of TEXT terms at the key limit, and LIST over folders at the
// depth and a large count. Server and client run in one process over
// 127.0.0.1, so B/op and allocs/op include the server's allocations
// (and the client's, which are small). Figures are in docs/BENCHMARKS.md;
// nothing here asserts a time.
//
//	go test ./mailserver/imap -run '^$' -bench Hostile -benchmem

// benchServer is an engine in a temporary directory, an IMAP server on
// 127.0.0.1:0 and one logged-in raw connection to it.
type benchServer struct {
	b    *testing.B
	eng  *engine.Engine
	acct engine.Account
	c    net.Conn
	br   *bufio.Reader
	n    int
}

func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	eng, err := engine.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	ctx := context.Background()
	if err := eng.CreateDomain(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	acct, err := eng.CreateAccount(ctx, engine.AccountSpec{Address: "alice@example.com", Password: testPassword})
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(eng, &Options{AllowInsecureAuth: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	s := &benchServer{b: b, eng: eng, acct: acct, c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if _, err := s.br.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	s.ok("LOGIN alice@example.com " + testPassword)
	return s
}

// run sends one command and reads to its tagged reply, returning that
// reply and the bytes of the untagged data before it.
func (s *benchServer) run(cmd string) (tagged string, data int) {
	s.n++
	tag := fmt.Sprintf("B%d", s.n)
	s.c.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := io.WriteString(s.c, tag+" "+cmd+"\r\n"); err != nil {
		s.b.Fatal(err)
	}
	for {
		l, err := s.br.ReadString('\n')
		if err != nil {
			s.b.Fatalf("%s: %v", cmd[:min(len(cmd), 60)], err)
		}
		if strings.HasPrefix(l, tag+" ") {
			return l, data
		}
		data += len(l)
		// A literal: skip its bytes, the line goes on after it.
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}\r\n") {
			var n int64
			fmt.Sscanf(l[i+1:], "%d", &n)
			if _, err := io.CopyN(io.Discard, s.br, n); err != nil {
				s.b.Fatal(err)
			}
			data += int(n)
		}
	}
}

func (s *benchServer) ok(cmd string) int {
	l, n := s.run(cmd)
	if !strings.Contains(l, " OK") {
		s.b.Fatalf("%s: %q", cmd[:min(len(cmd), 60)], l)
	}
	return n
}

func (s *benchServer) appendMsg(folder string, msg []byte) {
	ctx := context.Background()
	f, err := s.eng.FolderByPath(ctx, s.acct.ID, folder)
	if err != nil {
		s.b.Fatal(err)
	}
	if _, err := s.eng.Append(ctx, s.acct.ID, f.ID, msg, nil, time.Now()); err != nil {
		s.b.Fatal(err)
	}
}

// BenchmarkHostileNestedBodystructure: FETCH BODYSTRUCTURE of a message
// of N nested message/rfc822 parts (32 bytes a level; 20,000 levels is
// the 640 KB message that used to exhaust memory). The cost should grow
// linearly with N, and the structure is cut at the depth limit.
func BenchmarkHostileNestedBodystructure(b *testing.B) {
	for _, levels := range []int{5000, 10000, 20000} {
		b.Run(fmt.Sprintf("levels=%d", levels), func(b *testing.B) {
			s := newBenchServer(b)
			msg := nestedRFC822(levels)
			s.appendMsg("INBOX", msg)
			s.ok("SELECT INBOX")
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.ok("FETCH 1 BODYSTRUCTURE")
			}
		})
	}
}

// BenchmarkHostileSearchORTree: SEARCH of a right-deep OR-tree of TEXT
// terms at the limit of BODY/TEXT keys in one SEARCH (32) over a folder
// of 1,000 messages of about 4 KB, none matching, so every term reads
// every message.
func BenchmarkHostileSearchORTree(b *testing.B) {
	s := newBenchServer(b)
	body := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 90)
	for i := range 1000 {
		s.appendMsg("INBOX", []byte(fmt.Sprintf("From: x%d@example.org\r\nSubject: message %d\r\n\r\n%s\r\n", i, i, body)))
	}
	s.ok("SELECT INBOX")
	var q strings.Builder
	for i := range 31 {
		fmt.Fprintf(&q, "OR TEXT nomatch%02d ", i)
	}
	q.WriteString("TEXT nomatch31")
	search := "SEARCH " + q.String()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.ok(search)
	}
	b.StopTimer()
	// One term more than the limit is refused before any work.
	var over strings.Builder
	for i := range 32 {
		fmt.Fprintf(&over, "OR TEXT nomatch%02d ", i)
	}
	over.WriteString("TEXT last")
	if l, _ := s.run("SEARCH " + over.String()); strings.Contains(l, " OK") {
		b.Fatalf("an OR-tree of 33 TEXT terms was run: %q", l)
	}
}

// BenchmarkHostileList: LIST "" "*" over a chain of folders at the depth
// limit (32 levels), and over 2,000 folders three levels deep.
func BenchmarkHostileList(b *testing.B) {
	b.Run("depth=32", func(b *testing.B) {
		s := newBenchServer(b)
		name := ""
		for i := range DefaultMaxFolderDepth {
			if i > 0 {
				name += "/"
			}
			name += fmt.Sprintf("level%02d", i)
		}
		s.ok(`CREATE "` + name + `"`)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			s.ok(`LIST "" "*"`)
		}
	})
	b.Run("folders=2000", func(b *testing.B) {
		s := newBenchServer(b)
		for i := range 2000 {
			s.ok(fmt.Sprintf(`CREATE "top%02d/mid%02d/leaf%d"`, i%20, (i/20)%10, i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			s.ok(`LIST "" "*"`)
		}
	})
}
