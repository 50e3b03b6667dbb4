package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentLargeAppendsMemory: 40 sessions each APPEND a 50 MB
// message at once over 127.0.0.1. Messages arrive into private spool files
// and reach the engine within a 256 MiB store budget, so the heap peak
// stays far below the 2 GB the bodies add up to (without the budget the
// heap grew by 3.5 GB: each body read back whole plus the engine's
// compressed copy). The peak is measured (sampled every 5 ms) and logged;
// the bound asserted is generous. TIDEMARK_APPEND_SESSIONS overrides the
// 40.
func TestConcurrentLargeAppendsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 GB; not in -short")
	}
	sessions := 40
	if v := os.Getenv("TIDEMARK_APPEND_SESSIONS"); v != "" {
		fmt.Sscan(v, &sessions)
	}
	const size = 50_000_000
	spool := t.TempDir()
	env := newEnv(t, &Options{AllowInsecureAuth: true, TempDir: spool, MaxConnsPerAccount: -1})
	env.account("alice@example.com", 0)

	line := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV\r\n"), 1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- bigAppend(env.addr, i, size, line)
		}(i)
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("%d concurrent APPENDs of %d bytes in %v: heap in use %d MB at start, peak +%d MB",
		sessions, size, time.Since(start).Round(time.Millisecond), base>>20, grew>>20)
	if grew > 1<<30 {
		t.Fatalf("heap grew by %d MB during %d concurrent %d-byte APPENDs", grew>>20, sessions, size)
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Fatalf("%d spool files left", len(left))
	}
}

func bigAppend(addr string, i, size int, line []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	br := bufio.NewReader(c)
	read := func(tag string) (string, error) {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return l, err
			}
			if strings.HasPrefix(l, tag+" ") {
				return l, nil
			}
		}
	}
	if _, err := br.ReadString('\n'); err != nil {
		return err
	}
	fmt.Fprintf(c, "a LOGIN alice@example.com %s\r\n", testPassword)
	if l, err := read("a"); err != nil || !strings.HasPrefix(l, "a OK") {
		return fmt.Errorf("session %d login: %q %v", i, l, err)
	}
	hdr := fmt.Sprintf("Subject: big %d\r\nMessage-ID: <big%d@example.com>\r\n\r\n", i, i)
	fmt.Fprintf(c, "b APPEND INBOX {%d+}\r\n", size)
	w := bufio.NewWriterSize(c, 64<<10)
	w.WriteString(hdr)
	for n := len(hdr); n < size; {
		k := min(len(line), size-n)
		w.Write(line[:k])
		n += k
	}
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if l, err := read("b"); err != nil || !strings.HasPrefix(l, "b OK") {
		return fmt.Errorf("session %d APPEND: %q %v", i, l, err)
	}
	return nil
}

// TestByteBudget: holders within the budget run together, one that does
// not fit waits for a release, and one larger than the whole budget runs
// alone instead of waiting forever.
func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	a := b.acquire(60)
	got := make(chan int64)
	go func() { got <- b.acquire(50) }()
	select {
	case <-got:
		t.Fatal("50 bytes granted while 60 of 100 are held")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(a)
	c := <-got
	b.release(c)
	big := b.acquire(500) // larger than the budget, nothing else held
	go func() { got <- b.acquire(1) }()
	select {
	case <-got:
		t.Fatal("1 byte granted while an over-budget holder runs")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(big)
	b.release(<-got)
	if b.used != 0 {
		t.Fatalf("%d bytes still counted after every release", b.used)
	}
}
